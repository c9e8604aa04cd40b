// Key set publication: a pointer swap plus a generation number that readers poll cheaply.
#include "auth/provider.h"

#include <utility>

namespace jwtgate::auth {

KeySetHolder::KeySetHolder(std::shared_ptr<const verifier::KeySet> initial) {
  const bool has_keys = initial != nullptr;
  current_.store(std::move(initial), std::memory_order_release);
  generation_.store(has_keys ? 1 : 0, std::memory_order_release);
}

void KeySetHolder::publish(std::shared_ptr<const verifier::KeySet> keys) {
  // The pointer first, then the generation: a reader that sees the new generation is sure
  // to load the new set (it may also load the new set with the old generation, and then
  // load it once more on its next request, which is harmless).
  current_.store(std::move(keys), std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

const verifier::KeySet* KeySetView::get(const KeySetHolder& holder, bool* changed) {
  const std::uint64_t generation = holder.generation();
  *changed = false;
  if (generation != generation_) {
    keys_ = holder.load();
    *changed = generation_ != 0;
    generation_ = generation;
  }
  return keys_.get();
}

}  // namespace jwtgate::auth

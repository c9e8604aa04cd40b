// The unknown-kid refetch cool-down and the memory of kids known to be unknown.
#include "jwks/refetch_gate.h"

#include <algorithm>

namespace jwtgate::jwks {
namespace {

// NOTE: longer kids are not remembered (they would let a flood pin megabytes); tokens naming
// them are still held to the provider's cool-down by the RefetchGate.
constexpr std::size_t kMaxRememberedKidBytes = 256;

}  // namespace

bool RefetchGate::tryClaim(std::uint64_t now_ms) {
  std::uint64_t next = next_allowed_ms_.load(std::memory_order_acquire);
  if (now_ms < next) {
    return false;
  }
  // Only the caller whose exchange succeeds wins; the others see the new deadline.
  return next_allowed_ms_.compare_exchange_strong(next, now_ms + cooldown_ms_,
                                                  std::memory_order_acq_rel);
}

UnknownKidMemory::UnknownKidMemory(std::chrono::milliseconds ttl, std::size_t capacity)
    : ttl_ms_(ttl.count() > 0 ? static_cast<std::uint64_t>(ttl.count()) : 0),
      capacity_(std::max<std::size_t>(capacity, 1)) {}

void UnknownKidMemory::remember(std::string_view kid, std::uint64_t now_ms) {
  dropExpired(now_ms);
  if (kid.size() > kMaxRememberedKidBytes || ttl_ms_ == 0) {
    return;
  }
  std::uint64_t expires = now_ms + ttl_ms_;
  auto [it, inserted] = expiry_.try_emplace(std::string(kid), expires);
  if (!inserted) {
    it->second = expires;
  }
  order_.push_back({std::string(kid), expires});

  // Over capacity: drop the oldest distinct kids.
  while (expiry_.size() > capacity_ && !order_.empty()) {
    Entry& oldest = order_.front();
    auto found = expiry_.find(oldest.kid);
    if (found != expiry_.end() && found->second == oldest.expires_ms) {
      expiry_.erase(found);
    }
    order_.pop_front();
  }
}

bool UnknownKidMemory::contains(std::string_view kid, std::uint64_t now_ms) {
  dropExpired(now_ms);
  if (kid.size() > kMaxRememberedKidBytes || expiry_.empty()) {
    return false;
  }
  // NOTE: a std::string key is built for the lookup; this path runs only for tokens whose
  // kid is missing from the key set, never in the steady state.
  return expiry_.find(std::string(kid)) != expiry_.end();
}

void UnknownKidMemory::clear() {
  order_.clear();
  expiry_.clear();
}

void UnknownKidMemory::dropExpired(std::uint64_t now_ms) {
  while (!order_.empty() && order_.front().expires_ms <= now_ms) {
    auto found = expiry_.find(order_.front().kid);
    // A later remember() of the same kid moved its expiry: keep that one.
    if (found != expiry_.end() && found->second == order_.front().expires_ms) {
      expiry_.erase(found);
    }
    order_.pop_front();
  }
  // Re-remembered kids leave stale entries behind; bound them too.
  while (order_.size() > 2 * capacity_ + 16) {
    auto found = expiry_.find(order_.front().kid);
    if (found != expiry_.end() && found->second == order_.front().expires_ms) {
      expiry_.erase(found);
    }
    order_.pop_front();
  }
}

}  // namespace jwtgate::jwks

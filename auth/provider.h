// An identity provider as the request path sees it: its token policy, where its tokens are
// read from, which claims become headers, and its current key set, published lock-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "auth/token_extractor.h"
#include "jwks/remote_keys_spec.h"
#include "verifier/claims.h"
#include "verifier/key_set.h"
#include "verifier/policy.h"

namespace jwtgate::auth {

// Holds a provider's current key set. publish() may run on any thread (a key refresher);
// readers on the request path take no lock: they compare a generation number and re-load
// the pointer only when it changed (see KeySetView).
class KeySetHolder {
 public:
  KeySetHolder() = default;
  explicit KeySetHolder(std::shared_ptr<const verifier::KeySet> initial);
  KeySetHolder(const KeySetHolder&) = delete;
  KeySetHolder& operator=(const KeySetHolder&) = delete;

  // The current set (null when the provider has never had keys). The returned pointer keeps
  // that set alive however often it is replaced afterwards.
  std::shared_ptr<const verifier::KeySet> load() const {
    return current_.load(std::memory_order_acquire);
  }

  // Replaces the set and bumps the generation, so that every worker notices on its next
  // request (and drops the tokens it cached for this provider).
  void publish(std::shared_ptr<const verifier::KeySet> keys);

  // Changes on every publish(); starts at 1 for a holder built with keys, 0 without.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const verifier::KeySet>> current_;
  std::atomic<std::uint64_t> generation_{0};
};

// One worker's view of a KeySetHolder: the key set it uses and the generation it saw.
// Thread-compatible: one per worker and provider.
class KeySetView {
 public:
  // The current set, or nullptr when the provider has none. Sets `*changed` when the set
  // differs from the one of the previous call (the caller drops its cached tokens). The
  // pointer stays valid until the next call.
  const verifier::KeySet* get(const KeySetHolder& holder, bool* changed);

 private:
  std::shared_ptr<const verifier::KeySet> keys_;
  std::uint64_t generation_ = 0;
};

// One entry of claims_to_headers: the header jwtgate sets upstream and the claim it holds.
struct ClaimHeader {
  std::string name;
  verifier::ClaimPath claim;
};

// A configured provider. Every member but `keys` is immutable after loading; `keys` is
// replaced through KeySetHolder::publish().
struct Provider {
  std::string name;
  verifier::Policy policy;
  // Tried in order by extractToken; never empty (the default is the Authorization header
  // with the Bearer scheme).
  std::vector<TokenSource> token_from;
  std::vector<ClaimHeader> claims_to_headers;
  // Empty: the verified payload is not forwarded.
  std::string forward_payload_header;
  // false: the credential is removed from the request before it is forwarded.
  bool keep_token = true;
  // Where the keys came from ("file /etc/jwks.json", "inline"), for start-up messages.
  std::vector<std::string> key_sources;
  KeySetHolder keys;
  // ---- remote keys (docs/remote-keys.md) ----
  // Sources fetched by the key service (jwks_uri, discovery); empty: every key is local.
  // The service publishes the merged set into `keys`.
  jwks::RemoteKeysSpec remote_keys;
  // The refusal when the provider has no usable keys: 401 invalid_token or 503.
  int unavailable_status = 401;
  // ---- end remote keys ----
};

}  // namespace jwtgate::auth

// What the configuration says about one provider's remote keys: where they come from, how
// they are fetched, how long they are kept, and the local keys merged with them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "jwks/cache_control.h"
#include "jwks/http_fetcher.h"
#include "jwks/retry_backoff.h"
#include "verifier/key_set.h"
#include "verifier/result.h"

namespace jwtgate::jwks {

enum class SourceKind : std::uint8_t {
  JwksUri,    // `url` is the JWKS itself.
  Discovery,  // `url` is the issuer: its OpenID configuration names the JWKS.
};

struct SourceSpec {
  SourceKind kind = SourceKind::JwksUri;
  std::string url;

  bool operator==(const SourceSpec&) const = default;
};

inline constexpr std::chrono::seconds kDefaultStaleWindow{6 * 3600};
inline constexpr std::chrono::milliseconds kDefaultRefetchCooldown{30000};
inline constexpr std::chrono::milliseconds kDefaultKeyWaitTimeout{5000};

struct RefreshSettings {
  // Bounds on the lifetime the key server's Cache-Control asks for (5 min to 24 h).
  LifetimeBounds lifetime;
  // Keys are refreshed in the background after this fraction of their lifetime.
  double refresh_fraction = 0.8;
  // After the lifetime ends with every refresh failing, the last good keys still serve for
  // this long; then the provider has no keys.
  std::chrono::seconds stale_window = kDefaultStaleWindow;
  // At most one refetch per cool-down for tokens naming an unknown kid.
  std::chrono::milliseconds refetch_cooldown = kDefaultRefetchCooldown;
  // Delays between retries after a failed fetch (1 s doubling to 5 min, jittered).
  BackoffPolicy retry;
  // How long a request may wait for a fetch in flight (first keys or an unknown kid).
  std::chrono::milliseconds wait_timeout = kDefaultKeyWaitTimeout;

  bool operator==(const RefreshSettings&) const = default;
};

struct RemoteKeysSpec {
  std::string provider;  // the provider's name, for log lines
  // One or more sources; their keys are merged (with the local keys).
  std::vector<SourceSpec> sources;
  FetchOptions fetch;
  RefreshSettings refresh;
  // Builds the provider's local keys (files, inline JWKS, PEM) afresh for every merge, since
  // a KeySet is consumed by KeySet::merge. Empty when the provider has none.
  std::function<Result<verifier::KeySet, verifier::KeyLoadError>()> local_keys;
  // Stands for what local_keys builds (a digest of the key texts), so that two loads of a
  // configuration can tell whether the local part changed; empty without local keys.
  std::string local_keys_identity;
};

// Whether a reload may keep the provider's fetch state and keys: same name, sources, fetch
// and refresh settings, and the same local keys.
inline bool sameRemoteSettings(const RemoteKeysSpec& a, const RemoteKeysSpec& b) {
  return a.provider == b.provider && a.sources == b.sources && a.fetch == b.fetch &&
         a.refresh == b.refresh && a.local_keys_identity == b.local_keys_identity &&
         static_cast<bool>(a.local_keys) == static_cast<bool>(b.local_keys);
}

}  // namespace jwtgate::jwks

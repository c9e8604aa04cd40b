// What the request path knows about one remote-keys provider: its current key set, why it
// has none, whether a fetch is in flight, and the unknown-kid refetch gate. Written by the
// key service's control thread, read by every worker without locks.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "jwks/refetch_gate.h"
#include "verifier/key_set.h"

namespace jwtgate::jwks {

// Stable values: they label log lines and metrics.
enum class KeyAvailability : std::uint8_t {
  Loading,      // No keys yet; the first fetch has not completed.
  Fresh,        // Keys in use, and the last fetch of every source succeeded.
  Stale,        // Keys in use, but a refresh failed: the last good keys serve, within the
                // stale window.
  Unavailable,  // No keys: every fetch so far failed.
  Expired,      // No keys: refreshes kept failing until the stale window ran out.
};

// "loading", "fresh", "stale", "unavailable", "expired".
std::string_view toString(KeyAvailability availability);

// How one fetch of one source ended (both steps of a discovery count as one fetch). Stable
// values: they label jwtgate_key_fetches_total{result}.
enum class FetchOutcome : std::uint8_t {
  Ok,            // A JWKS with at least one usable key arrived and was taken.
  HttpError,     // The server answered with a status other than 200.
  NetworkError,  // No answer: resolve, connect, transport, redirects, a refused URL.
  Timeout,       // The connect or total timeout expired.
  Tls,           // The TLS handshake failed (certificate, host name, protocol).
  TooLarge,      // The body exceeded max_body_bytes.
  Invalid,       // The document is not a usable JWKS (or discovery document).
};
inline constexpr std::size_t kFetchOutcomeCount = 7;

// "ok", "http_error", "network_error", "timeout", "tls", "too_large", "invalid".
std::string_view toString(FetchOutcome outcome);

// A short description for a refusal of a provider without keys; safe to send to a client.
std::string_view describe(KeyAvailability availability);

class ProviderKeys {
 public:
  // Called on the control thread after each change of the key set.
  using PublishListener = std::function<void(const std::shared_ptr<const verifier::KeySet>&)>;

  ProviderKeys(std::string name, std::chrono::milliseconds refetch_cooldown)
      : name_(std::move(name)), gate_(refetch_cooldown) {}
  ProviderKeys(const ProviderKeys&) = delete;
  ProviderKeys& operator=(const ProviderKeys&) = delete;

  const std::string& name() const { return name_; }

  // ---- any thread, lock-free ----

  // The current set, or null when the provider has none (see availability()).
  std::shared_ptr<const verifier::KeySet> keys() const {
    return keys_.load(std::memory_order_acquire);
  }
  KeyAvailability availability() const {
    return static_cast<KeyAvailability>(availability_.load(std::memory_order_acquire));
  }
  // True while a fetch of any of the provider's sources is in flight (or, before the
  // service started, pending).
  bool fetching() const { return fetching_.load(std::memory_order_acquire); }
  // Counts completed fetches, successful or not. A waiter notes it before it waits and is
  // woken once it changed.
  std::uint64_t fetchEpoch() const { return fetch_epoch_.load(std::memory_order_acquire); }
  // Changes whenever the key set is replaced.
  std::uint64_t keysVersion() const { return keys_version_.load(std::memory_order_acquire); }
  RefetchGate& refetchGate() { return gate_; }

  // Outcome counters, written by the control thread, read by metric scrapes.
  struct Counters {
    std::atomic<std::uint64_t> fetches_ok{0};      // a JWKS arrived and was taken
    std::atomic<std::uint64_t> fetches_failed{0};  // any step failed; the keys stayed
    std::atomic<std::uint64_t> refetches{0};       // unknown-kid refetches asked for
    std::atomic<std::uint64_t> expirations{0};     // the stale window ran out
    // Fetches by FetchOutcome (Ok included).
    std::array<std::atomic<std::uint64_t>, kFetchOutcomeCount> fetches{};
    // steady_clock milliseconds of the last successful fetch; -1 before the first.
    std::atomic<std::int64_t> last_success_ms{-1};
  };
  Counters& counters() { return counters_; }
  const Counters& counters() const { return counters_; }

  // ---- control thread ----

  // Set before the service starts; called after every publish().
  void setPublishListener(PublishListener listener) { listener_ = std::move(listener); }
  void publish(std::shared_ptr<const verifier::KeySet> keys, KeyAvailability availability);
  void setAvailability(KeyAvailability availability) {
    availability_.store(static_cast<std::uint8_t>(availability), std::memory_order_release);
  }
  void setFetching(bool fetching) { fetching_.store(fetching, std::memory_order_release); }
  // Bumps the epoch; the caller then wakes the waiting workers.
  void completeFetch() { fetch_epoch_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  const std::string name_;
  RefetchGate gate_;
  Counters counters_;
  PublishListener listener_;
  std::atomic<std::shared_ptr<const verifier::KeySet>> keys_;
  std::atomic<std::uint8_t> availability_{static_cast<std::uint8_t>(KeyAvailability::Loading)};
  std::atomic<bool> fetching_{true};
  std::atomic<std::uint64_t> fetch_epoch_{0};
  std::atomic<std::uint64_t> keys_version_{0};
};

}  // namespace jwtgate::jwks

// Rate limits for refetching keys because a token names an unknown kid: one fetch per
// provider per cool-down, whichever worker asks, and a per-worker memory of kids that a
// refetch has already shown to be unknown.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace jwtgate::jwks {

// Shared by every worker; lock-free.
class RefetchGate {
 public:
  explicit RefetchGate(std::chrono::milliseconds cooldown) : cooldown_ms_(toMs(cooldown)) {}

  // Thread-safe. True for exactly one caller when no claim was granted in the last cool-down
  // (`now_ms` is a monotonic clock shared by the callers); false for every other caller.
  bool tryClaim(std::uint64_t now_ms);

  // The earliest time a claim can be granted again.
  std::uint64_t nextAllowedMs() const { return next_allowed_ms_.load(std::memory_order_acquire); }

 private:
  static std::uint64_t toMs(std::chrono::milliseconds value) {
    return value.count() > 0 ? static_cast<std::uint64_t>(value.count()) : 0;
  }

  const std::uint64_t cooldown_ms_;
  std::atomic<std::uint64_t> next_allowed_ms_{0};
};

// Kids a refetch did not find, remembered for a while so that tokens naming them are refused
// at once instead of waiting for, or asking for, another fetch. Bounded: beyond `capacity`
// the oldest entries go first. Not thread-safe: one per worker and provider.
class UnknownKidMemory {
 public:
  UnknownKidMemory(std::chrono::milliseconds ttl, std::size_t capacity);

  void remember(std::string_view kid, std::uint64_t now_ms);
  // True while `kid` was remembered less than the ttl ago.
  bool contains(std::string_view kid, std::uint64_t now_ms);
  // Forgets everything (the key set changed, so any kid may be known now).
  void clear();

  std::size_t size() const { return expiry_.size(); }

 private:
  struct Entry {
    std::string kid;
    std::uint64_t expires_ms;
  };

  void dropExpired(std::uint64_t now_ms);

  std::uint64_t ttl_ms_;
  std::size_t capacity_;
  std::deque<Entry> order_;  // by insertion, so by expiry (one ttl for all)
  std::unordered_map<std::string, std::uint64_t> expiry_;
};

}  // namespace jwtgate::jwks

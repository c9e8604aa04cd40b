// The delays between attempts to fetch keys after a failure: exponential, capped, jittered,
// so that many sidecars restarting together do not hit a key server in lockstep.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace jwtgate::jwks {

struct BackoffPolicy {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds maximum{300000};

  bool operator==(const BackoffPolicy&) const = default;
};

// Not thread-safe: one per key source, used on the control thread.
class RetryBackoff {
 public:
  // Returns a number uniformly drawn from [0, 1).
  using Random = std::function<double()>;

  RetryBackoff(BackoffPolicy policy, Random random);

  // The delay before the next attempt. The n-th call (from 0) draws uniformly from
  // [base/2, base) with base = min(initial * 2^n, maximum), so delays grow until they stay
  // around the maximum and are never shorter than half the current base.
  std::chrono::milliseconds next();

  // After a success: the next failure starts again from `initial`.
  void reset() { failures_ = 0; }

  std::uint32_t failures() const { return failures_; }

 private:
  BackoffPolicy policy_;
  Random random_;
  std::uint32_t failures_ = 0;
};

// A Random drawing from a generator seeded by std::random_device.
RetryBackoff::Random systemRandom();

}  // namespace jwtgate::jwks

// Exponential backoff with "equal jitter" for key fetch retries.
#include "jwks/retry_backoff.h"

#include <algorithm>
#include <memory>
#include <random>

namespace jwtgate::jwks {

RetryBackoff::RetryBackoff(BackoffPolicy policy, Random random)
    : policy_(policy), random_(std::move(random)) {
  policy_.initial = std::max(policy_.initial, std::chrono::milliseconds(1));
  policy_.maximum = std::max(policy_.maximum, policy_.initial);
}

std::chrono::milliseconds RetryBackoff::next() {
  // Doubling stops at the cap, so the shift never overflows.
  std::int64_t base = policy_.initial.count();
  for (std::uint32_t i = 0; i < failures_ && base < policy_.maximum.count(); ++i) {
    base *= 2;
  }
  base = std::min(base, static_cast<std::int64_t>(policy_.maximum.count()));
  ++failures_;

  double draw = random_ ? random_() : 0.0;
  draw = std::clamp(draw, 0.0, 1.0);
  std::int64_t half = base / 2;
  auto jitter = static_cast<std::int64_t>(static_cast<double>(base - half) * draw);
  return std::chrono::milliseconds(std::min(half + jitter, base));
}

RetryBackoff::Random systemRandom() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [engine]() { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

}  // namespace jwtgate::jwks

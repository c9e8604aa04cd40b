// Request ids: which client-supplied X-Request-Id values are forwarded as they are, and the
// generator of fresh ids (not secrets: unique, not unpredictable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace jwtgate::observe {

inline constexpr size_t kMaxRequestIdLength = 128;
inline constexpr size_t kRequestIdLength = 32;  // generated ids

// True for 1..128 characters of [A-Za-z0-9._:@+=/-].
bool isValidRequestId(std::string_view value);

// One per worker thread (not thread-safe); seeded from getrandom() (256 bits; falls back to
// the clock, the thread and the object's address if getrandom fails), xoshiro256** after.
// Ids are 32 lower-case hex characters (128 bits).
class RequestIdGenerator {
 public:
  RequestIdGenerator();

  // Writes exactly 32 characters to out (no terminating NUL).
  void next(char out[kRequestIdLength]);
  std::string nextString();

 private:
  uint64_t nextWord();

  uint64_t state_[4];
};

}  // namespace jwtgate::observe

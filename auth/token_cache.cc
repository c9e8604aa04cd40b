// The token cache's hash and exact comparison (the container itself is a template).
#include "auth/token_cache.h"

#include <cstring>

namespace jwtgate::auth::token_cache_detail {

namespace {

constexpr std::uint64_t kMultiplyA = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t kMultiplyB = 0xC2B2AE3D27D4EB4FULL;
constexpr std::uint64_t kMultiplyC = 0x165667B19E3779F9ULL;

std::uint64_t rotateLeft(std::uint64_t x, int bits) { return (x << bits) | (x >> (64 - bits)); }

std::uint64_t mixWord(std::uint64_t hash, std::uint64_t word) {
  hash ^= word * kMultiplyA;
  return rotateLeft(hash, 31) * kMultiplyB;
}

}  // namespace

std::uint64_t keyHash(std::uint64_t seed, std::uint32_t provider, std::string_view token) {
  // Two independent lanes of eight bytes each per round (tokens are long: this halves the
  // dependency chain), then the zero-padded tail. Length and provider are mixed in first so
  // that tokens differing only in trailing zero bytes, or in provider, still differ.
  std::uint64_t lane_a = seed ^ (static_cast<std::uint64_t>(provider) << 32) ^
                         (static_cast<std::uint64_t>(token.size()) * kMultiplyC);
  std::uint64_t lane_b = rotateLeft(lane_a, 29) ^ kMultiplyB;
  const char* data = token.data();
  std::size_t i = 0;
  for (; i + 16 <= token.size(); i += 16) {
    std::uint64_t first = 0;
    std::uint64_t second = 0;
    std::memcpy(&first, data + i, 8);
    std::memcpy(&second, data + i + 8, 8);
    lane_a = mixWord(lane_a, first);
    lane_b = mixWord(lane_b, second);
  }
  while (i < token.size()) {
    const std::size_t take = token.size() - i < 8 ? token.size() - i : 8;
    std::uint64_t word = 0;
    std::memcpy(&word, data + i, take);
    lane_a = mixWord(lane_a, word);
    i += take;
  }

  // Final avalanche so that the low bits used for the bucket depend on every input bit.
  std::uint64_t hash = lane_a ^ rotateLeft(lane_b, 23);
  hash ^= hash >> 33;
  hash *= kMultiplyC;
  hash ^= hash >> 29;
  return hash;
}

bool sameBytes(std::string_view a, std::string_view b) {
  // NOTE: a plain memcmp: its timing could only tell an attacker how much of a cached token
  // they guessed once their guess already has the same 64-bit hash, which needs the secret
  // token itself. CRYPTO_memcmp cost about half the time of a cache hit.
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace jwtgate::auth::token_cache_detail

// Request id validation and generation.
#include "observe/request_id.h"

#include <sys/random.h>
#include <time.h>

#include <cerrno>
#include <functional>
#include <thread>

namespace jwtgate::observe {
namespace {

uint64_t splitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t rotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

bool isRequestIdChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  switch (c) {
    case '.':
    case '_':
    case ':':
    case '@':
    case '+':
    case '=':
    case '/':
    case '-':
      return true;
    default:
      return false;
  }
}

// Fills `out` from getrandom(); false when the kernel does not give all of it.
bool fillRandom(unsigned char* out, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::getrandom(out + done, size - done, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

bool isValidRequestId(std::string_view value) {
  if (value.empty() || value.size() > kMaxRequestIdLength) {
    return false;
  }
  for (char c : value) {
    if (!isRequestIdChar(c)) {
      return false;
    }
  }
  return true;
}

RequestIdGenerator::RequestIdGenerator() {
  unsigned char seed[sizeof(state_)];
  uint64_t mix = 0;
  if (fillRandom(seed, sizeof(seed))) {
    for (size_t i = 0; i < 4; ++i) {
      uint64_t word = 0;
      for (size_t b = 0; b < 8; ++b) {
        word = (word << 8) | seed[i * 8 + b];
      }
      mix ^= word + 0x632BE59BD9B4E019ULL * (i + 1);
      state_[i] = word;
    }
  } else {
    // No kernel randomness: distinct enough per process, thread and object for unique ids.
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    mix = static_cast<uint64_t>(now.tv_sec) * 1000000000ULL + static_cast<uint64_t>(now.tv_nsec);
    mix ^= std::hash<std::thread::id>{}(std::this_thread::get_id()) * 0x9E3779B97F4A7C15ULL;
    mix ^= reinterpret_cast<uintptr_t>(this);
    for (uint64_t& word : state_) {
      word = splitMix64(&mix);
    }
  }

  // xoshiro must not start from all zeros; run the seed through splitmix when it might.
  if ((state_[0] | state_[1] | state_[2] | state_[3]) == 0) {
    for (uint64_t& word : state_) {
      word = splitMix64(&mix);
    }
  }
}

uint64_t RequestIdGenerator::nextWord() {
  // xoshiro256**: small, fast, 256 bits of state.
  const uint64_t result = rotateLeft(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotateLeft(state_[3], 45);
  return result;
}

void RequestIdGenerator::next(char out[kRequestIdLength]) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t half = 0; half < 2; ++half) {
    uint64_t word = nextWord();
    for (size_t i = 0; i < 16; ++i) {
      out[half * 16 + 15 - i] = kHex[word & 0xF];
      word >>= 4;
    }
  }
}

std::string RequestIdGenerator::nextString() {
  std::string id(kRequestIdLength, '0');
  next(id.data());
  return id;
}

}  // namespace jwtgate::observe

// The unknown-kid refetch cool-down and the per-worker memory of unknown kids.
#include "jwks/refetch_gate.h"

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace jwtgate::jwks {
namespace {

using std::chrono::milliseconds;

TEST_SUITE("jwks/refetch_gate") {
  TEST_CASE("one claim per cool-down, measured from the granted claim") {
    RefetchGate gate(milliseconds(30000));
    CHECK(gate.tryClaim(1000));
    CHECK_FALSE(gate.tryClaim(1000));
    CHECK_FALSE(gate.tryClaim(30999));
    CHECK(gate.nextAllowedMs() == 31000);
    CHECK(gate.tryClaim(31000));
    CHECK_FALSE(gate.tryClaim(31001));
    CHECK(gate.tryClaim(90000));
  }

  TEST_CASE("a zero cool-down grants every claim") {
    RefetchGate gate(milliseconds(0));
    CHECK(gate.tryClaim(5));
    CHECK(gate.tryClaim(5));
  }

  TEST_CASE("of many threads claiming at once, exactly one wins") {
    RefetchGate gate(milliseconds(30000));
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 1000; ++i) {
          winners += gate.tryClaim(5000) ? 1 : 0;
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
    CHECK(winners == 1);
  }

  TEST_CASE("an unknown kid is remembered for the ttl, then forgotten") {
    UnknownKidMemory memory(milliseconds(30000), 16);
    CHECK_FALSE(memory.contains("k1", 0));
    memory.remember("k1", 1000);
    CHECK(memory.contains("k1", 1000));
    CHECK(memory.contains("k1", 30999));
    CHECK_FALSE(memory.contains("k2", 2000));
    CHECK_FALSE(memory.contains("k1", 31000));
    CHECK(memory.size() == 0);
  }

  TEST_CASE("remembering a kid again extends it") {
    UnknownKidMemory memory(milliseconds(100), 16);
    memory.remember("k", 0);
    memory.remember("k", 80);
    CHECK(memory.contains("k", 150));
    CHECK_FALSE(memory.contains("k", 180));
  }

  TEST_CASE("beyond the capacity the oldest kids are dropped") {
    UnknownKidMemory memory(milliseconds(100000), 4);
    for (int i = 0; i < 10; ++i) {
      memory.remember("kid-" + std::to_string(i), static_cast<std::uint64_t>(i));
    }
    CHECK(memory.size() == 4);
    for (int i = 0; i < 10; ++i) {
      CAPTURE(i);
      CHECK(memory.contains("kid-" + std::to_string(i), 20) == (i >= 6));
    }
  }

  TEST_CASE("kids are compared byte for byte, and overlong ones are not kept") {
    UnknownKidMemory memory(milliseconds(1000), 16);
    memory.remember("Kid", 0);
    CHECK(memory.contains("Kid", 1));
    CHECK_FALSE(memory.contains("kid", 1));
    CHECK_FALSE(memory.contains(std::string("Kid\0", 4), 1));
    const std::string long_kid(300, 'x');
    memory.remember(long_kid, 0);
    CHECK_FALSE(memory.contains(long_kid, 1));
    memory.clear();
    CHECK_FALSE(memory.contains("Kid", 1));
  }

  TEST_CASE("a flood of distinct kids stays bounded") {
    UnknownKidMemory memory(milliseconds(30000), 64);
    for (int i = 0; i < 5000; ++i) {
      memory.remember(std::to_string(i), 10);
      memory.remember("same", 10);
    }
    CHECK(memory.size() <= 64);
    CHECK(memory.contains("same", 11));
  }
}

}  // namespace
}  // namespace jwtgate::jwks

// The retry schedule: doubling from the initial delay to the cap, jittered into [base/2, base).
#include "jwks/retry_backoff.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace jwtgate::jwks {
namespace {

using std::chrono::milliseconds;

// Returns the scripted draws in turn (then repeats the last one).
RetryBackoff::Random scripted(std::vector<double> draws) {
  auto index = std::make_shared<std::size_t>(0);
  return [draws, index]() {
    double value = draws[std::min(*index, draws.size() - 1)];
    ++*index;
    return value;
  };
}

TEST_SUITE("jwks/retry_backoff") {
  TEST_CASE("with the smallest draw every delay is half its base, doubling up to the cap") {
    RetryBackoff backoff({milliseconds(1000), milliseconds(300000)}, scripted({0.0}));
    const long expected[] = {500,   1000,  2000,   4000,   8000,   16000,
                             32000, 64000, 128000, 150000, 150000, 150000};
    for (long delay : expected) {
      CAPTURE(backoff.failures());
      CHECK(backoff.next() == milliseconds(delay));
    }
  }

  TEST_CASE("with the largest draw every delay stays just under its base") {
    RetryBackoff backoff({milliseconds(1000), milliseconds(300000)}, scripted({0.999999}));
    const long expected[] = {999,   1999,   3999,   7999,   15999, 31999,
                             63999, 127999, 255999, 299999, 299999};
    for (long delay : expected) {
      CAPTURE(backoff.failures());
      CHECK(backoff.next() == milliseconds(delay));
    }
  }

  TEST_CASE("a draw in the middle lands three quarters of the way") {
    RetryBackoff backoff({milliseconds(1000), milliseconds(4000)}, scripted({0.5}));
    CHECK(backoff.next() == milliseconds(750));
    CHECK(backoff.next() == milliseconds(1500));
    CHECK(backoff.next() == milliseconds(3000));
    CHECK(backoff.next() == milliseconds(3000));
  }

  TEST_CASE("a success starts the schedule again") {
    RetryBackoff backoff({milliseconds(100), milliseconds(1000)}, scripted({0.0}));
    CHECK(backoff.next() == milliseconds(50));
    CHECK(backoff.next() == milliseconds(100));
    CHECK(backoff.failures() == 2);
    backoff.reset();
    CHECK(backoff.failures() == 0);
    CHECK(backoff.next() == milliseconds(50));
  }

  TEST_CASE("draws outside [0, 1) and odd policies are clamped") {
    RetryBackoff high({milliseconds(1000), milliseconds(1000)}, scripted({7.0}));
    CHECK(high.next() == milliseconds(1000));
    RetryBackoff low({milliseconds(1000), milliseconds(1000)}, scripted({-3.0}));
    CHECK(low.next() == milliseconds(500));
    RetryBackoff inverted({milliseconds(2000), milliseconds(10)}, scripted({0.0}));
    CHECK(inverted.next() == milliseconds(1000));
    CHECK(inverted.next() == milliseconds(1000));
    RetryBackoff zero({milliseconds(0), milliseconds(0)}, scripted({0.0}));
    CHECK(zero.next() == milliseconds(0));
  }

  TEST_CASE("a thousand failures neither overflow nor leave the cap") {
    RetryBackoff backoff({milliseconds(1000), milliseconds(300000)}, systemRandom());
    for (int i = 0; i < 1000; ++i) {
      milliseconds delay = backoff.next();
      REQUIRE(delay >= milliseconds(i < 9 ? 500 : 150000));
      REQUIRE(delay <= milliseconds(300000));
    }
  }
}

}  // namespace
}  // namespace jwtgate::jwks

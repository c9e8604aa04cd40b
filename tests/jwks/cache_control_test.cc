// Cache-Control parsing and the key lifetime it gives, table-driven.
#include "jwks/cache_control.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

namespace jwtgate::jwks {
namespace {

using std::chrono::seconds;

TEST_SUITE("jwks/cache_control") {
  TEST_CASE("directives are read in every spelling RFC 9111 allows") {
    struct Row {
      const char* value;
      std::optional<std::uint32_t> max_age;
      bool no_store;
      bool no_cache;
      bool invalid;
    };
    const Row rows[] = {
        {"max-age=300", 300, false, false, false},
        {"MAX-AGE=300", 300, false, false, false},
        {"public, max-age=86400, must-revalidate", 86400, false, false, false},
        {"max-age=\"120\"", 120, false, false, false},
        {"  max-age = 60 ", 60, false, false, false},
        {"max-age=0", 0, false, false, false},
        {"max-age=99999999999999", 2147483648U, false, false, false},
        {"private, max-age=10, s-maxage=999", 10, false, false, false},
        {"no-store", std::nullopt, true, false, false},
        {"No-Cache", std::nullopt, false, true, false},
        {"no-cache=\"Set-Cookie, X-Foo\", max-age=50", 50, false, true, false},
        {"max-age=60, no-store", 60, true, false, false},
        {"", std::nullopt, false, false, false},
        {",,,", std::nullopt, false, false, false},
        {"max-age", std::nullopt, false, false, true},
        {"max-age=", std::nullopt, false, false, true},
        {"max-age=-5", std::nullopt, false, false, true},
        {"max-age=1.5", std::nullopt, false, false, true},
        {"max-age=12abc", std::nullopt, false, false, true},
        {"max-age=\"12", std::nullopt, false, false, true},
        {"max-age=30, max-age=30", 30, false, false, false},
        {"max-age=30, max-age=40", std::nullopt, false, false, true},
        {"foo=\"a, max-age=5\", max-age=7", 7, false, false, false},
        {"max-age=5 6", std::nullopt, false, false, false},
        {"x-max-age=5", std::nullopt, false, false, false},
        {"max-age=20, \x01garbage", 20, false, false, false},
    };
    for (const Row& row : rows) {
      CAPTURE(std::string(row.value));
      CacheDirectives parsed = parseCacheControl(row.value);
      CHECK(parsed.max_age == row.max_age);
      CHECK(parsed.no_store == row.no_store);
      CHECK(parsed.no_cache == row.no_cache);
      CHECK(parsed.invalid_max_age == row.invalid);
    }
  }

  TEST_CASE("delta-seconds are plain digits, capped at 2^31") {
    CHECK(parseDeltaSeconds("0") == 0U);
    CHECK(parseDeltaSeconds("42") == 42U);
    CHECK(parseDeltaSeconds("2147483648") == 2147483648U);
    CHECK(parseDeltaSeconds("2147483649") == 2147483648U);
    CHECK(parseDeltaSeconds("18446744073709551617") == 2147483648U);
    CHECK_FALSE(parseDeltaSeconds(""));
    CHECK_FALSE(parseDeltaSeconds(" 4"));
    CHECK_FALSE(parseDeltaSeconds("+4"));
    CHECK_FALSE(parseDeltaSeconds("4s"));
  }

  TEST_CASE("the lifetime is max-age minus Age, within the configured bounds") {
    const LifetimeBounds bounds{seconds(300), seconds(86400)};
    struct Row {
      const char* cache_control;
      std::optional<std::uint32_t> age;
      seconds expected;
    };
    const Row rows[] = {
        {"max-age=3600", std::nullopt, seconds(3600)},
        {"max-age=3600", 600, seconds(3000)},
        {"max-age=3600", 3500, seconds(300)},  // below the minimum
        {"max-age=3600", 7200, seconds(300)},  // older than its lifetime
        {"max-age=10", std::nullopt, seconds(300)},
        {"max-age=604800", std::nullopt, seconds(86400)},  // above the maximum
        {"max-age=99999999999", std::nullopt, seconds(86400)},
        {"no-store, max-age=3600", std::nullopt, seconds(300)},
        {"no-cache, max-age=3600", std::nullopt, seconds(300)},
        {"max-age=oops", std::nullopt, seconds(300)},
        {"max-age=60, max-age=7200", std::nullopt, seconds(300)},
        {"", std::nullopt, seconds(300)},
        {"public", std::nullopt, seconds(300)},
    };
    for (const Row& row : rows) {
      CAPTURE(std::string(row.cache_control));
      CAPTURE(row.age.value_or(0));
      CHECK(keyLifetime(parseCacheControl(row.cache_control), row.age, bounds) == row.expected);
    }
  }

  TEST_CASE("inverted bounds resolve to the minimum") {
    const LifetimeBounds bounds{seconds(600), seconds(60)};
    CHECK(keyLifetime(parseCacheControl("max-age=30"), std::nullopt, bounds) == seconds(600));
    CHECK(keyLifetime(parseCacheControl("max-age=9000"), std::nullopt, bounds) == seconds(600));
  }
}

}  // namespace
}  // namespace jwtgate::jwks

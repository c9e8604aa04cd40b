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

  TEST_CASE("HTTP-dates in their three forms; anything else is not a date") {
    const std::int64_t now = 1796342400;  // 2026-12-04T00:00:00Z
    const std::int64_t rfc_example = 784111777;  // 1994-11-06T08:49:37Z (RFC 9110's example)
    CHECK(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", now) == rfc_example);
    CHECK(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", now) == rfc_example);
    CHECK(parseHttpDate("Sun Nov  6 08:49:37 1994", now) == rfc_example);
    CHECK(parseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT", now) == 0);
    CHECK(parseHttpDate("Thu, 29 Feb 2024 23:59:59 GMT", now) == 1709251199);
    // A two-digit year more than 50 years ahead is read in the past century.
    CHECK(parseHttpDate("Tuesday, 01-Jan-69 00:00:00 GMT", now) == 3124224000);  // 2069
    CHECK(parseHttpDate("Saturday, 01-Jan-77 00:00:00 GMT", now) == 220924800);  // 1977

    for (const char* bad : {"", "0", "-1", "tomorrow", "Sun, 06 Nov 1994 08:49:37 UTC",
                            "sun, 06 Nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
                            "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
                            "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT",
                            "Sun, 06 Nov 1994 08:49:37 GMT ", "Sun, 06 Nov 1994 08:49 GMT",
                            "Sun Nov 6 08:49:37 1994", "Sun, 06-Nov-94 08:49:37 GMT",
                            "Sunday, 06 Nov 1994 08:49:37 GMT", "Sun, 0x Nov 1994 08:49:37 GMT"}) {
      CAPTURE(std::string(bad));
      CHECK_FALSE(parseHttpDate(bad, now).has_value());
    }
  }

  TEST_CASE("Expires gives a lifetime when max-age is absent, counted from Date") {
    const std::int64_t now = 1796342400;
    const LifetimeBounds bounds{seconds(60), seconds(86400)};
    const char* date = "Fri, 04 Dec 2026 00:00:00 GMT";  // = now
    CHECK(expiresLifetime("", date, now) == std::nullopt);
    CHECK(expiresLifetime("Fri, 04 Dec 2026 01:00:00 GMT", date, now) == 3600);
    // Without a usable Date, from the time of receipt.
    CHECK(expiresLifetime("Fri, 04 Dec 2026 00:10:00 GMT", "", now) == 600);
    CHECK(expiresLifetime("Fri, 04 Dec 2026 00:10:00 GMT", "yesterday", now) == 600);
    // A server clock ahead of ours does not matter: the difference is the server's.
    CHECK(expiresLifetime("Fri, 04 Dec 2026 06:00:00 GMT", "Fri, 04 Dec 2026 05:00:00 GMT",
                          now) == 3600);
    // Invalid ("0") or past: already expired.
    CHECK(expiresLifetime("0", date, now) == 0);
    CHECK(expiresLifetime("Thu, 03 Dec 2026 00:00:00 GMT", date, now) == 0);

    CHECK(keyLifetime(parseCacheControl(""), std::nullopt, bounds, 3600) == seconds(3600));
    CHECK(keyLifetime(parseCacheControl(""), 600, bounds, 3600) == seconds(3000));
    CHECK(keyLifetime(parseCacheControl("max-age=120"), std::nullopt, bounds, 3600) ==
          seconds(120));  // max-age wins
    CHECK(keyLifetime(parseCacheControl("no-cache"), std::nullopt, bounds, 3600) == seconds(60));
    CHECK(keyLifetime(parseCacheControl("max-age=x"), std::nullopt, bounds, 3600) ==
          seconds(60));
    CHECK(keyLifetime(parseCacheControl(""), std::nullopt, bounds, 0) == seconds(60));
    CHECK(keyLifetime(parseCacheControl(""), std::nullopt, bounds, 10000000) == seconds(86400));
  }

  TEST_CASE("inverted bounds resolve to the minimum") {
    const LifetimeBounds bounds{seconds(600), seconds(60)};
    CHECK(keyLifetime(parseCacheControl("max-age=30"), std::nullopt, bounds) == seconds(600));
    CHECK(keyLifetime(parseCacheControl("max-age=9000"), std::nullopt, bounds) == seconds(600));
  }
}

}  // namespace
}  // namespace jwtgate::jwks

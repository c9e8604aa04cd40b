// Request ids: which client values are kept, and the generated ones.
#include "observe/request_id.h"

#include <doctest/doctest.h>

#include <set>
#include <string>

namespace jwtgate::observe {

TEST_SUITE("observe/request_id") {
  TEST_CASE("exactly the allowed characters are valid, one by one") {
    const std::string allowed =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+=/-";
    for (int b = 0; b < 256; ++b) {
      const char c = static_cast<char>(b);
      CAPTURE(b);
      CHECK(isValidRequestId(std::string_view(&c, 1)) == (allowed.find(c) != std::string::npos));
    }
  }

  TEST_CASE("lengths from 1 to 128 are valid, others are not") {
    CHECK_FALSE(isValidRequestId(""));
    CHECK(isValidRequestId("a"));
    CHECK(isValidRequestId(std::string(128, 'x')));
    CHECK_FALSE(isValidRequestId(std::string(129, 'x')));
    CHECK(isValidRequestId("req-2026.12.04:a@b+c=d/e_f"));
    CHECK(isValidRequestId("0b4f1c2e-9d7a-4e3b-8c61-2f5a7d9e0c11"));
  }

  TEST_CASE("hostile values are refused") {
    const char* rows[] = {"has space",  "comma,separated", "quote\"",  "new\nline",   "tab\t",
                          "semi;colon", "percent%20",      "<script>", "caf\xC3\xA9", "a\\b"};
    for (const char* row : rows) {
      CAPTURE(row);
      CHECK_FALSE(isValidRequestId(row));
    }
    CHECK_FALSE(isValidRequestId(std::string_view("nul\0byte", 8)));
  }

  TEST_CASE("generated ids are 32 lower-case hex characters, valid and unique") {
    RequestIdGenerator first;
    RequestIdGenerator second;
    std::set<std::string> seen;
    for (int i = 0; i < 20000; ++i) {
      char raw[kRequestIdLength];
      first.next(raw);
      const std::string id(raw, sizeof(raw));
      const std::string other = second.nextString();
      for (const std::string& value : {id, other}) {
        CAPTURE(value);
        REQUIRE(value.size() == 32);
        REQUIRE(value.find_first_not_of("0123456789abcdef") == std::string::npos);
        REQUIRE(isValidRequestId(value));
        REQUIRE(seen.insert(value).second);  // never seen before, in either generator
      }
    }
    CHECK(seen.size() == 40000);
  }

  TEST_CASE("generated ids use every hex digit in every position") {
    RequestIdGenerator generator;
    std::set<char> digits[kRequestIdLength];
    for (int i = 0; i < 2000; ++i) {
      const std::string id = generator.nextString();
      for (size_t p = 0; p < kRequestIdLength; ++p) {
        digits[p].insert(id[p]);
      }
    }
    for (size_t p = 0; p < kRequestIdLength; ++p) {
      CAPTURE(p);
      CHECK(digits[p].size() == 16);
    }
  }
}

}  // namespace jwtgate::observe

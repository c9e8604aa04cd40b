// The access-log line appender: escaping, UTF-8 repair and field formatting.
#include "observe/json_line.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <cstdint>
#include <string>

namespace jwtgate::observe {
namespace {

std::string jsonQuoted(std::string_view value) {
  std::string out;
  appendJsonString(out, value);
  return out;
}

// Parses `json` (one JSON string) with simdjson, which validates UTF-8 and escapes.
bool parsesAsString(const std::string& json, std::string* value) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  if (parser.parse(json).get(element) != simdjson::SUCCESS) {
    return false;
  }
  std::string_view text;
  if (element.get_string().get(text) != simdjson::SUCCESS) {
    return false;
  }
  *value = std::string(text);
  return true;
}

constexpr std::string_view kFffd = "\xEF\xBF\xBD";

std::string repeatFffd(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kFffd;
  }
  return out;
}

}  // namespace

TEST_SUITE("observe/json_line") {
  TEST_CASE("every control byte and DEL become \\u00XX") {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int b = 0; b < 0x20; ++b) {
      CAPTURE(b);
      const std::string input(1, static_cast<char>(b));
      const std::string expected = std::string("\"\\u00") + kHex[b >> 4] + kHex[b & 0xF] + "\"";
      CHECK(jsonQuoted(input) == expected);
      std::string back;
      REQUIRE(parsesAsString(jsonQuoted(input), &back));
      CHECK(back == input);
    }
    CHECK(jsonQuoted("\x7F") == "\"\\u007f\"");
    CHECK(jsonQuoted(std::string_view("a\0b", 3)) == "\"a\\u0000b\"");
  }

  TEST_CASE("quote and backslash are escaped and printable ASCII is copied") {
    CHECK(jsonQuoted("say \"hi\" \\o/") == "\"say \\\"hi\\\" \\\\o/\"");
    std::string printable;
    for (int b = 0x20; b < 0x7F; ++b) {
      if (b != '"' && b != '\\') {
        printable += static_cast<char>(b);
      }
    }
    CHECK(jsonQuoted(printable) == "\"" + printable + "\"");
  }

  TEST_CASE("valid UTF-8 is copied as it is") {
    const char* rows[] = {"\xC3\xA9",           // U+00E9
                          "\xC2\x80",           // U+0080, the smallest two-byte form
                          "\xE2\x82\xAC",       // U+20AC
                          "\xE0\xA0\x80",       // U+0800
                          "\xED\x9F\xBF",       // U+D7FF, just below the surrogates
                          "\xEE\x80\x80",       // U+E000, just above them
                          "\xEF\xBF\xBF",       // U+FFFF
                          "\xF0\x9F\x98\x80",   // U+1F600
                          "\xF0\x90\x80\x80",   // U+10000
                          "\xF4\x8F\xBF\xBF"};  // U+10FFFF, the largest
    for (const char* row : rows) {
      CAPTURE(row);
      CHECK(jsonQuoted(row) == std::string("\"") + row + "\"");
    }
  }

  TEST_CASE("invalid UTF-8 becomes one U+FFFD per maximal ill-formed subsequence") {
    struct Row {
      const char* input;
      std::string expected;
    };
    const Row rows[] = {
        {"\x80", repeatFffd(1)},  // stray continuation byte
        {"\xBF", repeatFffd(1)},
        {"\xC0\x80", repeatFffd(2)},          // overlong NUL
        {"\xC1\xBF", repeatFffd(2)},          // overlong
        {"\xE0\x80\x80", repeatFffd(3)},      // overlong three-byte form
        {"\xF0\x80\x80\x80", repeatFffd(4)},  // overlong four-byte form
        {"\xED\xA0\x80", repeatFffd(3)},      // surrogate U+D800
        {"\xED\xBF\xBF", repeatFffd(3)},      // surrogate U+DFFF
        {"\xF4\x90\x80\x80", repeatFffd(4)},  // above U+10FFFF
        {"\xF5\x80\x80\x80", repeatFffd(4)},
        {"\xFF", repeatFffd(1)},
        {"\xFE\xFF", repeatFffd(2)},
        {"\xC3", repeatFffd(1)},  // truncated at the end
        {"\xE2\x82", repeatFffd(1)},
        {"\xF0\x9F\x98", repeatFffd(1)},
        {"\xE2\x82"
         "A",
         repeatFffd(1) + "A"},  // truncated before ASCII
        {"\xC3"
         "\"",
         repeatFffd(1) + "\\\""},  // the quote is not swallowed
        {"\xE2\x82\xAC\x80", "\xE2\x82\xAC" + repeatFffd(1)},
        {"a\xF0\x9F\x98\x80\xF0\x9Fz", "a\xF0\x9F\x98\x80" + repeatFffd(1) + "z"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.input);
      CHECK(jsonQuoted(row.input) == "\"" + row.expected + "\"");
    }
  }

  TEST_CASE("any bytes at all yield one valid JSON string on one line") {
    // Every single byte, every pair of bytes, and pseudo-random strings (fixed seed).
    std::string back;
    for (int a = 0; a < 256; ++a) {
      for (int b = 0; b < 256; ++b) {
        const char input[2] = {static_cast<char>(a), static_cast<char>(b)};
        const std::string out = jsonQuoted(std::string_view(input, 2));
        if (!parsesAsString(out, &back) || out.find('\n') != std::string::npos) {
          FAIL("byte pair " << a << "," << b << " gave " << out);
        }
      }
    }
    uint64_t state = 0x1234567;
    for (int round = 0; round < 2000; ++round) {
      std::string input;
      const size_t length = static_cast<size_t>(round % 40);
      for (size_t i = 0; i < length; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        input += static_cast<char>(state >> 56);
      }
      const std::string out = jsonQuoted(input);
      CAPTURE(round);
      REQUIRE(parsesAsString(out, &back));
      for (char c : out) {
        REQUIRE(static_cast<unsigned char>(c) >= 0x20);
      }
    }
  }

  TEST_CASE("a line holds its fields in call order, formatted by type") {
    std::string buf = "prefix:";
    JsonLine line(buf);
    line.field("method", std::string_view("GET"));
    line.field("literal", "text");  // a string, not a bool
    line.field("status", 200);
    line.field("negative", int64_t{-5});
    line.field("bytes", std::numeric_limits<uint64_t>::max());
    line.field("small", uint8_t{7});
    line.field("aborted", true);
    line.field("cached", false);
    line.field("duration_ms", 1.23456, 3);
    line.field("upstream_ms", 0.9, 1);
    line.field("whole", 2.0, 0);
    line.field("bad", std::numeric_limits<double>::quiet_NaN(), 3);
    line.rawField("raw", "[1,2]");
    line.field("q\"uote", std::string("a\nb"));
    line.end();
    CHECK(buf ==
          "prefix:{\"method\":\"GET\",\"literal\":\"text\",\"status\":200,\"negative\":-5,"
          "\"bytes\":18446744073709551615,\"small\":7,\"aborted\":true,\"cached\":false,"
          "\"duration_ms\":1.235,\"upstream_ms\":0.9,\"whole\":2,\"bad\":null,\"raw\":[1,2],"
          "\"q\\\"uote\":\"a\\u000ab\"}\n");

    // The object (without the prefix and the newline) is valid JSON.
    simdjson::dom::parser parser;
    simdjson::dom::element element;
    const std::string object = buf.substr(7, buf.size() - 8);
    REQUIRE(parser.parse(object).get(element) == simdjson::SUCCESS);
    int64_t status = 0;
    REQUIRE(element["status"].get(status) == simdjson::SUCCESS);
    CHECK(status == 200);
  }

  TEST_CASE("an empty line is an empty object") {
    std::string buf;
    JsonLine line(buf);
    line.end();
    CHECK(buf == "{}\n");
  }
}

}  // namespace jwtgate::observe

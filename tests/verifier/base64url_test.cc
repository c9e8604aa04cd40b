// Strict base64url: RFC 4648 vectors, one spelling per value, every refusal class.
#include "verifier/base64url.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

namespace jwtgate::verifier {
namespace {

TEST_SUITE("verifier/base64url") {
  TEST_CASE("the RFC 4648 section 10 vectors round-trip without padding") {
    struct Row {
      std::string_view plain;
      std::string_view encoded;
    };
    const Row rows[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (const Row& row : rows) {
      CAPTURE(row.plain);
      CHECK(base64UrlEncode(row.plain) == row.encoded);
      const auto decoded = base64UrlDecodeToString(row.encoded);
      REQUIRE(decoded);
      CHECK(*decoded == row.plain);
    }
  }

  TEST_CASE("the url-safe alphabet replaces + and / with - and _") {
    const std::string bytes("\xfb\xff\xbf", 3);
    CHECK(base64UrlEncode(bytes) == "-_-_");
    CHECK(base64UrlDecodeToString("-_-_") == bytes);
  }

  TEST_CASE("random byte strings of every length up to 64 round-trip") {
    std::mt19937 random(7);
    for (std::size_t length = 0; length <= 64; ++length) {
      std::string bytes(length, '\0');
      for (char& c : bytes) {
        c = static_cast<char>(random() & 0xff);
      }
      CAPTURE(length);
      const std::string encoded = base64UrlEncode(bytes);
      CHECK(encoded.size() == (length * 4 + 2) / 3);
      CHECK(base64UrlDecodedSize(encoded.size()) == length);
      CHECK(base64UrlDecodeToString(encoded) == bytes);
    }
  }

  TEST_CASE("non-canonical spellings are refused") {
    const std::string_view rejected[] = {
        "Zg==",     // padding
        "Zm8=",     // padding
        "Zm9v\n",   // trailing newline
        "Zm 9v",    // inner space
        " Zm9v",    // leading space
        "Zm9v\t",   // tab
        "+/+/",     // standard alphabet
        "Zm+v",     // one standard character
        "Zm/v",     // one standard character
        "Z",        // length % 4 == 1
        "Zm9vY",    // length % 4 == 1
        "Zh",       // "f" is Zg; Zh carries a non-zero unused bit
        "Zm9",      // "fo" is Zm8; Zm9 carries a non-zero unused bit
        "Zm9vYh",   // as Zh after a full quantum
        "Zm9vYmF",  // "fooba" is Zm9vYmE
        "Zm9v!",    // punctuation
        "Zm9v.",    // a dot inside a segment
    };
    for (const std::string_view text : rejected) {
      CAPTURE(text);
      CHECK_FALSE(base64UrlDecodeToString(text).has_value());
    }
  }

  TEST_CASE("every last character that differs only in unused bits is refused") {
    // "f" has exactly one spelling among Zg..Zv, although all decode to 0x66 if the low
    // four bits are ignored.
    int accepted = 0;
    for (const char c : std::string_view("ghijklmnopqrstuv")) {
      const std::string text = std::string("Z") + c;
      const auto decoded = base64UrlDecodeToString(text);
      if (decoded) {
        ++accepted;
        CHECK(text == "Zg");
        CHECK(*decoded == "f");
      }
    }
    CHECK(accepted == 1);
  }

  TEST_CASE("every byte outside the alphabet is refused at every position") {
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int byte = 0; byte < 256; ++byte) {
      if (alphabet.find(static_cast<char>(byte)) != std::string::npos) {
        continue;
      }
      for (std::size_t position = 0; position < 8; ++position) {
        std::string text = "Zm9vYmFy";
        text[position] = static_cast<char>(byte);
        CAPTURE(byte);
        CAPTURE(position);
        CHECK_FALSE(base64UrlDecodeToString(text).has_value());
      }
    }
  }

  TEST_CASE("an output buffer that is too small is refused, not overrun") {
    std::vector<std::uint8_t> out(2, 0xaa);
    CHECK_FALSE(base64UrlDecode("Zm9v", std::span<std::uint8_t>(out)).has_value());
    CHECK(out == std::vector<std::uint8_t>{0xaa, 0xaa});
    std::vector<std::uint8_t> exact(3);
    CHECK(base64UrlDecode("Zm9v", std::span<std::uint8_t>(exact)) == 3u);
  }
}

}  // namespace
}  // namespace jwtgate::verifier

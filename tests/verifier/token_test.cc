// Compact splitting, the validating JSON reader, and the JOSE header checks.
#include "verifier/token.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/token_minter.h"
#include "verifier/json_document.h"

namespace jwtgate::verifier {
namespace {

using namespace std::literals;
using testing::ParsedJson;

// `depth` nested arrays around a number ("0" alone for depth 0).
std::string nested(std::size_t depth) {
  return std::string(depth, '[') + "0" + std::string(depth, ']');
}

TEST_SUITE("verifier/token") {
  TEST_CASE("a compact token splits into three segments and the signing input") {
    const auto parts = splitCompact("aGVhZA.cGF5.c2ln");
    REQUIRE(parts);
    CHECK(parts->header == "aGVhZA");
    CHECK(parts->payload == "cGF5");
    CHECK(parts->signature == "c2ln");
    CHECK(parts->signing_input == "aGVhZA.cGF5");
  }

  TEST_CASE("an empty signature segment is left for the verifier to judge") {
    const auto parts = splitCompact("aGVhZA.cGF5.");
    REQUIRE(parts);
    CHECK(parts->signature.empty());
    CHECK(parts->signing_input == "aGVhZA.cGF5");
  }

  TEST_CASE("anything but three segments with a header and a payload is malformed") {
    const std::string_view rejected[] = {
        "",       "abc",     "a.b",       "a..c", ".b.c",  "..",
        "a.b.c.", "a.b.c.d", "a.b.c.d.e", "...",  "a.b..", "..c",
    };
    for (const std::string_view token : rejected) {
      CAPTURE(token);
      const auto parts = splitCompact(token);
      REQUIRE_FALSE(parts);
      CHECK(testing::name(parts.error()) == testing::name(Status::MalformedToken));
    }
  }

  TEST_CASE("the reader indexes every value of a valid object") {
    const ParsedJson doc(
        R"({"s":"x","n":-1.5e3,"t":true,"f":false,"z":null,"a":[1,"b",[]],"o":{"k":{}}})");
    REQUIRE_FALSE(doc.error());
    const ClaimsView view(doc.document());
    CHECK(view.find("s")->string() == "x");
    CHECK(view.find("n")->numberText() == "-1.5e3");
    CHECK(view.find("n")->number() == -1500.0);
    CHECK(view.find("t")->boolean());
    CHECK_FALSE(view.find("f")->boolean());
    CHECK(view.find("z")->isNull());
    CHECK(view.find("a")->size() == 3);
    CHECK(view.find("o")->member("k")->isObject());
    CHECK_FALSE(view.find("missing"));
  }

  TEST_CASE("escaped names and strings are unescaped into the arena") {
    const ParsedJson doc(R"({"\u0061b":"\"q\" \u00e9 \ud83d\ude00","plain":"p"})");
    REQUIRE_FALSE(doc.error());
    const ClaimsView view(doc.document());
    REQUIRE(view.find("ab"));
    CHECK(view.find("ab")->string() == "\"q\" \xc3\xa9 \xf0\x9f\x98\x80");
    CHECK(view.find("plain")->string() == "p");
    CHECK_FALSE(doc.arena().empty());
  }

  TEST_CASE("text that is not exactly one JSON object is refused") {
    const std::string_view rejected[] = {
        "",
        "   ",
        "\"Payload\"",
        "[]",
        "1",
        "null",
        "{",
        "{\"a\":1",
        "{\"a\":1}}",
        "{\"a\":1}{}",
        "{\"a\":1} x",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{'a':1}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{\"a\":}",
        "{\"a\":,\"b\":1}",
        "{\"a\"}",
        "{,}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":[,1]}",
        "{\"a\":]}",
        "{\"a\":\"x\"\"y\"}",
        "{\"a\":-}",
        "{\"a\":1.5e+}",
        "{\"a\":True}",
        "{\"a\":\"unterminated}",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":nul}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":1e}",
        "{\"a\":0x10}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":\"\\q\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"line\nbreak\"}",
        "\xef\xbb\xbf{\"a\":1}",
        "{\"a\":1}\x00"sv,
    };
    for (const std::string_view json : rejected) {
      CAPTURE(json);
      const ParsedJson doc(json);
      CHECK(doc.error() == JsonError::NotJson);
    }
  }

  TEST_CASE("invalid UTF-8 anywhere is refused") {
    const std::string_view rejected[] = {
        "{\"a\":\"\xff\"}",              // never valid
        "{\"a\":\"\xc3\"}",              // truncated sequence
        "{\"a\":\"\xc0\xaf\"}",          // overlong '/'
        "{\"a\":\"\xed\xa0\x80\"}",      // a UTF-16 surrogate
        "{\"a\":\"\xf4\x90\x80\x80\"}",  // beyond U+10FFFF
        "{\"\xfe\":1}",                  // in a name
    };
    for (const std::string_view json : rejected) {
      CAPTURE(json);
      const ParsedJson doc(json);
      CHECK(doc.error() == JsonError::NotJson);
    }
    CHECK_FALSE(ParsedJson("{\"a\":\"\xc3\xa9\xf0\x9f\x98\x80\"}").error());
  }

  TEST_CASE("duplicate member names are refused at every level, escaped or not") {
    const std::string_view rejected[] = {
        R"({"a":1,"a":2})",
        R"({"a":1,"\u0061":2})",
        R"({"\u0061":1,"a":2})",
        R"({"ab":1,"a\u0062":2})",
        R"({"x":{"a":1,"a":1}})",
        R"({"x":[{"a":1,"a":1}]})",
        R"({"x":[[{"deep":{"a":1,"a":1}}]]})",
        R"({"alg":"HS256","alg":"none"})",
        R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"a":11})",
    };
    for (const std::string_view json : rejected) {
      CAPTURE(json);
      const ParsedJson doc(json);
      CHECK(doc.error() == JsonError::DuplicateMember);
    }
  }

  TEST_CASE("equal names in different objects are not duplicates") {
    const ParsedJson doc(R"({"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"A":3})");
    CHECK_FALSE(doc.error());
  }

  TEST_CASE("nesting deeper than the limit is refused, the root counting as one") {
    for (const std::size_t limit : {1u, 2u, 16u}) {
      CAPTURE(limit);
      CHECK_FALSE(ParsedJson("{\"a\":" + nested(limit - 1) + "}", limit).error());
      CHECK(ParsedJson("{\"a\":" + nested(limit) + "}", limit).error() == JsonError::TooDeep);
    }
    CHECK(ParsedJson("{\"a\":" + nested(1000) + "}").error() == JsonError::TooDeep);
    CHECK(ParsedJson("{\"a\":" + std::string(5000, '[')).error().has_value());
  }

  TEST_CASE("large objects with many distinct members are accepted") {
    std::string json = "{";
    for (int i = 0; i < 2000; ++i) {
      json += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
    }
    json += "}";
    const ParsedJson doc(json);
    REQUIRE_FALSE(doc.error());
    CHECK(ClaimsView(doc.document()).find("k1999")->integer() == 1999);
  }

  TEST_CASE("header checks: alg, crit, typ and kid") {
    verifier::Policy policy = testing::testPolicy();
    policy.algorithms = AlgorithmSet();
    policy.algorithms.add(Algorithm::RS256);
    policy.algorithms.add(Algorithm::ES256);
    struct Row {
      std::string_view header;
      Status expected;
    };
    const Row rows[] = {
        {R"({"alg":"RS256"})", Status::Ok},
        {R"({"alg":"ES256","kid":"k1","typ":"JWT"})", Status::Ok},
        {R"({"typ":"JWT"})", Status::AlgorithmMissing},
        {R"({"alg":null})", Status::AlgorithmMissing},
        {R"({"alg":256})", Status::AlgorithmMissing},
        {R"({"alg":["RS256"]})", Status::AlgorithmMissing},
        {R"({"alg":"none"})", Status::AlgorithmUnsupported},
        {R"({"alg":"None"})", Status::AlgorithmUnsupported},
        {R"({"alg":"NONE"})", Status::AlgorithmUnsupported},
        {R"({"alg":"nOnE"})", Status::AlgorithmUnsupported},
        {R"({"alg":"none "})", Status::AlgorithmUnsupported},
        {R"({"alg":""})", Status::AlgorithmUnsupported},
        {R"({"alg":"rs256"})", Status::AlgorithmUnsupported},
        {R"({"alg":"RS256\u0000"})", Status::AlgorithmUnsupported},
        {R"({"alg":"HS256"})", Status::AlgorithmNotAllowed},
        {R"({"alg":"PS256"})", Status::AlgorithmNotAllowed},
        {R"({"alg":"RS256","crit":["exp"],"exp":1})", Status::UnsupportedCrit},
        {R"({"alg":"RS256","crit":[]})", Status::UnsupportedCrit},
        {R"({"alg":"RS256","crit":"b64","b64":false})", Status::UnsupportedCrit},
        {R"({"alg":"RS256","crit":["b64"],"b64":false})", Status::UnsupportedCrit},
        {R"({"alg":"RS256","crit":["x-unknown"],"x-unknown":1})", Status::UnsupportedCrit},
        {R"({"alg":"RS256","crit":null})", Status::UnsupportedCrit},
        {R"({"alg":"RS256","kid":7})", Status::KeyNotFound},
        {R"({"alg":"RS256","kid":null})", Status::KeyNotFound},
        {R"({"alg":"RS256","jwk":{"kty":"oct","k":"AAAA"},"jku":"http://x","x5u":"u",)"
         R"("x5c":["MII"]})",
         Status::Ok},
    };
    for (const Row& row : rows) {
      CAPTURE(row.header);
      const ParsedJson doc(row.header);
      REQUIRE_FALSE(doc.error());
      const auto header = readHeader(doc.document(), policy);
      CHECK(testing::name(header ? Status::Ok : header.error()) == testing::name(row.expected));
    }
  }

  TEST_CASE("a kid is returned unescaped, NUL bytes included") {
    const ParsedJson doc(R"({"alg":"RS256","kid":"a\u0000b"})");
    REQUIRE_FALSE(doc.error());
    const auto header = readHeader(doc.document(), testing::testPolicy());
    REQUIRE(header);
    REQUIRE(header->kid);
    CHECK(*header->kid == std::string_view("a\0b", 3));
  }

  TEST_CASE("typ is compared case-insensitively with application/ implied") {
    struct Row {
      std::string_view actual;
      std::string_view required;
      bool matches;
    };
    const Row rows[] = {
        {"JWT", "JWT", true},
        {"jwt", "JWT", true},
        {"at+jwt", "at+jwt", true},
        {"AT+JWT", "at+jwt", true},
        {"application/at+jwt", "at+jwt", true},
        {"at+jwt", "application/at+jwt", true},
        {"Application/AT+JWT", "at+jwt", true},
        {"application/at+jwt", "APPLICATION/at+jwt", true},
        {"JWT", "at+jwt", false},
        {"text/at+jwt", "at+jwt", false},
        {"application/jwt", "at+jwt", false},
        {"at+jwt ", "at+jwt", false},
        {"", "at+jwt", false},
        {"application/", "", false},
        {"application/at+jwt; x=1", "at+jwt", false},
    };
    for (const Row& row : rows) {
      CAPTURE(row.actual);
      CAPTURE(row.required);
      CHECK(mediaTypeMatches(row.actual, row.required) == row.matches);
    }
  }

  TEST_CASE("a required typ must be present and a string") {
    verifier::Policy policy = testing::testPolicy();
    policy.required_type = "at+jwt";
    struct Row {
      std::string_view header;
      Status expected;
    };
    const Row rows[] = {
        {R"({"alg":"RS256","typ":"at+jwt"})", Status::Ok},
        {R"({"alg":"RS256","typ":"application/at+JWT"})", Status::Ok},
        {R"({"alg":"RS256","typ":"JWT"})", Status::TypeMismatch},
        {R"({"alg":"RS256"})", Status::TypeMismatch},
        {R"({"alg":"RS256","typ":["at+jwt"]})", Status::TypeMismatch},
    };
    for (const Row& row : rows) {
      CAPTURE(row.header);
      const ParsedJson doc(row.header);
      REQUIRE_FALSE(doc.error());
      const auto header = readHeader(doc.document(), policy);
      CHECK(testing::name(header ? Status::Ok : header.error()) == testing::name(row.expected));
    }
  }
}

}  // namespace
}  // namespace jwtgate::verifier

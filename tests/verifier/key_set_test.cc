// Loading keys from JWKS and PEM: what loads, what is skipped, what fails the load, and the
// kid lookup of the request path.
#include "verifier/key_set.h"

#include <doctest/doctest.h>
#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "support/test_signer.h"
#include "verifier/base64url.h"
#include "verifier/jwk_parser.h"
#include "verifier/signature_test_util.h"

namespace jwtgate::verifier {
namespace {

using testing::base64UrlEncode;
using testing::TestSigner;

// A load the test expects to fail: returns the message (and checks the queue is clean).
std::string loadError(std::string_view jwks) {
  auto set = KeySet::fromJwks(jwks);
  CHECK(ERR_peek_error() == 0);
  if (set.ok()) {
    FAIL_CHECK("expected a load error, got " << set->size() << " keys");
    return {};
  }
  return set.error().message;
}

std::string pemError(std::string_view pem, const PemKeyOptions& options = {}) {
  auto set = KeySet::fromPem(pem, options);
  CHECK(ERR_peek_error() == 0);
  if (set.ok()) {
    FAIL_CHECK("expected a PEM load error, got " << set->size() << " keys");
    return {};
  }
  return set.error().message;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// Built by appending: GCC 12 at -O3 warns falsely (-Wrestrict) on "literal" + std::string.
std::string quoted(std::string_view text) {
  std::string out(1, '"');
  out.append(text);
  out.push_back('"');
  return out;
}

// A JWK text with `member` replaced by `value` (already JSON), or added when absent.
std::string withMember(std::string jwk, std::string_view member, std::string_view value) {
  const std::string key = quoted(member) + ":";
  const std::size_t at = jwk.find(key);
  if (at == std::string::npos) {
    jwk.insert(jwk.size() - 1, "," + key + std::string(value));
    return jwk;
  }
  const std::size_t start = at + key.size();
  const std::size_t end = jwk.find_first_of(",}", start);
  jwk.replace(start, end - start, value);
  return jwk;
}

// The decoded bytes of a base64url member of a JWK text.
std::string memberBytes(const std::string& jwk, std::string_view member) {
  const std::string key = quoted(member) + ":\"";
  const std::size_t start = jwk.find(key) + key.size();
  const std::size_t end = jwk.find('"', start);
  auto decoded = base64UrlDecodeToString(std::string_view(jwk).substr(start, end - start));
  REQUIRE(decoded.has_value());
  return *decoded;
}

std::string secretJwk(std::size_t size, std::string_view extra = "") {
  const std::string secret(size, 'k');
  return "{\"kty\":\"oct\",\"k\":" + quoted(base64UrlEncode(secret)) + std::string(extra) + "}";
}

TEST_SUITE("verifier/key_set") {
  TEST_CASE("a JWKS with one key of every type loads them all, with kid, type and curve") {
    const std::string jwks = "{\"keys\":[" + TestSigner::shared(Algorithm::RS256).publicJwk("rsa") +
                             "," + TestSigner::shared(Algorithm::ES256).publicJwk("p256") + "," +
                             TestSigner::shared(Algorithm::ES384).publicJwk("p384") + "," +
                             TestSigner::shared(Algorithm::ES512).publicJwk("p521") + "," +
                             TestSigner::shared(Algorithm::EdDSA).publicJwk("ed25519") + "," +
                             TestSigner::shared(Algorithm::Ed448).publicJwk("ed448") + "," +
                             TestSigner::shared(Algorithm::HS256).publicJwk("hmac") + "]}";
    const KeySet set = testing::loadJwks(jwks);
    REQUIRE(set.size() == 7);
    CHECK(set.skipped() == 0);
    struct Expected {
      std::string_view kid;
      KeyType type;
      Curve curve;
    };
    const Expected expected[] = {
        {"rsa", KeyType::Rsa, Curve::None},        {"p256", KeyType::Ec, Curve::P256},
        {"p384", KeyType::Ec, Curve::P384},        {"p521", KeyType::Ec, Curve::P521},
        {"ed25519", KeyType::Okp, Curve::Ed25519}, {"ed448", KeyType::Okp, Curve::Ed448},
        {"hmac", KeyType::Oct, Curve::None},
    };
    for (std::size_t i = 0; i < set.size(); ++i) {
      CAPTURE(expected[i].kid);
      const Key& key = *set.keys()[i];
      REQUIRE(key.kid().has_value());
      CHECK(*key.kid() == expected[i].kid);
      CHECK((key.type() == expected[i].type));
      CHECK((key.curve() == expected[i].curve));
      CHECK(!key.algorithm().has_value());
      CHECK((key.publicKey() != nullptr) == (expected[i].type != KeyType::Oct));
      CHECK(key.secret().empty() == (expected[i].type != KeyType::Oct));
    }
  }

  TEST_CASE("a single JWK without the keys wrapper loads as a set of one") {
    const KeySet set = testing::loadJwks(TestSigner::shared(Algorithm::ES256).publicJwk("a", true));
    REQUIRE(set.size() == 1);
    REQUIRE(set.keys()[0]->algorithm().has_value());
    CHECK((*set.keys()[0]->algorithm() == Algorithm::ES256));
  }

  TEST_CASE("Key::fits follows type, curve, the key's own alg and the HMAC secret length") {
    struct Row {
      std::string jwk;
      std::vector<Algorithm> fits;
    };
    const std::vector<Row> rows = {
        {TestSigner::shared(Algorithm::RS256).publicJwk(),
         {Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384,
          Algorithm::PS512}},
        {TestSigner::shared(Algorithm::RS256).publicJwk(std::nullopt, true), {Algorithm::RS256}},
        {TestSigner::shared(Algorithm::ES256).publicJwk(), {Algorithm::ES256}},
        {TestSigner::shared(Algorithm::ES384).publicJwk(), {Algorithm::ES384}},
        {TestSigner::shared(Algorithm::ES512).publicJwk(), {Algorithm::ES512}},
        {TestSigner::shared(Algorithm::EdDSA).publicJwk(), {Algorithm::EdDSA, Algorithm::Ed25519}},
        {TestSigner::shared(Algorithm::Ed448).publicJwk(), {Algorithm::EdDSA, Algorithm::Ed448}},
        {withMember(TestSigner::shared(Algorithm::EdDSA).publicJwk(), "alg", "\"Ed25519\""),
         {Algorithm::Ed25519}},
        {withMember(TestSigner::shared(Algorithm::EdDSA).publicJwk(), "alg", "\"EdDSA\""),
         {Algorithm::EdDSA}},
        {secretJwk(32), {Algorithm::HS256}},
        {secretJwk(48), {Algorithm::HS256, Algorithm::HS384}},
        {secretJwk(64), {Algorithm::HS256, Algorithm::HS384, Algorithm::HS512}},
        {secretJwk(64, ",\"alg\":\"HS384\""), {Algorithm::HS384}},
    };
    for (const Row& row : rows) {
      CAPTURE(row.jwk.substr(0, 60));
      const KeySet set = testing::loadJwks(row.jwk);
      REQUIRE(set.size() == 1);
      for (std::size_t index = 0; index < kAlgorithmCount; ++index) {
        const auto alg = static_cast<Algorithm>(index);
        CAPTURE(toString(alg));
        const bool expected = std::find(row.fits.begin(), row.fits.end(), alg) != row.fits.end();
        CHECK(set.keys()[0]->fits(alg) == expected);
      }
    }
  }

  TEST_CASE("an RSA key under 2048 bits is refused with a message naming it") {
    const auto weak = TestSigner::generate(Algorithm::RS256, 1024);
    const std::string jwks = "{\"keys\":[" + TestSigner::shared(Algorithm::ES256).publicJwk("ok") +
                             "," + weak.publicJwk("weak-one") + "]}";
    const std::string message = loadError(jwks);
    CHECK(contains(message, "key 1"));
    CHECK(contains(message, "weak-one"));
    CHECK(contains(message, "1024"));
    // Never the key material.
    const std::string n = weak.publicJwk();
    CHECK_FALSE(contains(message, n.substr(n.find("\"n\":\"") + 5, 20)));

    // The same through PEM.
    CHECK(contains(pemError(weak.publicPem(), {"pem-kid", std::nullopt}), "1024"));
  }

  TEST_CASE("RSA keys of 2048, 3072 and 4096 bits load") {
    for (const int bits : {2048, 3072, 4096}) {
      CAPTURE(bits);
      const auto signer = bits == 2048 ? TestSigner::shared(Algorithm::RS256)
                                       : TestSigner::generate(Algorithm::RS256, bits);
      const KeySet set = testing::loadJwks(signer.jwks());
      CHECK(set.size() == 1);
    }
  }

  TEST_CASE("an RSA modulus with leading zero octets is accepted as the same key") {
    const TestSigner& signer = TestSigner::shared(Algorithm::RS256);
    const std::string jwk = signer.publicJwk();
    const std::string n = std::string(2, '\0') + memberBytes(jwk, "n");
    const KeySet set = testing::loadJwks(withMember(jwk, "n", quoted(base64UrlEncode(n))));
    REQUIRE(set.size() == 1);
    const std::string_view input = "a.b";
    CHECK(testing::verifyClean(*set.keys()[0], Algorithm::RS256, input, signer.sign(input)));
  }

  TEST_CASE("an RSA key with a bad or huge exponent, or a huge modulus, is refused") {
    const std::string jwk = TestSigner::shared(Algorithm::RS256).publicJwk("e");
    struct Row {
      std::string e;
      std::string_view message;
    };
    const Row rows[] = {
        {std::string(1, '\x01'), "odd and greater than 1"},
        {std::string(1, '\x02'), "odd and greater than 1"},
        {std::string("\x01\x00\x00", 3), "odd and greater than 1"},
        {std::string(9, '\x01'), "exponent is larger than 64 bits"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.message);
      CHECK(contains(loadError(withMember(jwk, "e", quoted(base64UrlEncode(row.e)))), row.message));
    }
    // e = 3 is a valid (if unusual) exponent and loads.
    CHECK(KeySet::fromJwks(withMember(jwk, "e", "\"Aw\"")).ok());

    // An even modulus is not an RSA modulus.
    std::string even = memberBytes(jwk, "n");
    even.back() = static_cast<char>(even.back() & ~1);
    CHECK(contains(loadError(withMember(jwk, "n", quoted(base64UrlEncode(even)))), "even"));

    // A modulus beyond 16384 bits is refused before any expensive check runs on it.
    std::string huge(2049, '\xff');
    CHECK(contains(loadError(withMember(jwk, "n", quoted(base64UrlEncode(huge)))), "16392 bits"));
  }

  TEST_CASE("an HMAC secret shorter than 32 bytes, or than the hash of its alg, is refused") {
    struct Row {
      std::size_t size;
      std::string_view alg;  // "" for none
      bool loads;
    };
    const Row rows[] = {
        {1, "", false},       {16, "", false},      {31, "", false},      {32, "", true},
        {31, "HS256", false}, {32, "HS256", true},  {32, "HS384", false}, {47, "HS384", false},
        {48, "HS384", true},  {48, "HS512", false}, {63, "HS512", false}, {64, "HS512", true},
        {200, "HS256", true},
    };
    for (const Row& row : rows) {
      CAPTURE(row.size);
      CAPTURE(row.alg);
      const std::string extra = row.alg.empty() ? "" : ",\"alg\":" + quoted(row.alg);
      const std::string jwk = secretJwk(row.size, extra + ",\"kid\":\"s\"");
      auto set = KeySet::fromJwks(jwk);
      CHECK(ERR_peek_error() == 0);
      REQUIRE(set.ok() == row.loads);
      if (!row.loads) {
        CHECK(contains(set.error().message, "kid \"s\""));
        CHECK(contains(set.error().message, "too short"));
        CHECK_FALSE(contains(set.error().message, base64UrlEncode(std::string(row.size, 'k'))));
      }
    }
    CHECK(contains(loadError("{\"kty\":\"oct\",\"k\":\"\"}"), "empty"));
    CHECK(contains(loadError("{\"kty\":\"oct\"}"), "\"k\" is missing"));
  }

  TEST_CASE("keys for encryption or for other operations are skipped and counted") {
    const std::string rsa = TestSigner::shared(Algorithm::RS256).publicJwk();
    const std::string ec = TestSigner::shared(Algorithm::ES256).publicJwk();
    struct Row {
      std::string jwk;
      bool used;
    };
    const std::vector<Row> rows = {
        {withMember(rsa, "use", "\"enc\""), false},
        {withMember(ec, "use", "\"enc\""), false},
        {withMember(secretJwk(32), "use", "\"enc\""), false},
        {withMember(rsa, "use", "\"something\""), false},
        {withMember(rsa, "use", "\"sig\""), true},
        {withMember(rsa, "key_ops", "[\"encrypt\",\"wrapKey\"]"), false},
        {withMember(rsa, "key_ops", "[]"), false},
        {withMember(rsa, "key_ops", "[\"sign\",\"verify\"]"), true},
        {withMember(rsa, "alg", "\"RSA-OAEP-256\""), false},
        {withMember(ec, "alg", "\"ECDH-ES\""), false},
        {withMember(rsa, "alg", "\"none\""), false},
        {"{\"kty\":\"XYZ\",\"kid\":\"future\"}", false},
        {"{\"kty\":\"rsa\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", false},  // kty is case-sensitive
        {withMember(ec, "crv", "\"secp256k1\""), false},
        {"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" + std::string(43, 'A') + "\"}", false},
    };
    std::string jwks = "{\"keys\":[";
    std::size_t used = 0;
    for (const Row& row : rows) {
      CAPTURE(row.jwk.substr(0, 80));
      const KeySet one = testing::loadJwks(row.jwk);
      CHECK(one.size() == (row.used ? 1u : 0u));
      CHECK(one.skipped() == (row.used ? 0u : 1u));
      jwks += row.jwk + ",";
      used += row.used ? 1 : 0;
    }
    jwks.back() = ']';
    const KeySet all = testing::loadJwks(jwks + "}");
    CHECK(all.size() == used);
    CHECK(all.skipped() == rows.size() - used);
  }

  TEST_CASE("a JWKS of more keys than the cap is refused, skipped entries included") {
    const std::string ec = TestSigner::shared(Algorithm::ES256).publicJwk();
    const std::string skipped = "{\"kty\":\"XYZ\"}";
    // `count` entries: real EC keys (each with its own kid), or entries that would be skipped.
    const auto jwksOf = [&](std::size_t count, bool real) {
      std::string jwks = "{\"keys\":[";
      for (std::size_t i = 0; i < count; ++i) {
        jwks += real ? withMember(ec, "kid", quoted("k" + std::to_string(i))) : skipped;
        jwks += i + 1 < count ? "," : "";
      }
      return jwks + "]}";
    };
    REQUIRE(kMaxKeysPerSet == 1000);

    const KeySet at_cap = testing::loadJwks(jwksOf(kMaxKeysPerSet, true));
    CHECK(at_cap.size() == kMaxKeysPerSet);
    const KeySet skipped_at_cap = testing::loadJwks(jwksOf(kMaxKeysPerSet, false));
    CHECK(skipped_at_cap.skipped() == kMaxKeysPerSet);

    for (const bool real : {true, false}) {
      CAPTURE(real);
      const std::string error = loadError(jwksOf(kMaxKeysPerSet + 1, real));
      CHECK(contains(error, "more than 1000 keys (1001)"));
    }
  }

  TEST_CASE("PEM input of more keys than the cap is refused") {
    const std::string pem = TestSigner::shared(Algorithm::ES256).publicPem();
    std::string at_cap;
    for (std::size_t i = 0; i < kMaxKeysPerSet; ++i) {
      at_cap += pem;
    }
    auto loaded = KeySet::fromPem(at_cap, {});
    REQUIRE(loaded.ok());
    CHECK(loaded->size() == kMaxKeysPerSet);
    CHECK(contains(pemError(at_cap + pem), "more than 1000 keys"));
  }

  TEST_CASE("bad base64url in a key member is refused") {
    const std::string jwk = TestSigner::shared(Algorithm::RS256).publicJwk("b64");
    const std::string n = memberBytes(jwk, "n");
    const std::string good = base64UrlEncode(n);
    const std::string bad[] = {
        good + "=",                                  // padding
        good + "==",                                 //
        good.substr(0, 10) + "+" + good.substr(11),  // base64, not base64url
        good.substr(0, 10) + "/" + good.substr(11),  //
        good.substr(0, 10) + " " + good.substr(11),  // whitespace
        good.substr(0, 10) + "\\n" + good.substr(11),
        good + std::string((5 - good.size() % 4) % 4, 'A'),  // length % 4 == 1
        good.substr(0, 10) + "." + good.substr(11),          //
    };
    for (std::size_t i = 0; i < std::size(bad); ++i) {
      CAPTURE(i);
      const std::string message = loadError(withMember(jwk, "n", quoted(bad[i])));
      CHECK(contains(message, "\"n\""));
      CHECK(contains(message, "base64url"));
      CHECK(contains(message, "kid \"b64\""));
    }
    // Non-canonical spellings: the unused low bits of the last character are set ("AQB" has
    // two of them, "AR" four), so they would decode to the same bytes as "AQA" and "AQ".
    CHECK(contains(loadError(withMember(jwk, "e", "\"AQB\"")), "base64url"));
    CHECK(contains(loadError(withMember(jwk, "e", "\"AR\"")), "base64url"));
    CHECK(contains(loadError(withMember(jwk, "n", "\"\"")), "empty"));
    CHECK(contains(loadError(withMember(jwk, "n", "123")), "must be a string"));
  }

  TEST_CASE("an EC point off the curve, or coordinates of the wrong length, are refused") {
    struct Row {
      Algorithm alg;
      std::size_t field;
    };
    for (const Row row :
         {Row{Algorithm::ES256, 32}, Row{Algorithm::ES384, 48}, Row{Algorithm::ES512, 66}}) {
      CAPTURE(toString(row.alg));
      const std::string jwk = TestSigner::shared(row.alg).publicJwk("ec");
      const std::string x = memberBytes(jwk, "x");
      std::string y = memberBytes(jwk, "y");

      // y + 1 (in the last byte) is not on the curve for the same x.
      std::string off = y;
      off.back() = static_cast<char>(off.back() ^ 0x01);
      CHECK(contains(loadError(withMember(jwk, "y", quoted(base64UrlEncode(off)))), "not a valid"));

      // The point at "infinity" and all-zero coordinates.
      const std::string zero(row.field, '\0');
      CHECK(contains(loadError(withMember(withMember(jwk, "x", quoted(base64UrlEncode(zero))), "y",
                                          quoted(base64UrlEncode(zero)))),
                     "not a valid"));

      // One byte short, one byte long (even a leading zero), and a missing coordinate.
      const std::string shorter = y.substr(1);
      const std::string longer = std::string(1, '\0') + y;
      for (const std::string& bad : {shorter, longer}) {
        CAPTURE(bad.size());
        CHECK(contains(loadError(withMember(jwk, "y", quoted(base64UrlEncode(bad)))),
                       "exactly " + std::to_string(row.field)));
        CHECK(contains(loadError(withMember(jwk, "x", quoted(base64UrlEncode(bad)))),
                       "exactly " + std::to_string(row.field)));
      }
      CHECK(contains(loadError("{\"kty\":\"EC\",\"crv\":\"" +
                               std::string(row.alg == Algorithm::ES256   ? "P-256"
                                           : row.alg == Algorithm::ES384 ? "P-384"
                                                                         : "P-521") +
                               "\",\"x\":" + quoted(base64UrlEncode(x)) + "}"),
                     "\"y\" is missing"));
    }
    CHECK(contains(loadError("{\"kty\":\"EC\",\"x\":\"AA\",\"y\":\"AA\"}"), "\"crv\" is missing"));
  }

  TEST_CASE("an OKP key of the wrong length is refused") {
    const std::string ed25519 = TestSigner::shared(Algorithm::EdDSA).publicJwk();
    const std::string x = memberBytes(ed25519, "x");
    CHECK(contains(loadError(withMember(ed25519, "x", quoted(base64UrlEncode(x.substr(1))))),
                   "exactly 32"));
    CHECK(contains(loadError(withMember(ed25519, "x", quoted(base64UrlEncode(x + "x")))),
                   "exactly 32"));
    const std::string ed448 = TestSigner::shared(Algorithm::Ed448).publicJwk();
    CHECK(contains(loadError(withMember(ed448, "x", quoted(base64UrlEncode(x)))), "exactly 57"));
  }

  TEST_CASE("a JWK that names a member twice is refused") {
    const std::string rsa = TestSigner::shared(Algorithm::RS256).publicJwk("dup");
    const std::string ec = TestSigner::shared(Algorithm::ES256).publicJwk("dup");
    const std::string rows[] = {
        "{\"kty\":\"RSA\"," + rsa.substr(1),
        withMember(rsa, "x5t", "\"a\",\"x5t\":\"a\""),
        rsa.substr(0, rsa.size() - 1) + ",\"kid\":\"other\"}",
        rsa.substr(0, rsa.size() - 1) + ",\"n\":\"AQAB\"}",
        ec.substr(0, ec.size() - 1) + ",\"crv\":\"P-256\"}",
        ec.substr(0, ec.size() - 1) + ",\"\\u0079\":\"AA\"}",  // "y" spelled with an escape
    };
    for (const std::string& jwk : rows) {
      CAPTURE(jwk.substr(0, 40));
      CHECK(contains(loadError("{\"keys\":[" + jwk + "]}"), "appears twice"));
    }
    CHECK(contains(loadError("{\"keys\":[],\"keys\":[" + rsa + "]}"), "appears twice"));
  }

  TEST_CASE("a JWKS carrying private key members is refused, naming the member only") {
    const std::string rsa = TestSigner::shared(Algorithm::RS256).publicJwk("leak");
    const std::string ec = TestSigner::shared(Algorithm::ES256).publicJwk("leak");
    const std::string okp = TestSigner::shared(Algorithm::EdDSA).publicJwk("leak");
    const std::string secret = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw";
    for (const std::string_view member : {"d", "p", "q", "dp", "dq", "qi"}) {
      for (const std::string& jwk : {rsa, ec, okp}) {
        CAPTURE(member);
        CAPTURE(jwk.substr(0, 20));
        const std::string message = loadError(withMember(jwk, member, quoted(secret)));
        CHECK(contains(message, "private key member \"" + std::string(member) + "\""));
        CHECK(contains(message, "kid \"leak\""));
        CHECK_FALSE(contains(message, secret));
      }
    }
    CHECK(contains(loadError(withMember(rsa, "oth", "[]")), "\"oth\""));
  }

  TEST_CASE("a JWK whose alg does not fit its key is refused") {
    struct Row {
      std::string jwk;
      std::string_view alg;
    };
    const std::vector<Row> rows = {
        {TestSigner::shared(Algorithm::RS256).publicJwk(), "ES256"},
        {TestSigner::shared(Algorithm::RS256).publicJwk(), "HS256"},
        {TestSigner::shared(Algorithm::RS256).publicJwk(), "EdDSA"},
        {TestSigner::shared(Algorithm::ES256).publicJwk(), "ES384"},
        {TestSigner::shared(Algorithm::ES512).publicJwk(), "ES256"},
        {TestSigner::shared(Algorithm::ES256).publicJwk(), "RS256"},
        {TestSigner::shared(Algorithm::EdDSA).publicJwk(), "Ed448"},
        {TestSigner::shared(Algorithm::Ed448).publicJwk(), "Ed25519"},
        {TestSigner::shared(Algorithm::EdDSA).publicJwk(), "ES256"},
        {secretJwk(64), "RS256"},
        {secretJwk(64), "ES256"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.jwk.substr(0, 40));
      CAPTURE(row.alg);
      CHECK(contains(loadError(withMember(row.jwk, "alg", quoted(row.alg))), "does not fit"));
    }
  }

  TEST_CASE("documents that are not a key set are refused") {
    const std::string rows[] = {
        "",
        "[]",
        "null",
        "\"keys\"",
        "{",
        "{}",
        "{\"keys\":{}}",
        "{\"keys\":\"x\"}",
        "{\"keys\":[1]}",
        "{\"keys\":[[]]}",
        "{\"keys\":[{}]}",
        "{\"keys\":[{\"kty\":1}]}",
        "{\"kty\":\"RSA\",\"keys\":[]}",
        "{\"keys\":[]} trailing",
        "\xff\xfe",
    };
    for (const std::string& json : rows) {
      CAPTURE(json);
      loadError(json);
    }
    // An empty key set is a valid document; whether that is acceptable is the caller's call.
    const KeySet empty = testing::loadJwks("{\"keys\":[]}");
    CHECK(empty.size() == 0);
  }

  TEST_CASE("kid is compared byte for byte and is never interpreted") {
    const TestSigner& signer = TestSigner::shared(Algorithm::ES256);
    using namespace std::string_literals;
    // JSON spellings and the kid they decode to.
    struct Row {
      std::string json;
      std::string kid;
    };
    const std::vector<Row> rows = {
        {"key-1", "key-1"},
        {"Key-1", "Key-1"},
        {"key-1 ", "key-1 "},
        {"a\\u0000b", "a\0b"s},
        {"../../etc/passwd", "../../etc/passwd"},
        {"' OR 1=1 --", "' OR 1=1 --"},
        {"\\u00e9", "\xc3\xa9"},
        {"", ""},
    };
    std::string jwks = "{\"keys\":[";
    for (const Row& row : rows) {
      jwks += signer.publicJwk(row.json) + ",";
    }
    jwks += signer.publicJwk() + "]}";  // one key without a kid
    const KeySet set = testing::loadJwks(jwks);
    REQUIRE(set.size() == rows.size() + 1);

    std::array<const Key*, 16> out{};
    for (std::size_t i = 0; i < rows.size(); ++i) {
      CAPTURE(rows[i].json);
      REQUIRE(set.candidates(rows[i].kid, out) == 1);
      CHECK(out[0] == set.keys()[i].get());
    }
    const std::string misses[] = {"KEY-1", "key-1\0"s, "a",         "a\0"s,   "a\0b\0"s,
                                  "..",    "\xc3",     "e\xcc\x81", " key-1", "key-2"};
    for (const std::string& kid : misses) {
      CAPTURE(kid);
      CHECK(set.candidates(kid, out) == 0);
    }

    // No kid in the token: every key is a candidate, up to the room given.
    CHECK(set.candidates(std::nullopt, out) == set.size());
    CHECK(set.candidates(std::nullopt, std::span(out).first(3)) == 3);
    CHECK(set.candidates("key-1", std::span(out).first(0)) == 0);
  }

  TEST_CASE("several keys may share a kid and are all candidates") {
    const std::string jwks = "{\"keys\":[" +
                             TestSigner::shared(Algorithm::RS256).publicJwk("same") + "," +
                             TestSigner::shared(Algorithm::ES256).publicJwk("same") + "]}";
    const KeySet set = testing::loadJwks(jwks);
    std::array<const Key*, 4> out{};
    CHECK(set.candidates("same", out) == 2);
  }

  TEST_CASE("PEM public keys of RSA, EC and EdDSA load with the configured kid and alg") {
    for (const Algorithm alg : {Algorithm::RS256, Algorithm::ES256, Algorithm::ES384,
                                Algorithm::ES512, Algorithm::EdDSA, Algorithm::Ed448}) {
      CAPTURE(toString(alg));
      const TestSigner& signer = TestSigner::shared(alg);
      auto set = KeySet::fromPem(signer.publicPem(), PemKeyOptions{"pem-1", alg});
      CHECK(ERR_peek_error() == 0);
      REQUIRE_MESSAGE(set.ok(), (set.ok() ? "" : set.error().message));
      REQUIRE(set->size() == 1);
      const Key& key = *set->keys()[0];
      CHECK(key.kid() == std::optional<std::string>("pem-1"));
      CHECK(key.fits(alg));
      const std::string_view input = "header.payload";
      CHECK(testing::verifyClean(key, alg, input, signer.sign(input)));
    }
  }

  TEST_CASE("several PEM blocks load as several keys; text around them is ignored") {
    const std::string pem = "comment line\n" + TestSigner::shared(Algorithm::RS256).publicPem() +
                            "\n" + TestSigner::shared(Algorithm::ES256).publicPem() + "tail\n";
    auto set = KeySet::fromPem(pem, {});
    REQUIRE(set.ok());
    CHECK(set->size() == 2);
    CHECK_FALSE(set->keys()[0]->kid().has_value());
  }

  TEST_CASE("PEM input that is not an SPKI public key, or a weak one, is refused") {
    const std::string rsa = TestSigner::shared(Algorithm::RS256).publicPem();
    std::string corrupt = rsa;
    corrupt[40] = corrupt[40] == 'A' ? 'B' : 'A';
    std::string truncated = rsa;
    truncated.erase(60, 20);
    const std::string body = rsa.substr(rsa.find('\n') + 1);
    const std::string rows[] = {
        "",
        "not a pem at all",
        corrupt,
        truncated,
        "-----BEGIN RSA PUBLIC KEY-----\n" + body.substr(0, body.find("-----END")) +
            "-----END RSA PUBLIC KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        rsa + "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
    };
    for (const std::string& pem : rows) {
      CAPTURE(pem.substr(0, 40));
      pemError(pem);
    }
    CHECK(contains(pemError(rsa, {"k", Algorithm::ES256}), "does not fit"));
    CHECK(contains(
        pemError(TestSigner::shared(Algorithm::ES256).publicPem(), {"k", Algorithm::ES384}),
        "does not fit"));
    CHECK(contains(pemError(rsa, {"k", Algorithm::HS256}), "does not fit"));
  }

  TEST_CASE("merging key sets keeps every key and the skipped count") {
    KeySet first =
        testing::loadJwks("{\"keys\":[" + TestSigner::shared(Algorithm::RS256).publicJwk("a") +
                          ",{\"kty\":\"XYZ\"}]}");
    KeySet second = testing::loadJwks(TestSigner::shared(Algorithm::ES256).publicJwk("b"));
    first.merge(std::move(second));
    CHECK(first.size() == 2);
    CHECK(first.skipped() == 1);
    std::array<const Key*, 2> out{};
    CHECK(first.candidates("b", out) == 1);
  }

  TEST_CASE("a kid in a load error is escaped and shortened") {
    const std::string long_kid(100, 'z');
    const std::string message = loadError(secretJwk(8, ",\"kid\":\"" + long_kid + "\""));
    CHECK(contains(message, std::string(64, 'z') + "\"..."));
    CHECK_FALSE(contains(message, std::string(65, 'z')));
    const std::string control = loadError(secretJwk(8, ",\"kid\":\"a\\nb\\u0000\""));
    CHECK(contains(control, "a\\x0ab\\x00"));
  }
}

}  // namespace
}  // namespace jwtgate::verifier

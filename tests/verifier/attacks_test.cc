// Known attacks on JWT verifiers, each class with several concrete tokens, through the full
// Verifier with real keys: every one must be refused with the expected status.
#include <doctest/doctest.h>
#include <openssl/err.h>

#include <random>
#include <string>
#include <vector>

#include "support/test_signer.h"
#include "support/token_minter.h"
#include "verifier/base64url.h"
#include "verifier/verifier.h"

namespace jwtgate::verifier {
namespace {

using testing::compactToken;
using testing::keySetFromJwks;
using testing::kTestNow;
using testing::name;
using testing::testPolicy;
using testing::TestSigner;
using testing::validPayload;

Status statusOf(const Result<VerifiedToken, Status>& result) {
  return result ? Status::Ok : result.error();
}

// header.payload signed by `signer` as `alg`, whatever the header claims.
std::string signAs(const TestSigner& signer, Algorithm alg, std::string_view header,
                   std::string_view payload) {
  const std::string input =
      testing::base64UrlEncode(header) + "." + testing::base64UrlEncode(payload);
  return input + "." + testing::base64UrlEncode(signer.sign(alg, input));
}

std::string hsToken(std::string_view header, std::string_view payload) {
  return signAs(TestSigner::shared(Algorithm::HS256), Algorithm::HS256, header, payload);
}

// A row: what the token is, the token, and the status the verifier must answer.
struct Attack {
  std::string label;
  std::string token;
  Status expected;
};

void expectAll(const std::vector<Attack>& attacks, const KeySet& keys,
               const Policy& policy = testPolicy()) {
  Verifier verifier;
  for (const Attack& attack : attacks) {
    CAPTURE(attack.label);
    CHECK(name(statusOf(verifier.verify(attack.token, policy, keys, kTestNow))) ==
          name(attack.expected));
    CHECK(ERR_peek_error() == 0);
    ERR_clear_error();
  }
}

const KeySet& hsKeys() {
  static const KeySet keys = keySetFromJwks(TestSigner::shared(Algorithm::HS256).jwks("k1"));
  return keys;
}

// A payload with `member` (JSON text "name":value) replacing the default exp.
std::string payloadWith(std::string_view member) {
  return R"({"iss":"https://issuer.test","aud":"api",)" + std::string(member) + "}";
}

std::string deepArray(std::size_t depth) {
  return std::string(depth, '[') + "1" + std::string(depth, ']');
}

TEST_SUITE("verifier/attacks") {
  TEST_CASE("unsigned and signature-stripped tokens are refused") {
    const std::string header = testing::base64UrlEncode(R"({"alg":"none"})");
    const std::string hs_header = testing::base64UrlEncode(R"({"alg":"HS256"})");
    const std::string payload = testing::base64UrlEncode(validPayload());
    const std::string valid = hsToken(R"({"alg":"HS256"})", validPayload());
    const std::string stripped = valid.substr(0, valid.rfind('.'));
    expectAll(
        {
            {"alg none, empty signature", header + "." + payload + ".",
             Status::AlgorithmUnsupported},
            {"alg none, no signature segment", header + "." + payload, Status::MalformedToken},
            {"HS256, empty signature", hs_header + "." + payload + ".", Status::MalformedToken},
            {"valid token with its signature removed", stripped + ".", Status::MalformedToken},
            {"valid token without its last segment", stripped, Status::MalformedToken},
            {"alg none with a signature", header + "." + payload + ".AAAA",
             Status::AlgorithmUnsupported},
            {"header only", header, Status::MalformedToken},
            {"JWE-shaped, five segments", valid + ".AAAA.AAAA", Status::MalformedToken},
        },
        hsKeys());
  }

  TEST_CASE("alg none is refused in every spelling, even when correctly MACed") {
    std::vector<Attack> attacks;
    for (const std::string_view alg : {"none", "None", "NONE", "nOnE", "none\\u0000", " none"}) {
      const std::string header = "{\"alg\":\"" + std::string(alg) + "\"}";
      attacks.push_back({header, hsToken(header, validPayload()), Status::AlgorithmUnsupported});
      attacks.push_back({header + " unsigned", compactToken(header, validPayload(), "x"),
                         Status::AlgorithmUnsupported});
    }
    expectAll(attacks, hsKeys());
  }

  TEST_CASE("HMAC with a public key as the secret is refused (algorithm confusion)") {
    const TestSigner& rsa = TestSigner::shared(Algorithm::RS256);
    const TestSigner& ec = TestSigner::shared(Algorithm::ES256);
    std::vector<Attack> attacks;
    for (const TestSigner* victim : {&rsa, &ec}) {
      const std::string pem = victim->publicPem();
      const std::string jwk = victim->publicJwk("k1");
      for (const std::string_view secret : {std::string_view(pem), std::string_view(jwk)}) {
        const std::vector<std::uint8_t> bytes(secret.begin(), secret.end());
        const TestSigner forger = TestSigner::fromSecret(Algorithm::HS256, bytes);
        for (const std::string_view header : {R"({"alg":"HS256","kid":"k1"})", R"({"alg":"HS256"})",
                                              R"({"alg":"HS512","kid":"k1"})"}) {
          const Algorithm alg = std::string_view(header).find("HS512") != std::string_view::npos
                                    ? Algorithm::HS512
                                    : Algorithm::HS256;
          attacks.push_back({std::string(header) +
                                 " secret=" + (secret.data() == pem.data() ? "PEM" : "JWK") +
                                 (victim == &rsa ? " RSA" : " EC"),
                             signAs(forger, alg, header, validPayload()), Status::NoMatchingKey});
        }
      }
    }
    const KeySet keys =
        keySetFromJwks(R"({"keys":[)" + rsa.publicJwk("k1") + "," + ec.publicJwk("ec") + "]}");
    expectAll(attacks, keys);

    // The same through keys loaded from PEM, which carry no "alg" of their own.
    const std::string rsa_pem = rsa.publicPem();
    auto pem_keys = KeySet::fromPem(rsa_pem, PemKeyOptions{std::string("k1"), {}});
    REQUIRE(pem_keys);
    const TestSigner forger = TestSigner::fromSecret(
        Algorithm::HS256, std::vector<std::uint8_t>(rsa_pem.begin(), rsa_pem.end()));
    expectAll({{"PEM key set",
                signAs(forger, Algorithm::HS256, R"({"alg":"HS256","kid":"k1"})", validPayload()),
                Status::NoMatchingKey}},
              *pem_keys);
  }

  TEST_CASE("a token algorithm that does not fit the key type or the key's own alg fails") {
    const TestSigner& rsa = TestSigner::shared(Algorithm::RS256);
    const TestSigner& p256 = TestSigner::shared(Algorithm::ES256);
    const TestSigner& p384 = TestSigner::shared(Algorithm::ES384);
    const TestSigner& ed25519 = TestSigner::shared(Algorithm::EdDSA);
    const TestSigner& ed448 = TestSigner::shared(Algorithm::Ed448);
    // Keys published with "alg": each may verify only that algorithm.
    const KeySet keys =
        keySetFromJwks(R"({"keys":[)" + rsa.publicJwk("rsa", true) + "," +
                       p256.publicJwk("p256", true) + "," + p384.publicJwk("p384", true) + "," +
                       ed25519.publicJwk("ed25519") + "," + ed448.publicJwk("ed448") + "]}");
    const std::string payload = validPayload();
    expectAll(
        {
            {"RS256 with the RS256 key (control)",
             signAs(rsa, Algorithm::RS256, R"({"alg":"RS256","kid":"rsa"})", payload), Status::Ok},
            {"PS256 signed by the RSA key published as RS256",
             signAs(rsa, Algorithm::PS256, R"({"alg":"PS256","kid":"rsa"})", payload),
             Status::NoMatchingKey},
            {"RS512 signed by the RSA key published as RS256",
             signAs(rsa, Algorithm::RS512, R"({"alg":"RS512","kid":"rsa"})", payload),
             Status::NoMatchingKey},
            {"ES256 naming the RSA key",
             signAs(p256, Algorithm::ES256, R"({"alg":"ES256","kid":"rsa"})", payload),
             Status::NoMatchingKey},
            {"ES384 naming the P-256 key",
             signAs(p384, Algorithm::ES384, R"({"alg":"ES384","kid":"p256"})", payload),
             Status::NoMatchingKey},
            {"RS256 naming the P-256 key",
             signAs(rsa, Algorithm::RS256, R"({"alg":"RS256","kid":"p256"})", payload),
             Status::NoMatchingKey},
            {"Ed25519 naming the Ed448 key",
             signAs(ed25519, Algorithm::Ed25519, R"({"alg":"Ed25519","kid":"ed448"})", payload),
             Status::NoMatchingKey},
            {"Ed448 naming the Ed25519 key",
             signAs(ed448, Algorithm::Ed448, R"({"alg":"Ed448","kid":"ed25519"})", payload),
             Status::NoMatchingKey},
            {"EdDSA with the Ed448 key (control)",
             signAs(ed448, Algorithm::EdDSA, R"({"alg":"EdDSA","kid":"ed448"})", payload),
             Status::Ok},
            {"HS256 naming the Ed25519 key", hsToken(R"({"alg":"HS256","kid":"ed25519"})", payload),
             Status::NoMatchingKey},
        },
        keys);
  }

  TEST_CASE("keys carried by the token header are never used") {
    const TestSigner& legit = TestSigner::shared(Algorithm::RS256);
    const TestSigner attacker = TestSigner::generate(Algorithm::RS256);
    const TestSigner attacker_hs = TestSigner::generate(Algorithm::HS256);
    const std::string attacker_jwk = attacker.publicJwk("k1");
    const KeySet keys = keySetFromJwks(legit.jwks("k1"));
    const std::string payload = validPayload();
    auto forged = [&](std::string_view extra) {
      const std::string header = R"({"alg":"RS256","kid":"k1",)" + std::string(extra) + "}";
      return signAs(attacker, Algorithm::RS256, header, payload);
    };
    expectAll(
        {
            {"embedded jwk", forged("\"jwk\":" + attacker_jwk), Status::SignatureInvalid},
            {"embedded jwk without kid",
             signAs(attacker, Algorithm::RS256, R"({"alg":"RS256","jwk":)" + attacker_jwk + "}",
                    payload),
             Status::SignatureInvalid},
            {"jku on loopback", forged(R"("jku":"http://127.0.0.1:9/jwks.json")"),
             Status::SignatureInvalid},
            {"x5u", forged(R"("x5u":"http://127.0.0.1:9/cert.pem")"), Status::SignatureInvalid},
            {"x5c", forged(R"("x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"])"),
             Status::SignatureInvalid},
            {"embedded oct jwk with HS256",
             signAs(attacker_hs, Algorithm::HS256,
                    R"({"alg":"HS256","jwk":)" + attacker_hs.publicJwk() + "}", payload),
             Status::NoMatchingKey},
        },
        keys);

    // With a legitimate oct key configured, the header's own oct key still does not count.
    const KeySet hs_keys = keySetFromJwks(TestSigner::shared(Algorithm::HS256).jwks("k1"));
    expectAll({{"embedded oct jwk against an oct key set",
                signAs(attacker_hs, Algorithm::HS256,
                       R"({"alg":"HS256","kid":"k1","jwk":)" + attacker_hs.publicJwk("k1") + "}",
                       payload),
                Status::SignatureInvalid}},
              hs_keys);
  }

  TEST_CASE("kid values are matched byte for byte and never interpreted") {
    const std::string payload = validPayload();
    auto withKid = [&](std::string_view kid_json) {
      return hsToken(R"({"alg":"HS256","kid":)" + std::string(kid_json) + "}", payload);
    };
    expectAll(
        {
            {"exact kid (control)", withKid(R"("k1")"), Status::Ok},
            {"escaped spelling of the same kid", withKid(R"("k\u0031")"), Status::Ok},
            {"differs in case", withKid(R"("K1")"), Status::KeyNotFound},
            {"trailing space", withKid(R"("k1 ")"), Status::KeyNotFound},
            {"trailing NUL", withKid(R"("k1\u0000")"), Status::KeyNotFound},
            {"NUL then more", withKid(R"("k1\u0000../evil")"), Status::KeyNotFound},
            {"path traversal", withKid(R"("../../../../etc/passwd")"), Status::KeyNotFound},
            {"device path", withKid(R"("/dev/null")"), Status::KeyNotFound},
            {"SQL injection", withKid(R"("' OR '1'='1")"), Status::KeyNotFound},
            {"SQL drop", withKid(R"("k1'; DROP TABLE keys;--")"), Status::KeyNotFound},
            {"percent-encoded", withKid(R"("%6b1")"), Status::KeyNotFound},
            {"empty", withKid(R"("")"), Status::KeyNotFound},
            {"number", withKid("1"), Status::KeyNotFound},
            {"array", withKid(R"(["k1"])"), Status::KeyNotFound},
        },
        hsKeys());

    // Two keys whose kids differ only in case stay two keys.
    const TestSigner lower = TestSigner::generate(Algorithm::HS256);
    const TestSigner upper = TestSigner::generate(Algorithm::HS256);
    const KeySet keys = keySetFromJwks(R"({"keys":[)" + lower.publicJwk("key") + "," +
                                       upper.publicJwk("KEY") + "]}");
    expectAll(
        {{"upper kid, upper key",
          signAs(upper, Algorithm::HS256, R"({"alg":"HS256","kid":"KEY"})", payload), Status::Ok},
         {"lower kid, upper key",
          signAs(upper, Algorithm::HS256, R"({"alg":"HS256","kid":"key"})", payload),
          Status::SignatureInvalid}},
        keys);
  }

  TEST_CASE("oversized tokens are refused before decoding, deep nesting by the depth limit") {
    // 10 MB of bytes that are not even base64url: only the length can be judged first.
    const std::string huge(10 * 1024 * 1024, '!');
    const std::string big_segments = std::string(5000, 'A') + "." + std::string(5000, 'A') + ".A";
    std::vector<Attack> attacks = {
        {"10 MB of garbage", huge, Status::TokenTooLarge},
        {"two 5000-byte segments", big_segments, Status::TokenTooLarge},
        {"8193 bytes", std::string(8193, 'A'), Status::TokenTooLarge},
        {"1000-deep header",
         compactToken(R"({"alg":"HS256","x":)" + deepArray(1000) + "}", validPayload()),
         Status::JsonTooDeep},
        {"1000-deep payload, signed",
         hsToken(R"({"alg":"HS256"})", payloadWith("\"exp\":1700003600,\"x\":" + deepArray(1000))),
         Status::JsonTooDeep},
        {"17 levels in the payload",
         hsToken(R"({"alg":"HS256"})", payloadWith("\"exp\":1700003600,\"x\":" + deepArray(16))),
         Status::JsonTooDeep},
        {"16 levels in the payload (control)",
         hsToken(R"({"alg":"HS256"})", payloadWith("\"exp\":1700003600,\"x\":" + deepArray(15))),
         Status::Ok},
        {"deep objects",
         hsToken(R"({"alg":"HS256"})", payloadWith("\"exp\":1700003600,\"x\":" +
                                                   [] {
                                                     std::string s;
                                                     for (int i = 0; i < 40; ++i) {
                                                       s += "{\"a\":";
                                                     }
                                                     return s + "1" + std::string(40, '}');
                                                   }())),
         Status::JsonTooDeep},
    };
    expectAll(attacks, hsKeys());
  }

  TEST_CASE("NumericDate edge cases in signed tokens") {
    struct Row {
      std::string_view member;
      Status expected;
    };
    const Row rows[] = {
        {R"("exp":-1)", Status::BadNumericDate},
        {R"("exp":0)", Status::Expired},
        {R"("exp":-0)", Status::Expired},
        {R"("exp":1700003600.75)", Status::Ok},
        {R"("exp":1.7000036e9)", Status::Ok},
        {R"("exp":1e3)", Status::Expired},
        {R"("exp":"1700003600")", Status::BadNumericDate},
        {R"("exp":1e19)", Status::BadNumericDate},
        {R"("exp":9223372036854775807)", Status::BadNumericDate},
        {R"("exp":9223372036854775808)", Status::BadNumericDate},
        {R"("exp":18446744073709551615)", Status::BadNumericDate},
        {R"("exp":1e400)", Status::BadNumericDate},
        {R"("exp":-1e400)", Status::BadNumericDate},
        {R"("exp":null)", Status::BadNumericDate},
        {R"("exp":[1700003600])", Status::BadNumericDate},
        {R"("exp":1700003600,"nbf":-0)", Status::Ok},
        {R"("exp":1700003600,"nbf":1e400)", Status::BadNumericDate},
        {R"("exp":1700003600,"iat":-1700000000)", Status::BadNumericDate},
        {R"("exp":1700003600,"iat":"now")", Status::BadNumericDate},
    };
    std::vector<Attack> attacks;
    for (const Row& row : rows) {
      attacks.push_back({std::string(row.member),
                         hsToken(R"({"alg":"HS256"})", payloadWith(row.member)), row.expected});
    }
    expectAll(attacks, hsKeys());
  }

  TEST_CASE("an aud of the wrong JSON type is BadAudience") {
    std::vector<Attack> attacks;
    for (const std::string_view aud :
         {"7", R"({"aud":"api"})", R"(["api",7])", "null", "true", R"([["api"]])", R"([null])"}) {
      const std::string payload =
          R"({"iss":"https://issuer.test","exp":1700003600,"aud":)" + std::string(aud) + "}";
      attacks.push_back(
          {std::string(aud), hsToken(R"({"alg":"HS256"})", payload), Status::BadAudience});
    }
    expectAll(attacks, hsKeys());
  }

  TEST_CASE("any crit header is refused, well-formed or not") {
    std::vector<Attack> attacks;
    for (const std::string_view crit :
         {R"("crit":["exp"],"exp":1)", R"("crit":[])", R"("crit":"b64")",
          R"("crit":["b64"],"b64":false)", R"("crit":["x-unknown"],"x-unknown":true)",
          R"("crit":["missing"])", R"("crit":[1])", R"("crit":null)", R"("crit":{})"}) {
      const std::string header = R"({"alg":"HS256",)" + std::string(crit) + "}";
      attacks.push_back({header, hsToken(header, validPayload()), Status::UnsupportedCrit});
    }
    expectAll(attacks, hsKeys());
  }

  TEST_CASE("non-canonical base64url spellings of a valid token are refused") {
    // A token whose signature holds a '-' or '_', to re-spell in the standard alphabet.
    std::string token;
    for (int jti = 0;
         jti < 200 && token.find_first_of("-_", token.rfind('.') + 1) == std::string::npos; ++jti) {
      token = hsToken(R"({"alg":"HS256","kid":"k1"})",
                      payloadWith(R"("exp":1700003600,"jti":")" + std::to_string(jti) + "\""));
    }
    REQUIRE(token.find_first_of("-_", token.rfind('.') + 1) != std::string::npos);
    const std::size_t first_dot = token.find('.');
    const std::size_t second_dot = token.rfind('.');
    std::vector<Attack> attacks = {
        {"valid token (control)", token, Status::Ok},
        {"padded header", token.substr(0, first_dot) + "=" + token.substr(first_dot),
         Status::BadBase64},
        {"padded signature", token + "=", Status::BadBase64},
        {"padded signature ==", token + "==", Status::BadBase64},
        {"trailing newline", token + "\n", Status::BadBase64},
        {"trailing CRLF", token + "\r\n", Status::BadBase64},
        {"leading space", " " + token, Status::BadBase64},
        {"space inside the payload",
         token.substr(0, first_dot + 5) + " " + token.substr(first_dot + 5), Status::BadBase64},
        {"tab inside the signature",
         token.substr(0, second_dot + 3) + "\t" + token.substr(second_dot + 3), Status::BadBase64},
    };

    // Standard-alphabet variants: re-spell one '-' or '_' as '+' or '/'.
    const std::size_t url_char = token.find_first_of("-_", second_dot);
    std::string standard = token;
    standard[url_char] = token[url_char] == '-' ? '+' : '/';
    attacks.push_back({"standard alphabet in the signature", standard, Status::BadBase64});
    for (const char c : {'+', '/'}) {
      std::string injected = token;
      injected[second_dot + 1] = c;
      attacks.push_back({std::string("'") + c + "' in the signature", injected, Status::BadBase64});
    }

    // Unused trailing bits: the same bytes under another spelling of the last character.
    const std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const std::size_t ends[] = {first_dot, second_dot, token.size()};
    const std::size_t starts[] = {0, first_dot + 1, second_dot + 1};
    int respelled = 0;
    for (int segment = 0; segment < 3; ++segment) {
      const std::size_t length = ends[segment] - starts[segment];
      if (length % 4 == 0) {
        continue;
      }
      std::string variant = token;
      const std::size_t last = ends[segment] - 1;
      variant[last] = alphabet[alphabet.find(token[last]) + 1];  // Sets an unused bit.
      attacks.push_back(
          {"trailing bits set in segment " + std::to_string(segment), variant, Status::BadBase64});
      ++respelled;
    }
    // A 32-byte HS256 tag is 43 characters: the signature always has unused bits.
    CHECK(respelled >= 1);
    expectAll(attacks, hsKeys());
  }

  TEST_CASE("duplicate members in header or payload are refused, escaped ones too") {
    const std::string payload_tail = R"("iss":"https://issuer.test","aud":"api","exp":1700003600)";
    expectAll(
        {
            {"header alg twice", hsToken(R"({"alg":"HS256","alg":"HS256"})", validPayload()),
             Status::DuplicateMember},
            {"header alg and escaped alg",
             hsToken(R"({"alg":"HS256","\u0061lg":"none"})", validPayload()),
             Status::DuplicateMember},
            {"header kid twice",
             hsToken(R"({"alg":"HS256","kid":"k1","kid":"k2"})", validPayload()),
             Status::DuplicateMember},
            {"payload sub twice",
             hsToken(R"({"alg":"HS256"})", "{" + payload_tail + R"(,"sub":"a","sub":"b"})"),
             Status::DuplicateMember},
            {"payload escaped duplicate",
             hsToken(R"({"alg":"HS256"})", "{" + payload_tail + R"(,"sub":"a","\u0073ub":"b"})"),
             Status::DuplicateMember},
            {"payload exp twice",
             hsToken(R"({"alg":"HS256"})", "{" + payload_tail + R"(,"exp":9999999999})"),
             Status::DuplicateMember},
            {"payload nested duplicate",
             hsToken(R"({"alg":"HS256"})", "{" + payload_tail + R"(,"o":{"a":1,"a":2}})"),
             Status::DuplicateMember},
        },
        hsKeys());
  }

  TEST_CASE("invalid UTF-8 in header or payload is refused") {
    const std::string payload_tail = R"("iss":"https://issuer.test","aud":"api","exp":1700003600)";
    expectAll(
        {
            {"header kid 0xff", hsToken("{\"alg\":\"HS256\",\"kid\":\"\xff\"}", validPayload()),
             Status::HeaderNotJson},
            {"header overlong", hsToken("{\"alg\":\"HS256\",\"x\":\"\xc0\xaf\"}", validPayload()),
             Status::HeaderNotJson},
            {"payload truncated sequence",
             hsToken(R"({"alg":"HS256"})", "{" + payload_tail + ",\"sub\":\"\xe2\x82\"}"),
             Status::PayloadNotJson},
            {"payload surrogate",
             hsToken(R"({"alg":"HS256"})", "{" + payload_tail + ",\"sub\":\"\xed\xa0\x80\"}"),
             Status::PayloadNotJson},
            {"payload lone surrogate escape",
             hsToken(R"({"alg":"HS256"})", "{" + payload_tail + R"(,"sub":"\udc00"})"),
             Status::PayloadNotJson},
            {"payload raw control character",
             hsToken(R"({"alg":"HS256"})", "{" + payload_tail + ",\"sub\":\"a\x01\"}"),
             Status::PayloadNotJson},
        },
        hsKeys());
  }

  TEST_CASE("headers and payloads that are not JSON objects") {
    expectAll(
        {
            {"header array", compactToken(R"(["HS256"])", validPayload()), Status::HeaderNotJson},
            {"header string", compactToken(R"("HS256")", validPayload()), Status::HeaderNotJson},
            {"header with trailing bytes", compactToken(R"({"alg":"HS256"}x)", validPayload()),
             Status::HeaderNotJson},
            {"header two objects", compactToken(R"({"alg":"HS256"}{})", validPayload()),
             Status::HeaderNotJson},
            {"payload array, signed", hsToken(R"({"alg":"HS256"})", "[1]"), Status::PayloadNotJson},
            {"payload empty object then garbage, signed",
             hsToken(R"({"alg":"HS256"})", validPayload() + "garbage"), Status::PayloadNotJson},
        },
        hsKeys());
  }

  TEST_CASE("random edits of a valid token never crash and never verify") {
    const std::string token = hsToken(R"({"alg":"HS256","kid":"k1"})", validPayload());
    std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    alphabet.push_back('\0');
    alphabet.push_back('\xff');
    Verifier verifier;
    const Policy policy = testPolicy();
    REQUIRE(verifier.verify(token, policy, hsKeys(), kTestNow));
    std::mt19937 random(20240601);
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
      std::string edited = token;
      const int edits = 1 + static_cast<int>(random() % 3);
      for (int e = 0; e < edits; ++e) {
        const std::size_t at = random() % (edited.size() + 1);
        const char c = alphabet[random() % alphabet.size()];
        switch (random() % 4) {
          case 0:
            if (at < edited.size()) {
              edited[at] = c;
            }
            break;
          case 1:
            edited.insert(at, 1, c);
            break;
          case 2:
            if (at < edited.size()) {
              edited.erase(at, 1);
            }
            break;
          default:
            edited.resize(at);
            break;
        }
      }
      if (edited != token && verifier.verify(edited, policy, hsKeys(), kTestNow)) {
        CAPTURE(edited);
        ++accepted;
      }
    }
    CHECK(accepted == 0);
    CHECK(ERR_peek_error() == 0);
  }
}

}  // namespace
}  // namespace jwtgate::verifier

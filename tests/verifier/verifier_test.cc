// The Verifier end to end with keys and tokens from the test signer: every algorithm, key
// selection, the VerifiedToken's lifetime rules, limits, and the status mapping.
#include "verifier/verifier.h"

#include <doctest/doctest.h>
#include <openssl/err.h>

#include <set>
#include <string>
#include <vector>

#include "support/test_signer.h"
#include "support/token_minter.h"
#include "verifier/base64url.h"

namespace jwtgate::verifier {
namespace {

using testing::compactToken;
using testing::keySetFromJwks;
using testing::kTestNow;
using testing::name;
using testing::testPolicy;
using testing::TestSigner;
using testing::validPayload;

// A key for each algorithm: `key_alg` picks the key the shared signer makes.
struct AlgRow {
  Algorithm alg;
  Algorithm key_alg;
  std::string_view label;
};

constexpr AlgRow kAlgorithms[] = {
    {Algorithm::RS256, Algorithm::RS256, "RS256"},
    {Algorithm::RS384, Algorithm::RS384, "RS384"},
    {Algorithm::RS512, Algorithm::RS512, "RS512"},
    {Algorithm::PS256, Algorithm::PS256, "PS256"},
    {Algorithm::PS384, Algorithm::PS384, "PS384"},
    {Algorithm::PS512, Algorithm::PS512, "PS512"},
    {Algorithm::ES256, Algorithm::ES256, "ES256"},
    {Algorithm::ES384, Algorithm::ES384, "ES384"},
    {Algorithm::ES512, Algorithm::ES512, "ES512"},
    {Algorithm::EdDSA, Algorithm::EdDSA, "EdDSA/Ed25519"},
    {Algorithm::EdDSA, Algorithm::Ed448, "EdDSA/Ed448"},
    {Algorithm::Ed25519, Algorithm::Ed25519, "Ed25519"},
    {Algorithm::Ed448, Algorithm::Ed448, "Ed448"},
    {Algorithm::HS256, Algorithm::HS256, "HS256"},
    {Algorithm::HS384, Algorithm::HS384, "HS384"},
    {Algorithm::HS512, Algorithm::HS512, "HS512"},
};

// A compact token for `payload` signed by `signer` as `alg` under `header_json`.
std::string signedToken(const TestSigner& signer, Algorithm alg, std::string_view header_json,
                        std::string_view payload) {
  const std::string input =
      testing::base64UrlEncode(header_json) + "." + testing::base64UrlEncode(payload);
  return input + "." + testing::base64UrlEncode(signer.sign(alg, input));
}

std::string headerFor(Algorithm alg, std::string_view kid = "k1") {
  return std::string(R"({"alg":")") + std::string(toString(alg)) + R"(","typ":"JWT","kid":")" +
         std::string(kid) + "\"}";
}

Status statusOf(const Result<VerifiedToken, Status>& result) {
  return result ? Status::Ok : result.error();
}

// Every verify() of this suite also promises an empty OpenSSL error queue.
Result<VerifiedToken, Status> verifyClean(Verifier& verifier, std::string_view token,
                                          const Policy& policy, const KeySet& keys,
                                          std::int64_t now = kTestNow) {
  Result<VerifiedToken, Status> result = verifier.verify(token, policy, keys, now);
  CHECK_MESSAGE(ERR_peek_error() == 0, "OpenSSL error queue not empty after verify");
  ERR_clear_error();
  return result;
}

TEST_SUITE("verifier/verifier") {
  TEST_CASE("a valid token of every algorithm verifies and exposes its claims") {
    Verifier verifier;
    const Policy policy = testPolicy();
    for (const AlgRow& row : kAlgorithms) {
      CAPTURE(row.label);
      const TestSigner& signer = TestSigner::shared(row.key_alg);
      const KeySet keys = keySetFromJwks(signer.jwks("k1"));
      const std::string token = signedToken(signer, row.alg, headerFor(row.alg), validPayload());

      const auto result = verifyClean(verifier, token, policy, keys);
      REQUIRE(name(statusOf(result)) == name(Status::Ok));
      CHECK(name(result->algorithm()) == name(row.alg));
      CHECK(result->kid() == std::optional<std::string>("k1"));
      CHECK(result->payload() == validPayload());
      CHECK(result->claims().find("sub")->string() == "user-1");
      CHECK(result->expiresAt() == 1700003600);
      CHECK(result->issuedAt() == 1699999000);
      CHECK(result->notBefore() == 1699999000);
    }
  }

  TEST_CASE("flipping any bit of the signature fails for every algorithm") {
    Verifier verifier;
    const Policy policy = testPolicy();
    for (const AlgRow& row : kAlgorithms) {
      CAPTURE(row.label);
      const TestSigner& signer = TestSigner::shared(row.key_alg);
      const KeySet keys = keySetFromJwks(signer.jwks("k1"));
      const std::string input = testing::base64UrlEncode(headerFor(row.alg)) + "." +
                                testing::base64UrlEncode(validPayload());
      const std::vector<std::uint8_t> signature = signer.sign(row.alg, input);
      int accepted = 0;
      for (std::size_t bit = 0; bit < signature.size() * 8; ++bit) {
        std::vector<std::uint8_t> flipped = signature;
        flipped[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        const std::string token = input + "." + testing::base64UrlEncode(flipped);
        const auto result = verifier.verify(token, policy, keys, kTestNow);
        if (statusOf(result) != Status::SignatureInvalid) {
          CAPTURE(bit);
          CHECK(name(statusOf(result)) == name(Status::SignatureInvalid));
          ++accepted;
        }
      }
      CHECK(accepted == 0);
      CHECK(ERR_peek_error() == 0);
    }
  }

  TEST_CASE("truncating the signature segment at any length never verifies") {
    Verifier verifier;
    const Policy policy = testPolicy();
    for (const AlgRow& row : kAlgorithms) {
      CAPTURE(row.label);
      const TestSigner& signer = TestSigner::shared(row.key_alg);
      const KeySet keys = keySetFromJwks(signer.jwks("k1"));
      const std::string token = signedToken(signer, row.alg, headerFor(row.alg), validPayload());
      const std::size_t signature_start = token.rfind('.') + 1;
      for (std::size_t end = signature_start; end < token.size(); ++end) {
        const Status status =
            statusOf(verifier.verify(token.substr(0, end), policy, keys, kTestNow));
        CAPTURE(end - signature_start);
        CHECK(name(status) != name(Status::Ok));
        CHECK((status == Status::SignatureInvalid || status == Status::BadBase64 ||
               status == Status::MalformedToken));
      }
    }
  }

  TEST_CASE("changing any byte of the signed part never verifies") {
    Verifier verifier;
    const Policy policy = testPolicy();
    const TestSigner& signer = TestSigner::shared(Algorithm::ES256);
    const KeySet keys = keySetFromJwks(signer.jwks("k1"));
    const std::string token =
        signedToken(signer, Algorithm::ES256, headerFor(Algorithm::ES256), validPayload());
    const std::size_t signing_end = token.rfind('.');
    for (std::size_t i = 0; i < signing_end; ++i) {
      if (token[i] == '.') {
        continue;
      }
      std::string tampered = token;
      tampered[i] = token[i] == 'A' ? 'B' : 'A';
      CAPTURE(i);
      CHECK(name(statusOf(verifier.verify(tampered, policy, keys, kTestNow))) != name(Status::Ok));
    }
  }

  TEST_CASE("key selection by kid, without kid, and by fit") {
    Verifier verifier;
    const Policy policy = testPolicy();
    const TestSigner& rsa = TestSigner::shared(Algorithm::RS256);
    const TestSigner& ec = TestSigner::shared(Algorithm::ES256);
    const TestSigner other_rsa = TestSigner::generate(Algorithm::RS256);
    const KeySet keys = keySetFromJwks(R"({"keys":[)" + other_rsa.publicJwk("old") + "," +
                                       ec.publicJwk("ec-1") + "," + rsa.publicJwk("k1") + "]}");
    struct Row {
      std::string_view label;
      std::string token;
      Status expected;
    };
    const Row rows[] = {
        {"kid names the key",
         signedToken(rsa, Algorithm::RS256, headerFor(Algorithm::RS256, "k1"), validPayload()),
         Status::Ok},
        {"no kid: every fitting key is tried",
         signedToken(rsa, Algorithm::RS256, R"({"alg":"RS256"})", validPayload()), Status::Ok},
        {"no kid, EC token among RSA keys",
         signedToken(ec, Algorithm::ES256, R"({"alg":"ES256"})", validPayload()), Status::Ok},
        {"kid of another RSA key",
         signedToken(rsa, Algorithm::RS256, headerFor(Algorithm::RS256, "old"), validPayload()),
         Status::SignatureInvalid},
        {"kid unknown",
         signedToken(rsa, Algorithm::RS256, headerFor(Algorithm::RS256, "k2"), validPayload()),
         Status::KeyNotFound},
        {"kid of a key of the wrong type",
         signedToken(rsa, Algorithm::RS256, headerFor(Algorithm::RS256, "ec-1"), validPayload()),
         Status::NoMatchingKey},
        {"no kid, no key of the type",
         signedToken(TestSigner::shared(Algorithm::EdDSA), Algorithm::EdDSA, R"({"alg":"EdDSA"})",
                     validPayload()),
         Status::NoMatchingKey},
    };
    for (const Row& row : rows) {
      CAPTURE(row.label);
      CHECK(name(statusOf(verifyClean(verifier, row.token, policy, keys))) == name(row.expected));
    }
  }

  TEST_CASE("the policy's algorithm set is enforced before any key is looked up") {
    Verifier verifier;
    Policy policy = testPolicy();
    policy.algorithms = AlgorithmSet();
    policy.algorithms.add(Algorithm::ES256);
    const TestSigner& rsa = TestSigner::shared(Algorithm::RS256);
    const KeySet keys = keySetFromJwks(rsa.jwks("k1"));
    const std::string token = rsa.mintJwt(validPayload(), "k1");
    CHECK(name(statusOf(verifyClean(verifier, token, policy, keys))) ==
          name(Status::AlgorithmNotAllowed));
    policy.algorithms.add(Algorithm::RS256);
    CHECK(name(statusOf(verifyClean(verifier, token, policy, keys))) == name(Status::Ok));
  }

  TEST_CASE("the token length limit is inclusive and configurable") {
    Verifier verifier;
    Policy policy = testPolicy();
    const TestSigner& signer = TestSigner::shared(Algorithm::HS256);
    const KeySet keys = keySetFromJwks(signer.jwks("k1"));
    const std::string token = signer.mintJwt(validPayload(), "k1");
    policy.max_token_bytes = token.size();
    CHECK(name(statusOf(verifyClean(verifier, token, policy, keys))) == name(Status::Ok));
    policy.max_token_bytes = token.size() - 1;
    CHECK(name(statusOf(verifyClean(verifier, token, policy, keys))) ==
          name(Status::TokenTooLarge));
    CHECK(kDefaultMaxTokenBytes == 8192);
  }

  TEST_CASE("a verified token owns its claims: they outlive the verifier's next calls") {
    Verifier verifier;
    const Policy policy = testPolicy();
    const TestSigner& signer = TestSigner::shared(Algorithm::HS256);
    const KeySet keys = keySetFromJwks(signer.jwks("k1"));
    const std::string first_payload =
        R"({"iss":"https://issuer.test","aud":"api","exp":1700003600,"sub":"sm\u00f8rrebr\u00f8d",)"
        R"("name":"Ada","roles":["a","b"],"nested":{"deep":"v\"q"}})";
    auto first = verifyClean(verifier, signer.mintJwt(first_payload, "k1"), policy, keys);
    REQUIRE(first);

    // Verify other tokens, bigger and smaller, with the same verifier.
    for (int i = 0; i < 20; ++i) {
      const std::string padding(static_cast<std::size_t>(i * 97), 'x');
      const std::string payload = R"({"iss":"https://issuer.test","aud":"api","exp":1700003600,)"
                                  R"("sub":"other","pad":")" +
                                  padding + "\"}";
      REQUIRE(verifyClean(verifier, signer.mintJwt(payload, "k1"), policy, keys));
    }

    // Copies and moves keep working; each object reads its own storage.
    VerifiedToken copy = *first;
    VerifiedToken moved = std::move(*first);
    for (const VerifiedToken* token : {&copy, &moved}) {
      const ClaimsView claims = token->claims();
      CHECK(claims.find("sub")->string() ==
            "sm\xc3\xb8rrebr\xc3\xb8"
            "d");
      CHECK(claims.find("name")->string() == "Ada");
      CHECK(claims.find(testing::claimPath("nested.deep"))->string() == "v\"q");
      CHECK(claims.find("roles")->size() == 2);
      CHECK(token->payload() == first_payload);
    }
  }

  TEST_CASE("tiny payloads survive moves of a short-string-optimised buffer") {
    Verifier verifier;
    Policy policy = testPolicy();
    policy.issuer.reset();
    policy.audiences.clear();
    policy.require_expiration = false;
    const TestSigner& signer = TestSigner::shared(Algorithm::HS256);
    const KeySet keys = keySetFromJwks(signer.jwks());
    auto result =
        verifyClean(verifier, signer.mint(R"({"alg":"HS256"})", R"({"a":"b"})"), policy, keys);
    REQUIRE(result);
    VerifiedToken moved = std::move(*result);
    VerifiedToken again = std::move(moved);
    CHECK(again.claims().find("a")->string() == "b");
    CHECK_FALSE(again.expiresAt());
    CHECK_FALSE(again.kid());
  }

  TEST_CASE("the payload is parsed only after the signature verifies") {
    Verifier verifier;
    const Policy policy = testPolicy();
    const TestSigner& signer = TestSigner::shared(Algorithm::HS256);
    const KeySet keys = keySetFromJwks(signer.jwks("k1"));
    const std::string header = headerFor(Algorithm::HS256);
    const std::string bad_json = signedToken(signer, Algorithm::HS256, header, "not json");
    CHECK(name(statusOf(verifyClean(verifier, bad_json, policy, keys))) ==
          name(Status::PayloadNotJson));
    const std::string forged = compactToken(header, "not json", std::string(32, 'x'));
    CHECK(name(statusOf(verifyClean(verifier, forged, policy, keys))) ==
          name(Status::SignatureInvalid));
  }

  TEST_CASE("checkIgnoringSignature runs every other step") {
    Verifier verifier;
    const Policy policy = testPolicy();
    const std::string header = headerFor(Algorithm::RS256);
    CHECK(name(verifier.checkIgnoringSignature(compactToken(header, validPayload()), policy,
                                               kTestNow)) == name(Status::Ok));
    CHECK(name(verifier.checkIgnoringSignature(compactToken(header, validPayload()), policy,
                                               1800000000)) == name(Status::Expired));
    CHECK(name(verifier.checkIgnoringSignature(compactToken(R"({"alg":"none"})", validPayload()),
                                               policy, kTestNow)) ==
          name(Status::AlgorithmUnsupported));
    CHECK(name(verifier.checkIgnoringSignature(compactToken(header, "[]"), policy, kTestNow)) ==
          name(Status::PayloadNotJson));
  }

  TEST_CASE("route checks run on an already verified token") {
    Verifier verifier;
    const Policy policy = testPolicy();
    const TestSigner& signer = TestSigner::shared(Algorithm::ES256);
    const KeySet keys = keySetFromJwks(signer.jwks("k1"));
    const auto token = verifyClean(verifier, signer.mintJwt(validPayload(), "k1"), policy, keys);
    REQUIRE(token);
    ScopeRequirement scopes;
    scopes.required = {"read", "write"};
    CHECK(name(checkScopes(token->claims(), scopes)) == name(Status::Ok));
    scopes.required = {"admin"};
    CHECK(name(checkScopes(token->claims(), scopes)) == name(Status::InsufficientScope));
    const ClaimRequirement sub{testing::claimPath("sub"), std::string("user-1")};
    CHECK(name(checkClaims(token->claims(), {&sub, 1})) == name(Status::Ok));
    // The same registered checks at a later time, as a cache would re-run them.
    CHECK(name(checkRegisteredClaims(token->claims(), policy, 1700003600 + 60)) ==
          name(Status::Expired));
  }

  TEST_CASE("every status has a unique name, a description and a bearer error") {
    std::set<std::string> names;
    const auto last = static_cast<int>(Status::InsufficientScope);
    for (int i = 0; i <= last; ++i) {
      const auto status = static_cast<Status>(i);
      CAPTURE(i);
      const std::string status_name = name(status);
      CHECK_FALSE(status_name.empty());
      CHECK(status_name != "unknown");
      CHECK(names.insert(status_name).second);
      CHECK_FALSE(describe(status).empty());
      const BearerError error = bearerErrorFor(status);
      CHECK((status == Status::Ok) == (error == BearerError::None));
    }
    CHECK(names.size() == static_cast<std::size_t>(last + 1));
    CHECK(name(bearerErrorFor(Status::Expired)) == name(BearerError::InvalidToken));
    CHECK(name(bearerErrorFor(Status::SignatureInvalid)) == name(BearerError::InvalidToken));
    CHECK(name(bearerErrorFor(Status::InsufficientScope)) == name(BearerError::InsufficientScope));
    CHECK(name(bearerErrorFor(Status::TokenTooLarge)) == name(BearerError::InvalidRequest));
    CHECK(toString(BearerError::InvalidToken) == "invalid_token");
    CHECK(toString(BearerError::InsufficientScope) == "insufficient_scope");
    CHECK(toString(BearerError::InvalidRequest) == "invalid_request");
    CHECK(toString(BearerError::None).empty());
  }

  TEST_CASE("descriptions are safe to send: printable ASCII without quotes") {
    const auto last = static_cast<int>(Status::InsufficientScope);
    for (int i = 0; i <= last; ++i) {
      const std::string_view text = describe(static_cast<Status>(i));
      CAPTURE(i);
      for (const char c : text) {
        CHECK((c >= 0x20 && c < 0x7f && c != '"' && c != '\\'));
      }
    }
  }
}

}  // namespace
}  // namespace jwtgate::verifier

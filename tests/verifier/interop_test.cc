// Interoperability with PyJWT 2.6 (Debian python3-jwt), an independent implementation:
// tokens it mints verify here, tokens jwtgate's test signer mints verify there, and
// tampered tokens fail on both sides.
#include <doctest/doctest.h>
#include <openssl/err.h>

#include <set>
#include <string>
#include <vector>

#include "support/test_signer.h"
#include "support/token_minter.h"
#include "verifier/verifier.h"

namespace jwtgate::verifier {
namespace {

using testing::kTestNow;
using testing::name;
using testing::ParsedJson;
using testing::TestSigner;

Status statusOf(const Result<VerifiedToken, Status>& result) {
  return result ? Status::Ok : result.error();
}

// Flips the lowest bit of the first signature byte (re-encoding keeps the text canonical).
std::string flipSignatureBit(const std::string& token) {
  std::string out = token;
  const std::size_t at = out.rfind('.') + 1;
  static const std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  // The first character holds the top six bits of byte 0: toggling its lowest bit changes
  // bit 2 of that byte, and never touches the unused trailing bits.
  out[at] = kAlphabet[kAlphabet.find(out[at]) ^ 1];
  return out;
}

// Replaces the payload segment with another base64url JSON object.
std::string swapPayload(const std::string& token, std::string_view payload_json) {
  const std::size_t first = token.find('.');
  const std::size_t second = token.rfind('.');
  return token.substr(0, first + 1) + testing::base64UrlEncode(payload_json) + token.substr(second);
}

bool pythonHasPyJwt() {
  const testing::CommandOutput probe =
      testing::runCommand(testing::pythonInterpreter() + " -c 'import jwt, cryptography' 2>&1");
  return probe.exit_code == 0;
}

TEST_SUITE("verifier/interop") {
  TEST_CASE("tokens minted by PyJWT for every algorithm verify, tampered ones fail") {
    REQUIRE_MESSAGE(pythonHasPyJwt(), "python3-jwt and python3-cryptography are required");
    const std::string command = testing::pythonInterpreter() + " " +
                                testing::shellQuote(testing::supportFile("pyjwt_mint.py")) +
                                " --now " + std::to_string(kTestNow) +
                                " --issuer https://issuer.test --audience api";
    const testing::CommandOutput minted = testing::runCommand(command);
    REQUIRE(minted.exit_code == 0);
    const ParsedJson json(minted.out);
    REQUIRE_FALSE(json.error());
    const ClaimsView output = json.claims();
    MESSAGE("PyJWT " << output.find("pyjwt_version")->string());
    CHECK(output.find("pyjwt_version")->string() == "2.6.0");

    // The JWKS with PyJWT's members ("key_ops") and RFC 7518 coordinate sizes, loaded by
    // jwtgate. PyJWT 2.6's own to_jwk() output may carry short EC coordinates (a P-521 "x"
    // of 65 bytes), which the strict key loader refuses; that is reported, not asserted.
    std::string pyjwt_jwks;
    output.find("pyjwt_jwks")->appendJson(pyjwt_jwks);
    const auto raw_load = KeySet::fromJwks(pyjwt_jwks);
    MESSAGE("PyJWT's unmodified JWKS "
            << (raw_load ? "loads" : "is refused: " + raw_load.error().message));
    std::string jwks_json;
    output.find("jwks")->appendJson(jwks_json);
    const KeySet keys = testing::keySetFromJwks(jwks_json);
    const auto tokens = output.find("tokens");
    REQUIRE(tokens);
    CHECK(keys.size() == tokens->size());

    Verifier verifier;
    const Policy policy = testing::testPolicy();
    std::set<std::string> labels;
    for (const ClaimValue entry : tokens->elements()) {
      const std::string label(entry.member("label")->string());
      const std::string token(entry.member("token")->string());
      CAPTURE(label);
      labels.insert(label);

      const auto result = verifier.verify(token, policy, keys, kTestNow);
      REQUIRE(name(statusOf(result)) == name(Status::Ok));
      CHECK(name(result->algorithm()) == entry.member("alg")->string());
      CHECK(result->kid() == std::optional<std::string>(entry.member("kid")->string()));
      CHECK(result->claims().find("sub")->string() == entry.member("sub")->string());
      ScopeRequirement roles;
      roles.sources.push_back(testing::claimPath("realm_access.roles"));
      roles.required = {"viewer", label};
      CHECK(name(checkScopes(result->claims(), roles)) == name(Status::Ok));

      // Tampering: a signature bit, another payload under the same signature, expiry.
      CHECK(name(statusOf(verifier.verify(flipSignatureBit(token), policy, keys, kTestNow))) ==
            name(Status::SignatureInvalid));
      CHECK(name(statusOf(verifier.verify(swapPayload(token, testing::validPayload()), policy, keys,
                                          kTestNow))) == name(Status::SignatureInvalid));
      CHECK(name(statusOf(verifier.verify(token, policy, keys, kTestNow + 600 + 60))) ==
            name(Status::Expired));
      CHECK(ERR_peek_error() == 0);
    }
    const std::set<std::string> expected = {
        "RS256", "RS384", "RS512", "PS256",         "PS384",       "PS512", "ES256",
        "ES384", "ES512", "HS256", "EdDSA-Ed25519", "EdDSA-Ed448", "HS384", "HS512"};
    CHECK(labels == expected);
  }

  TEST_CASE("tokens minted by jwtgate's test signer verify with PyJWT, tampered ones fail") {
    REQUIRE_MESSAGE(pythonHasPyJwt(), "python3-jwt and python3-cryptography are required");
    struct Row {
      std::string_view label;
      Algorithm alg;
      Algorithm key_alg;
    };
    // PyJWT 2.6 knows EdDSA but not the RFC 9864 names Ed25519 / Ed448 (checked below).
    const Row rows[] = {
        {"RS256", Algorithm::RS256, Algorithm::RS256},
        {"RS384", Algorithm::RS384, Algorithm::RS384},
        {"RS512", Algorithm::RS512, Algorithm::RS512},
        {"PS256", Algorithm::PS256, Algorithm::PS256},
        {"PS384", Algorithm::PS384, Algorithm::PS384},
        {"PS512", Algorithm::PS512, Algorithm::PS512},
        {"ES256", Algorithm::ES256, Algorithm::ES256},
        {"ES384", Algorithm::ES384, Algorithm::ES384},
        {"ES512", Algorithm::ES512, Algorithm::ES512},
        {"EdDSA-Ed25519", Algorithm::EdDSA, Algorithm::EdDSA},
        {"EdDSA-Ed448", Algorithm::EdDSA, Algorithm::Ed448},
        {"HS256", Algorithm::HS256, Algorithm::HS256},
        {"HS384", Algorithm::HS384, Algorithm::HS384},
        {"HS512", Algorithm::HS512, Algorithm::HS512},
    };

    // Each token is minted, checked by jwtgate itself, then handed to PyJWT with two
    // tampered variants that PyJWT must reject.
    Verifier verifier;
    const Policy policy = testing::testPolicy();
    std::string cases;
    std::size_t expected_results = 0;
    for (const Row& row : rows) {
      const TestSigner& signer = TestSigner::shared(row.key_alg);
      const std::string kid = "jg-" + std::string(row.label);
      const std::string header = std::string(R"({"alg":")") + std::string(toString(row.alg)) +
                                 R"(","typ":"JWT","kid":")" + kid + "\"}";
      const std::string input = testing::base64UrlEncode(header) + "." +
                                testing::base64UrlEncode(testing::validPayload());
      const std::string token = input + "." + testing::base64UrlEncode(signer.sign(row.alg, input));
      const KeySet keys = testing::keySetFromJwks(signer.jwks(kid));
      CAPTURE(row.label);
      REQUIRE(name(statusOf(verifier.verify(token, policy, keys, kTestNow))) == name(Status::Ok));

      const std::string jwk = signer.publicJwk(kid);
      auto add = [&](std::string_view suffix, const std::string& text, bool valid) {
        cases += std::string(cases.empty() ? "" : ",") + R"({"label":")" + std::string(row.label) +
                 std::string(suffix) + R"(","alg":")" + std::string(toString(row.alg)) +
                 R"(","jwk":)" + jwk + R"(,"token":")" + text + R"(","expect_valid":)" +
                 (valid ? "true" : "false") + "}";
        ++expected_results;
      };
      add("", token, true);
      add(" flipped signature bit", flipSignatureBit(token), false);
      add(" swapped payload",
          swapPayload(token, R"({"iss":"https://issuer.test","aud":"api","exp":1700003600,)"
                             R"("sub":"admin"})"),
          false);
    }
    const std::string spec = R"({"now":)" + std::to_string(kTestNow) +
                             R"(,"issuer":"https://issuer.test","audience":"api","cases":[)" +
                             cases + "]}";
    const testing::TempFile file(spec);
    const testing::CommandOutput verified =
        testing::runCommand(testing::pythonInterpreter() + " " +
                            testing::shellQuote(testing::supportFile("pyjwt_verify.py")) + " " +
                            testing::shellQuote(file.path()));
    CHECK(verified.exit_code == 0);

    const ParsedJson json(verified.out);
    REQUIRE_FALSE(json.error());
    const auto results = json.claims().find("results");
    REQUIRE(results);
    CHECK(results->size() == expected_results);
    for (const ClaimValue result : results->elements()) {
      CAPTURE(result.member("label")->string());
      CAPTURE(result.member("detail")->string());
      CHECK(result.member("ok")->boolean());
    }

    // What PyJWT 2.6 lacks among jwtgate's algorithms, stated rather than assumed.
    std::set<std::string> pyjwt_algorithms;
    for (const ClaimValue alg : json.claims().find("algorithms")->elements()) {
      pyjwt_algorithms.emplace(alg.string());
    }
    CHECK(pyjwt_algorithms.count("EdDSA") == 1);
    CHECK(pyjwt_algorithms.count("Ed25519") == 0);
    CHECK(pyjwt_algorithms.count("Ed448") == 0);
  }
}

}  // namespace
}  // namespace jwtgate::verifier

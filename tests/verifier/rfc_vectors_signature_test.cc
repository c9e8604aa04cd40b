// The JWS examples of RFC 7515 Appendix A and RFC 8037 Appendix A at the signature layer:
// their published keys and tokens are written here, and cross-checked with the shared copies
// in the vectors folder when it is present.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>
#include <string_view>

#include "verifier/algorithm.h"
#include "verifier/base64url.h"
#include "verifier/key_set.h"
#include "verifier/signature.h"
#include "verifier/signature_test_util.h"

namespace jwtgate::verifier {
namespace {

struct RfcExample {
  std::string_view file;  // the shared copy under rfc/
  std::string_view alg;
  std::string_view jwk;  // the public key (for HS256, the oct key itself)
  std::string_view token;
};

// RFC 7515 A.1 to A.4 and RFC 8037 A.4, as printed in the RFCs.
const RfcExample kExamples[] = {
    {"rfc7515_a1_hs256.json", "HS256",
     R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgU)"
     R"(uTwjAzZr1Z9CAow"})",
     "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
     ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
     "fQ"
     ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
    {"rfc7515_a2_rs256.json", "RS256",
     R"({"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4q)"
     R"(PCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0)"
     R"(LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo)"
     R"(5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyu)"
     R"(XpoQ","e":"AQAB"})",
     "eyJhbGciOiJSUzI1NiJ9"
     ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
     "fQ"
     ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5"
     "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_"
     "nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L"
     "07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-"
     "eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUi"
     "pUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"},
    {"rfc7515_a3_es256.json", "ES256",
     R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9)"
     R"(m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})",
     "eyJhbGciOiJFUzI1NiJ9"
     ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
     "fQ"
     ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"},
    {"rfc7515_a4_es512.json", "ES512",
     R"({"kty":"EC","crv":"P-521","x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_Nj)"
     R"(FZ6OvLFV1jSfS9tsz4qUxcWceqwQGk","y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WD)"
     R"(hjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"})",
     "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA"
     ".AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8G"
     "aSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn"},
    {"rfc8037_a4_ed25519.json", "EdDSA",
     R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
     "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
     ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"},
};

// RFC 7515 A.5: the unsecured JWS.
constexpr std::string_view kUnsecuredToken =
    "eyJhbGciOiJub25lIn0"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlf"
    "Q"
    ".";

// The signing input and decoded signature of a compact token.
struct SplitToken {
  std::string_view signing_input;
  std::string signature;
};

SplitToken split(std::string_view token) {
  const std::size_t dot = token.rfind('.');
  REQUIRE(dot != std::string_view::npos);
  auto signature = base64UrlDecodeToString(token.substr(dot + 1));
  REQUIRE(signature.has_value());
  return {token.substr(0, dot), *signature};
}

// Verifies `token` with `jwk` at the signature layer; also checks that a flipped bit in
// the input or the signature fails.
void checkExample(std::string_view alg_name, std::string_view jwk, std::string_view token) {
  const auto alg = parseAlgorithm(alg_name);
  REQUIRE(alg.has_value());
  const KeySet set = testing::loadJwks(jwk);
  REQUIRE(set.size() == 1);
  const Key& key = *set.keys()[0];
  const SplitToken parts = split(token);
  const auto signature = testing::bytesOf(parts.signature);
  CHECK(testing::verifyClean(key, *alg, parts.signing_input, signature));

  std::string input(parts.signing_input);
  input[input.size() / 2] ^= 0x01;
  CHECK_FALSE(testing::verifyClean(key, *alg, input, signature));
  std::string flipped = parts.signature;
  flipped[flipped.size() - 1] ^= 0x01;
  CHECK_FALSE(testing::verifyClean(key, *alg, parts.signing_input, testing::bytesOf(flipped)));
}

TEST_SUITE("verifier/rfc_vectors") {
  TEST_CASE("the RFC 7515 and RFC 8037 example signatures verify") {
    for (const RfcExample& example : kExamples) {
      CAPTURE(example.file);
      checkExample(example.alg, example.jwk, example.token);
    }
  }

  TEST_CASE("the Ed25519 example also verifies under the RFC 9864 name Ed25519, not Ed448") {
    const RfcExample& ed25519 = kExamples[4];
    const KeySet set = testing::loadJwks(ed25519.jwk);
    const SplitToken parts = split(ed25519.token);
    const auto signature = testing::bytesOf(parts.signature);
    CHECK(testing::verifyClean(*set.keys()[0], Algorithm::Ed25519, parts.signing_input, signature));
    CHECK_FALSE(
        testing::verifyClean(*set.keys()[0], Algorithm::Ed448, parts.signing_input, signature));
  }

  TEST_CASE("RFC 7515 A.5 (alg none) is rejected: none is not an algorithm") {
    CHECK_FALSE(parseAlgorithm("none").has_value());
    // Its empty signature verifies with no key and no algorithm either.
    const SplitToken parts = split(kUnsecuredToken);
    CHECK(parts.signature.empty());
    for (const RfcExample& example : kExamples) {
      CAPTURE(example.file);
      const KeySet set = testing::loadJwks(example.jwk);
      for (std::size_t index = 0; index < kAlgorithmCount; ++index) {
        CHECK_FALSE(testing::verifyClean(*set.keys()[0], static_cast<Algorithm>(index),
                                         parts.signing_input, testing::bytesOf(parts.signature)));
      }
    }
  }

  TEST_CASE("the shared RFC vector files hold the same examples and verify the same way") {
    const std::string folder = testing::vectorsDir() + "/rfc/";
    if (!testing::readFile(folder + "rfc7515_a5_none.json").has_value()) {
      MESSAGE("RFC vector files not found under " << folder << ": these cases are skipped");
      return;
    }
    for (const RfcExample& example : kExamples) {
      CAPTURE(example.file);
      const auto text = testing::readFile(folder + std::string(example.file));
      REQUIRE(text.has_value());
      simdjson::dom::parser parser;
      simdjson::dom::element root;
      REQUIRE(parser.parse(*text).get(root) == simdjson::SUCCESS);
      std::string_view token, alg;
      REQUIRE(root["token"].get_string().get(token) == simdjson::SUCCESS);
      REQUIRE(root["alg"].get_string().get(alg) == simdjson::SUCCESS);
      bool must_verify = false;
      REQUIRE(root["signature_must_verify"].get_bool().get(must_verify) == simdjson::SUCCESS);
      simdjson::dom::element jwk;
      if (root["public_jwk"].get(jwk) != simdjson::SUCCESS) {
        REQUIRE(root["jwk"].get(jwk) == simdjson::SUCCESS);  // A.1: the oct key is the key
      }
      CHECK(token == example.token);
      CHECK(alg == example.alg);
      CHECK(must_verify);
      checkExample(alg, simdjson::minify(jwk), token);
    }

    const auto none = testing::readFile(folder + "rfc7515_a5_none.json");
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    REQUIRE(parser.parse(*none).get(root) == simdjson::SUCCESS);
    std::string_view token, alg;
    REQUIRE(root["token"].get_string().get(token) == simdjson::SUCCESS);
    REQUIRE(root["alg"].get_string().get(alg) == simdjson::SUCCESS);
    CHECK(token == kUnsecuredToken);
    CHECK_FALSE(parseAlgorithm(alg).has_value());
  }
}

}  // namespace
}  // namespace jwtgate::verifier

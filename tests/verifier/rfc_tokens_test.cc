// The JWS examples published in RFC 7515 appendix A and RFC 8037 appendix A through the full
// verifier, with an injected clock; cross-checked against /work/shared/vectors/rfc when present.
#include <doctest/doctest.h>
#include <openssl/err.h>

#include <fstream>
#include <sstream>
#include <string>

#include "support/token_minter.h"
#include "verifier/verifier.h"

namespace jwtgate::verifier {
namespace {

using testing::keySetFromJwks;
using testing::name;

// The values as printed in the RFCs.
constexpr std::string_view kA1Token =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
    "cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr std::string_view kA1Jwk =
    R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Y)"
    R"(j0iPS4hcgUuTwjAzZr1Z9CAow"})";

constexpr std::string_view kA2Token =
    "eyJhbGciOiJSUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
    "cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt"
    "_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvk"
    "SjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6"
    "IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
constexpr std::string_view kA2Jwk =
    R"({"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmf)"
    R"(HQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ4)"
    R"(7soMZo9wGzjb_7OMg0LOL-b)"
    R"(Sf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9k)"
    R"(G4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",)"
    R"("e":"AQAB"})";

constexpr std::string_view kA3Token =
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
    "cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
constexpr std::string_view kA3Jwk =
    R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";

constexpr std::string_view kA4Token =
    "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-m"
    "ZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmx"
    "YbSW9ERBXukOXolLzeO_Jn";
constexpr std::string_view kA4Jwk =
    R"({"kty":"EC","crv":"P-521","x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcB)"
    R"(pXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk","y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQ)"
    R"(yyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"})";

constexpr std::string_view kA5Token =
    "eyJhbGciOiJub25lIn0"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
    "cnVlfQ.";

constexpr std::string_view kRfc8037Token =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg"
    "3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
constexpr std::string_view kRfc8037Jwk =
    R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";

constexpr std::int64_t kExp = 1300819380;        // 2011-03-22T18:43:00Z, in A.1-A.3
constexpr std::int64_t kBeforeExp = kExp - 600;  // An injected clock ten minutes earlier
constexpr std::int64_t kIn2026 = 1767225600;     // 2026-01-01T00:00:00Z

struct Example {
  std::string_view file;  // Its name in /work/shared/vectors/rfc
  std::string_view token;
  std::string_view jwk;
  Status before_exp;  // With the clock before 2011-03-22
  Status in_2026;     // With a 2026 clock
};

constexpr Example kExamples[] = {
    {"rfc7515_a1_hs256.json", kA1Token, kA1Jwk, Status::Ok, Status::Expired},
    {"rfc7515_a2_rs256.json", kA2Token, kA2Jwk, Status::Ok, Status::Expired},
    {"rfc7515_a3_es256.json", kA3Token, kA3Jwk, Status::Ok, Status::Expired},
    {"rfc7515_a4_es512.json", kA4Token, kA4Jwk, Status::PayloadNotJson, Status::PayloadNotJson},
    {"rfc7515_a5_none.json", kA5Token, kA1Jwk, Status::AlgorithmUnsupported,
     Status::AlgorithmUnsupported},
    {"rfc8037_a4_ed25519.json", kRfc8037Token, kRfc8037Jwk, Status::PayloadNotJson,
     Status::PayloadNotJson},
};

// The examples' claims have iss "joe" and no aud.
Policy rfcPolicy() {
  Policy policy;
  policy.algorithms = AlgorithmSet::all();
  policy.issuer = "joe";
  return policy;
}

Status statusOf(const Result<VerifiedToken, Status>& result) {
  return result ? Status::Ok : result.error();
}

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST_SUITE("verifier/rfc_tokens") {
  TEST_CASE("the RFC examples verify with an injected clock and expire with a 2026 clock") {
    Verifier verifier;
    const Policy policy = rfcPolicy();
    for (const Example& example : kExamples) {
      CAPTURE(example.file);
      const KeySet keys = keySetFromJwks(example.jwk);
      const auto early = verifier.verify(example.token, policy, keys, kBeforeExp);
      CHECK(name(statusOf(early)) == name(example.before_exp));
      CHECK(name(statusOf(verifier.verify(example.token, policy, keys, kIn2026))) ==
            name(example.in_2026));
      CHECK(ERR_peek_error() == 0);
      if (early) {
        CHECK(early->claims().find("iss")->string() == "joe");
        CHECK(early->expiresAt() == kExp);
        CHECK(early->claims()
                  .find(testing::claimPath(R"(["http://example.com/is_root"])"))
                  ->boolean());
      }
    }
  }

  TEST_CASE("the examples expire exactly at exp plus the leeway") {
    Verifier verifier;
    const Policy policy = rfcPolicy();
    const KeySet keys = keySetFromJwks(kA2Jwk);
    CHECK(name(statusOf(verifier.verify(kA2Token, policy, keys, kExp + 59))) == name(Status::Ok));
    CHECK(name(statusOf(verifier.verify(kA2Token, policy, keys, kExp + 60))) ==
          name(Status::Expired));
  }

  TEST_CASE("the payload-not-JSON examples have valid signatures: a bit flip changes the status") {
    Verifier verifier;
    const Policy policy = rfcPolicy();
    for (const Example* example : {&kExamples[3], &kExamples[5]}) {
      CAPTURE(example->file);
      const KeySet keys = keySetFromJwks(example->jwk);
      std::string tampered(example->token);
      const std::size_t at = tampered.rfind('.') + 5;
      tampered[at] = tampered[at] == 'A' ? 'Q' : 'A';
      CHECK(name(statusOf(verifier.verify(tampered, policy, keys, kBeforeExp))) ==
            name(Status::SignatureInvalid));
    }
  }

  TEST_CASE("A.5 is refused whatever the allowed algorithms and keys") {
    Verifier verifier;
    Policy policy = rfcPolicy();
    for (const std::string_view jwk : {kA1Jwk, kA2Jwk, kA3Jwk}) {
      CHECK(name(statusOf(verifier.verify(kA5Token, policy, keySetFromJwks(jwk), kBeforeExp))) ==
            name(Status::AlgorithmUnsupported));
    }
    policy.algorithms = AlgorithmSet();
    CHECK(name(statusOf(verifier.verify(kA5Token, policy, keySetFromJwks(kA1Jwk), kBeforeExp))) ==
          name(Status::AlgorithmUnsupported));
  }

  TEST_CASE("the shared vector files hold the same examples") {
    const std::string dir = std::string(JWTGATE_VECTORS_DIR) + "/rfc/";
    Verifier verifier;
    const Policy policy = rfcPolicy();
    int checked = 0;
    for (const Example& example : kExamples) {
      CAPTURE(example.file);
      const std::optional<std::string> text = readFile(dir + std::string(example.file));
      if (!text) {
        MESSAGE("skipped: " << dir << example.file << " is absent");
        continue;
      }
      const testing::ParsedJson json(*text);
      REQUIRE_FALSE(json.error());
      const ClaimsView file = json.claims();
      CHECK(file.find("token")->string() == example.token);

      // The file's own public key gives the same verdict as the key written above.
      const auto public_jwk = file.find("public_jwk");
      const auto jwk = public_jwk && public_jwk->isObject() ? public_jwk : file.find("jwk");
      REQUIRE(jwk);
      if (jwk->isObject()) {
        std::string jwk_json;
        jwk->appendJson(jwk_json);
        const KeySet keys = keySetFromJwks(jwk_json);
        CHECK(name(statusOf(verifier.verify(example.token, policy, keys, kBeforeExp))) ==
              name(example.before_exp));
      }
      const bool must_verify = file.find("signature_must_verify")->boolean();
      CHECK(must_verify == (example.before_exp != Status::AlgorithmUnsupported));
      ++checked;
    }
    if (checked == 0) {
      MESSAGE("skipped: no RFC vector files under " << dir);
    }
  }
}

}  // namespace
}  // namespace jwtgate::verifier

// Test-only signer: makes keys with OpenSSL, exports their public JWK/PEM and mints JWS
// signatures and compact tokens, independently of the verifier code under test.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "verifier/algorithm.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace jwtgate::testing {

// Unpadded base64url (RFC 7515 section 2), written here rather than taken from the verifier
// so that tokens minted by tests do not depend on the code they test.
std::string base64UrlEncode(std::span<const std::uint8_t> bytes);
std::string base64UrlEncode(std::string_view bytes);

// Bytes from hex text ("0a1B..."); throws std::invalid_argument on bad hex.
std::vector<std::uint8_t> fromHex(std::string_view hex);

// A private key (or HMAC secret) for one algorithm family. Copies share the key. Every
// failure throws std::runtime_error: this is test code and a failure there is a test error.
class TestSigner {
 public:
  // A new key for `alg`: RSA of `rsa_bits` (RS*, PS*), P-256/P-384/P-521 (ES*), Ed25519
  // (EdDSA, Ed25519), Ed448 (Ed448), or a random secret of the hash length (HS*).
  static TestSigner generate(verifier::Algorithm alg, int rsa_bits = 2048);

  // One key per algorithm for the whole process, made on first use (RSA generation is slow).
  // Thread-safe; the reference lives until the process exits.
  static const TestSigner& shared(verifier::Algorithm alg);

  // An HMAC signer with the given secret (any length: tests of short secrets need it).
  static TestSigner fromSecret(verifier::Algorithm alg, std::span<const std::uint8_t> secret);

  verifier::Algorithm algorithm() const { return alg_; }

  // The public JWK as JSON text. For HS it is the oct key with "k" (the secret itself).
  // "kid" is added when given, and "alg" when `with_alg` is true.
  std::string publicJwk(std::optional<std::string_view> kid = std::nullopt,
                        bool with_alg = false) const;
  // {"keys":[publicJwk(kid, with_alg)]}
  std::string jwks(std::optional<std::string_view> kid = std::nullopt, bool with_alg = false) const;
  // The SPKI public key as PEM ("BEGIN PUBLIC KEY"); throws for HS.
  std::string publicPem() const;

  // The JWS signature over `signing_input` with this signer's algorithm (ES: raw R||S).
  std::vector<std::uint8_t> sign(std::string_view signing_input) const;
  // The same with another algorithm of the same key family (e.g. PS256 with an RSA key).
  std::vector<std::uint8_t> sign(verifier::Algorithm alg, std::string_view signing_input) const;
  // ES only: the signature as OpenSSL's DER ECDSA-Sig-Value, which JWS forbids.
  std::vector<std::uint8_t> signEcdsaDer(std::string_view signing_input) const;

  // A compact JWS: BASE64URL(header_json) "." BASE64URL(payload_json) "." BASE64URL(sig),
  // signed with this signer's algorithm whatever `header_json` says.
  std::string mint(std::string_view header_json, std::string_view payload_json) const;
  // The same with the header {"alg":"<alg>","typ":"JWT"} plus "kid" when given.
  std::string mintJwt(std::string_view payload_json,
                      std::optional<std::string_view> kid = std::nullopt) const;

  // The private key (null for HS) and the HMAC secret (empty for the others).
  EVP_PKEY* privateKey() const { return pkey_.get(); }
  std::span<const std::uint8_t> secret() const { return secret_; }

 private:
  TestSigner(verifier::Algorithm alg, std::shared_ptr<EVP_PKEY> pkey,
             std::vector<std::uint8_t> secret);

  verifier::Algorithm alg_;
  std::shared_ptr<EVP_PKEY> pkey_;
  std::vector<std::uint8_t> secret_;
};

}  // namespace jwtgate::testing

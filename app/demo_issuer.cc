#include "app/demo_issuer.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <vector>

#include "verifier/base64url.h"

namespace jwtgate::app {
namespace {

using verifier::base64UrlEncode;

constexpr std::size_t kP256FieldBytes = 32;

struct BignumDeleter {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using BignumPtr = std::unique_ptr<BIGNUM, BignumDeleter>;

struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// Reads one affine coordinate of the public point as exactly 32 big-endian bytes.
std::optional<std::string> coordinate(EVP_PKEY* key, const char* param) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) {
    return std::nullopt;
  }
  BignumPtr bn(raw);
  std::string bytes(kP256FieldBytes, '\0');
  if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()),
                   static_cast<int>(bytes.size())) < 0) {
    return std::nullopt;
  }
  return bytes;
}

}  // namespace

std::optional<DemoIssuer> DemoIssuer::create(std::string kid) {
  DemoIssuer issuer;
  issuer.kid_ = std::move(kid);
  issuer.key_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!issuer.key_) {
    ERR_clear_error();
    std::fprintf(stderr, "jwtgate: could not generate the demo key\n");
    return std::nullopt;
  }

  const auto x = coordinate(issuer.key_.get(), OSSL_PKEY_PARAM_EC_PUB_X);
  const auto y = coordinate(issuer.key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
  if (!x || !y) {
    ERR_clear_error();
    std::fprintf(stderr, "jwtgate: could not export the demo key\n");
    return std::nullopt;
  }
  issuer.jwks_ = R"({"keys":[{"kty":"EC","crv":"P-256","use":"sig","alg":"ES256","kid":")" +
                 issuer.kid_ + R"(","x":")" + base64UrlEncode(*x) + R"(","y":")" +
                 base64UrlEncode(*y) + "\"}]}";
  return issuer;
}

std::string DemoIssuer::sign(std::string_view payload_json) const {
  const std::string header = R"({"alg":"ES256","typ":"JWT","kid":")" + kid_ + "\"}";
  std::string signing_input = base64UrlEncode(header) + "." + base64UrlEncode(payload_json);

  // OpenSSL produces a DER ECDSA-Sig-Value; JWS wants the fixed-length R || S (RFC 7518 3.4).
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  std::size_t der_length = 0;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    ERR_clear_error();
    return {};
  }
  std::vector<unsigned char> der(der_length);
  if (EVP_DigestSign(ctx.get(), der.data(), &der_length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    ERR_clear_error();
    return {};
  }

  const unsigned char* cursor = der.data();
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> sig(
      d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der_length)));
  if (!sig) {
    ERR_clear_error();
    return {};
  }
  std::string raw(2 * kP256FieldBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, kP256FieldBytes) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + kP256FieldBytes, kP256FieldBytes) < 0) {
    ERR_clear_error();
    return {};
  }
  return signing_input + "." + base64UrlEncode(raw);
}

}  // namespace jwtgate::app

// Test-only signer built straight on OpenSSL 3 EVP (see test_signer.h).
#include "support/test_signer.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <array>
#include <map>
#include <mutex>
#include <stdexcept>

namespace jwtgate::testing {
namespace {

using verifier::Algorithm;
using verifier::KeyType;

[[noreturn]] void failWith(const std::string& what) {
  const unsigned long error = ERR_get_error();
  ERR_clear_error();
  std::array<char, 256> text{};
  ERR_error_string_n(error, text.data(), text.size());
  throw std::runtime_error("test signer: " + what + " (" + text.data() + ")");
}

struct Deleters {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(BIO* p) const { BIO_free_all(p); }
};

const char* digestName(Algorithm alg) {
  switch (verifier::digestLength(alg)) {
    case 32:
      return "SHA256";
    case 48:
      return "SHA384";
    case 64:
      return "SHA512";
    default:
      return nullptr;
  }
}

bool isPss(Algorithm alg) {
  return alg == Algorithm::PS256 || alg == Algorithm::PS384 || alg == Algorithm::PS512;
}

std::size_t ecFieldSize(Algorithm alg) {
  switch (alg) {
    case Algorithm::ES256:
      return 32;
    case Algorithm::ES384:
      return 48;
    default:
      return 66;
  }
}

const char* ecCurveName(Algorithm alg) {
  switch (alg) {
    case Algorithm::ES256:
      return "P-256";
    case Algorithm::ES384:
      return "P-384";
    default:
      return "P-521";
  }
}

std::vector<std::uint8_t> bignumParam(EVP_PKEY* pkey, const char* name, std::size_t pad_to) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) {
    failWith(std::string("cannot read key parameter ") + name);
  }
  std::unique_ptr<BIGNUM, Deleters> number(raw);
  const std::size_t size = pad_to != 0 ? pad_to : static_cast<std::size_t>(BN_num_bytes(raw));
  std::vector<std::uint8_t> bytes(size);
  if (BN_bn2binpad(raw, bytes.data(), static_cast<int>(size)) < 0) {
    failWith("parameter does not fit");
  }
  return bytes;
}

// Built by appending: GCC 12 at -O3 warns falsely (-Wrestrict) on "literal" + std::string.
std::string quoted(std::string_view text) {
  std::string out(1, '"');
  out.append(text);
  out.push_back('"');
  return out;
}

// Signs with EVP_DigestSign; `md` is null for EdDSA. Returns what OpenSSL produces.
std::vector<std::uint8_t> digestSign(EVP_PKEY* pkey, Algorithm alg, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, Deleters> context(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_context = nullptr;
  const char* md = verifier::keyTypeFor(alg) == KeyType::Okp ? nullptr : digestName(alg);
  if (!context || EVP_DigestSignInit_ex(context.get(), &pkey_context, md, nullptr, nullptr, pkey,
                                        nullptr) != 1) {
    failWith("DigestSignInit");
  }
  if (isPss(alg)) {
    if (EVP_PKEY_CTX_set_rsa_padding(pkey_context, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_context, RSA_PSS_SALTLEN_DIGEST) != 1) {
      failWith("PSS parameters");
    }
  }
  std::size_t length = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(context.get(), nullptr, &length, data, input.size()) != 1) {
    failWith("DigestSign size");
  }
  std::vector<std::uint8_t> signature(length);
  if (EVP_DigestSign(context.get(), signature.data(), &length, data, input.size()) != 1) {
    failWith("DigestSign");
  }
  signature.resize(length);
  return signature;
}

// DER ECDSA-Sig-Value to the JWS form: R and S, each left-padded to the field size.
std::vector<std::uint8_t> derToRaw(const std::vector<std::uint8_t>& der, std::size_t field) {
  const unsigned char* cursor = der.data();
  std::unique_ptr<ECDSA_SIG, Deleters> sig(
      d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
  if (!sig) {
    failWith("d2i_ECDSA_SIG");
  }
  std::vector<std::uint8_t> raw(2 * field);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), static_cast<int>(field)) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + field, static_cast<int>(field)) < 0) {
    failWith("BN_bn2binpad");
  }
  return raw;
}

}  // namespace

std::string base64UrlEncode(std::span<const std::uint8_t> bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (bytes.size() - i == 1) {
    const std::uint32_t n = bytes[i] << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const std::uint32_t n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

std::string base64UrlEncode(std::string_view bytes) {
  return base64UrlEncode(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::vector<std::uint8_t> fromHex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument("bad hex digit");
  };
  if (hex.size() % 2 != 0) {
    throw std::invalid_argument("odd hex length");
  }
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  }
  return out;
}

TestSigner::TestSigner(Algorithm alg, std::shared_ptr<EVP_PKEY> pkey,
                       std::vector<std::uint8_t> secret)
    : alg_(alg), pkey_(std::move(pkey)), secret_(std::move(secret)) {}

TestSigner TestSigner::generate(Algorithm alg, int rsa_bits) {
  EVP_PKEY* pkey = nullptr;
  switch (verifier::keyTypeFor(alg)) {
    case KeyType::Rsa:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(rsa_bits));
      break;
    case KeyType::Ec:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", ecCurveName(alg));
      break;
    case KeyType::Okp:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, alg == Algorithm::Ed448 ? "ED448" : "ED25519");
      break;
    case KeyType::Oct: {
      std::vector<std::uint8_t> secret(verifier::digestLength(alg));
      if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
        failWith("RAND_bytes");
      }
      return TestSigner(alg, nullptr, std::move(secret));
    }
  }
  if (pkey == nullptr) {
    failWith("key generation");
  }
  return TestSigner(alg, std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free), {});
}

const TestSigner& TestSigner::shared(Algorithm alg) {
  static std::mutex mutex;
  static std::map<Algorithm, TestSigner> signers;
  const std::lock_guard<std::mutex> lock(mutex);
  auto found = signers.find(alg);
  if (found == signers.end()) {
    found = signers.emplace(alg, generate(alg)).first;
  }
  return found->second;
}

TestSigner TestSigner::fromSecret(Algorithm alg, std::span<const std::uint8_t> secret) {
  if (verifier::keyTypeFor(alg) != KeyType::Oct) {
    throw std::invalid_argument("fromSecret needs an HS algorithm");
  }
  return TestSigner(alg, nullptr, std::vector<std::uint8_t>(secret.begin(), secret.end()));
}

std::string TestSigner::publicJwk(std::optional<std::string_view> kid, bool with_alg) const {
  std::string jwk;
  switch (verifier::keyTypeFor(alg_)) {
    case KeyType::Rsa:
      jwk = "{\"kty\":\"RSA\",\"n\":" +
            quoted(base64UrlEncode(bignumParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_N, 0))) +
            ",\"e\":" + quoted(base64UrlEncode(bignumParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_E, 0)));
      break;
    case KeyType::Ec: {
      const std::size_t field = ecFieldSize(alg_);
      jwk = "{\"kty\":\"EC\",\"crv\":" + quoted(ecCurveName(alg_)) + ",\"x\":" +
            quoted(base64UrlEncode(bignumParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X, field))) +
            ",\"y\":" +
            quoted(base64UrlEncode(bignumParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, field)));
      break;
    }
    case KeyType::Okp: {
      std::size_t length = 0;
      if (EVP_PKEY_get_raw_public_key(pkey_.get(), nullptr, &length) != 1) {
        failWith("raw public key size");
      }
      std::vector<std::uint8_t> raw(length);
      if (EVP_PKEY_get_raw_public_key(pkey_.get(), raw.data(), &length) != 1) {
        failWith("raw public key");
      }
      const bool ed448 = EVP_PKEY_get_base_id(pkey_.get()) == EVP_PKEY_ED448;
      jwk = std::string("{\"kty\":\"OKP\",\"crv\":") + (ed448 ? "\"Ed448\"" : "\"Ed25519\"") +
            ",\"x\":" + quoted(base64UrlEncode(raw));
      break;
    }
    case KeyType::Oct:
      jwk = "{\"kty\":\"oct\",\"k\":" + quoted(base64UrlEncode(secret_));
      break;
  }
  if (kid.has_value()) {
    jwk += ",\"kid\":" + quoted(*kid);
  }
  if (with_alg) {
    jwk += ",\"alg\":" + quoted(verifier::toString(alg_));
  }
  return jwk + "}";
}

std::string TestSigner::jwks(std::optional<std::string_view> kid, bool with_alg) const {
  return "{\"keys\":[" + publicJwk(kid, with_alg) + "]}";
}

std::string TestSigner::publicPem() const {
  if (!pkey_) {
    throw std::logic_error("an HMAC secret has no PEM form");
  }
  std::unique_ptr<BIO, Deleters> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) {
    failWith("PEM_write_bio_PUBKEY");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::vector<std::uint8_t> TestSigner::sign(std::string_view signing_input) const {
  return sign(alg_, signing_input);
}

std::vector<std::uint8_t> TestSigner::sign(Algorithm alg, std::string_view signing_input) const {
  if (verifier::keyTypeFor(alg) != verifier::keyTypeFor(alg_)) {
    throw std::invalid_argument("algorithm of another key family");
  }
  switch (verifier::keyTypeFor(alg)) {
    case KeyType::Rsa:
    case KeyType::Okp:
      return digestSign(pkey_.get(), alg, signing_input);
    case KeyType::Ec:
      return derToRaw(digestSign(pkey_.get(), alg, signing_input), ecFieldSize(alg_));
    case KeyType::Oct: {
      std::vector<std::uint8_t> tag(verifier::digestLength(alg));
      std::size_t length = 0;
      if (EVP_Q_mac(nullptr, "HMAC", nullptr, digestName(alg), nullptr, secret_.data(),
                    secret_.size(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                    signing_input.size(), tag.data(), tag.size(), &length) == nullptr) {
        failWith("EVP_Q_mac");
      }
      tag.resize(length);
      return tag;
    }
  }
  throw std::logic_error("unreachable");
}

std::vector<std::uint8_t> TestSigner::signEcdsaDer(std::string_view signing_input) const {
  if (verifier::keyTypeFor(alg_) != KeyType::Ec) {
    throw std::invalid_argument("signEcdsaDer needs an ES signer");
  }
  return digestSign(pkey_.get(), alg_, signing_input);
}

std::string TestSigner::mint(std::string_view header_json, std::string_view payload_json) const {
  const std::string signing_input =
      base64UrlEncode(header_json) + "." + base64UrlEncode(payload_json);
  return signing_input + "." + base64UrlEncode(sign(signing_input));
}

std::string TestSigner::mintJwt(std::string_view payload_json,
                                std::optional<std::string_view> kid) const {
  std::string header = "{\"alg\":" + quoted(verifier::toString(alg_)) + ",\"typ\":\"JWT\"";
  if (kid.has_value()) {
    header += ",\"kid\":" + quoted(*kid);
  }
  return mint(header + "}", payload_json);
}

}  // namespace jwtgate::testing

// Keys and key sets: the checks every key passes before it may verify anything, PEM loading,
// and the kid lookup of the request path. JWKS parsing lives in verifier/jwk_parser.cc.
#include "verifier/key_set.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <array>
#include <cstdio>
#include <optional>
#include <string>

#include "verifier/jwk_parser.h"
#include "verifier/key_set_builder.h"
#include "verifier/openssl_util.h"
#include "verifier/verify_contexts.h"

namespace jwtgate::verifier {
namespace {

constexpr std::size_t kMaxKidInMessage = 64;

Err<std::string> fail(std::string message) {
  ERR_clear_error();
  return makeError(std::move(message));
}

// The curve of an EC key from its group name; None for a group jwtgate does not verify.
Curve ecCurveOf(EVP_PKEY* pkey) {
  std::array<char, 64> group{};
  std::size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                     &length) != 1) {
    return Curve::None;
  }
  const std::string_view name(group.data(), length);
  if (name == "prime256v1" || name == "P-256") {
    return Curve::P256;
  }
  if (name == "secp384r1" || name == "P-384") {
    return Curve::P384;
  }
  if (name == "secp521r1" || name == "P-521") {
    return Curve::P521;
  }
  return Curve::None;
}

// OpenSSL's public-key validation of an EC key: the point is on the curve, not at infinity
// and of the right order.
bool passesEcPublicCheck(EVP_PKEY* pkey) {
  EvpPkeyCtxPtr context{EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr)};
  return context && EVP_PKEY_public_check(context.get()) == 1;
}

// NOTE: a huge public exponent makes every verify slow; real keys use 65537 (17 bits), and
// OpenSSL itself refuses exponents over 64 bits for moduli above 3072 bits.
constexpr int kMaxRsaExponentBits = 64;

// The cheap structural checks of an RSA public key: n odd, e odd, 1 < e < 2^64.
// NOTE: EVP_PKEY_public_check would add SP 800-56B's primality tests on n, milliseconds per
// key on every key-set refresh (about 3 ms at 2048 bits and 17 ms at 4096 bits when measured).
// A verifier gains nothing from them: whoever publishes the key set can publish any key.
std::optional<std::string> rsaProblem(EVP_PKEY* pkey) {
  BIGNUM* raw_n = nullptr;
  BIGNUM* raw_e = nullptr;
  const bool read = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &raw_n) == 1 &&
                    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &raw_e) == 1;
  const BignumPtr n{raw_n};
  const BignumPtr e{raw_e};
  if (!read) {
    return "RSA public key parameters are unreadable";
  }
  if (!BN_is_odd(n.get())) {
    return "RSA modulus is even";
  }
  if (!BN_is_odd(e.get()) || BN_is_one(e.get())) {
    return "RSA public exponent must be odd and greater than 1";
  }
  if (BN_num_bits(e.get()) > kMaxRsaExponentBits) {
    return "RSA public exponent is larger than " + std::to_string(kMaxRsaExponentBits) + " bits";
  }
  return std::nullopt;
}

std::string algorithmMismatch(Algorithm alg) {
  return "its \"alg\" " + std::string(toString(alg)) + " does not fit the key's type or curve";
}

// One PEM block as PEM_read_bio returns it; the buffers belong to OpenSSL.
struct PemBlock {
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long length = 0;

  PemBlock() = default;
  PemBlock(const PemBlock&) = delete;
  PemBlock& operator=(const PemBlock&) = delete;
  ~PemBlock() {
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
};

// Decodes one SPKI ("PUBLIC KEY") block; null when it is not a valid public key.
EvpPkeyPtr decodeSpki(const PemBlock& block) {
  const unsigned char* cursor = block.data;
  EvpPkeyPtr pkey{d2i_PUBKEY(nullptr, &cursor, block.length)};
  // Trailing bytes after the SPKI structure mean the block is not what it claims to be.
  if (pkey && cursor != block.data + block.length) {
    return nullptr;
  }
  return pkey;
}

}  // namespace

void EvpPkeyDeleter::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

Key::~Key() {
  if (!secret_.empty()) {
    OPENSSL_cleanse(secret_.data(), secret_.size());
  }
}

bool Key::fits(Algorithm alg) const {
  if (alg_.has_value() && *alg_ != alg) {
    return false;
  }
  if (keyTypeFor(alg) != type_) {
    return false;
  }
  switch (alg) {
    case Algorithm::ES256:
      return curve_ == Curve::P256;
    case Algorithm::ES384:
      return curve_ == Curve::P384;
    case Algorithm::ES512:
      return curve_ == Curve::P521;
    case Algorithm::EdDSA:
      return curve_ == Curve::Ed25519 || curve_ == Curve::Ed448;
    case Algorithm::Ed25519:
      return curve_ == Curve::Ed25519;
    case Algorithm::Ed448:
      return curve_ == Curve::Ed448;
    case Algorithm::HS256:
    case Algorithm::HS384:
    case Algorithm::HS512:
      // RFC 7518 section 3.2: the secret is at least as long as the hash output.
      return secret_.size() >= digestLength(alg);
    case Algorithm::RS256:
    case Algorithm::RS384:
    case Algorithm::RS512:
    case Algorithm::PS256:
    case Algorithm::PS384:
    case Algorithm::PS512:
      return true;
  }
  return false;
}

Result<std::unique_ptr<Key>, std::string> KeySetBuilder::makePublicKey(
    EvpPkeyPtr pkey, std::optional<std::string> kid, std::optional<Algorithm> alg) {
  auto key = std::make_unique<Key>();
  key->kid_ = std::move(kid);
  key->alg_ = alg;

  // Classify the key; anything but plain RSA, the three NIST curves and EdDSA is refused.
  switch (EVP_PKEY_get_base_id(pkey.get())) {
    case EVP_PKEY_RSA: {
      key->type_ = KeyType::Rsa;
      const int bits = EVP_PKEY_get_bits(pkey.get());
      if (bits < kMinRsaBits) {
        return fail("RSA modulus of " + std::to_string(bits) + " bits is too weak; at least " +
                    std::to_string(kMinRsaBits) + " are required");
      }
      if (bits > kMaxRsaBits) {
        return fail("RSA modulus of " + std::to_string(bits) + " bits is larger than the " +
                    std::to_string(kMaxRsaBits) + " allowed");
      }
      if (auto problem = rsaProblem(pkey.get())) {
        return fail(std::move(*problem));
      }
      break;
    }
    case EVP_PKEY_RSA_PSS:
      return fail(
          "RSASSA-PSS-restricted keys (id-RSASSA-PSS) are not supported; "
          "use a plain RSA public key");
    case EVP_PKEY_EC:
      key->type_ = KeyType::Ec;
      key->curve_ = ecCurveOf(pkey.get());
      if (key->curve_ == Curve::None) {
        return fail("EC key on an unsupported curve (P-256, P-384 and P-521 are supported)");
      }
      break;
    case EVP_PKEY_ED25519:
      key->type_ = KeyType::Okp;
      key->curve_ = Curve::Ed25519;
      break;
    case EVP_PKEY_ED448:
      key->type_ = KeyType::Okp;
      key->curve_ = Curve::Ed448;
      break;
    default:
      return fail("unsupported public key type (RSA, EC, Ed25519 and Ed448 are supported)");
  }

  // A point off the curve never becomes a key (the JWK path has checked it already, PEM
  // input not yet).
  if (key->type_ == KeyType::Ec && !passesEcPublicCheck(pkey.get())) {
    return fail("EC point is not a valid point of its curve");
  }
  key->pkey_ = std::move(pkey);
  return prepare(std::move(key));
}

Result<std::unique_ptr<Key>, std::string> KeySetBuilder::makeSecretKey(
    std::vector<std::uint8_t> secret, std::optional<std::string> kid,
    std::optional<Algorithm> alg) {
  // The Key owns (and wipes) the secret from here on, refused or not.
  auto key = std::make_unique<Key>();
  key->kid_ = std::move(kid);
  key->alg_ = alg;
  key->type_ = KeyType::Oct;
  key->secret_ = std::move(secret);

  if (key->secret_.size() < kMinHmacSecret) {
    return fail("HMAC secret of " + std::to_string(key->secret_.size()) +
                " bytes is too short; at least " + std::to_string(kMinHmacSecret) +
                " are required");
  }
  if (alg.has_value() && keyTypeFor(*alg) == KeyType::Oct &&
      key->secret_.size() < digestLength(*alg)) {
    return fail("HMAC secret of " + std::to_string(key->secret_.size()) + " bytes is too short" +
                " for " + std::string(toString(*alg)) + "; at least " +
                std::to_string(digestLength(*alg)) + " are required");
  }
  return prepare(std::move(key));
}

Result<std::unique_ptr<Key>, std::string> KeySetBuilder::prepare(std::unique_ptr<Key> key) {
  // A key whose own "alg" it cannot serve (an RSA key saying ES256) is a configuration error.
  if (key->alg_.has_value() && !key->fits(*key->alg_)) {
    return fail(algorithmMismatch(*key->alg_));
  }

  // Contexts for every algorithm the key fits, so that the hot path fetches nothing.
  auto contexts = std::unique_ptr<detail::VerifyContexts, detail::VerifyContextsDeleter>(
      new detail::VerifyContexts());
  if (!detail::prepareVerifyContexts(*key, *contexts)) {
    return fail("OpenSSL could not prepare a verification context for the key");
  }
  key->contexts_ = std::move(contexts);
  return key;
}

std::string describeKey(std::string_view source, std::size_t index,
                        const std::optional<std::string>& kid) {
  std::string text = std::string(source) + " " + std::to_string(index);
  if (!kid.has_value()) {
    return text + " (no kid)";
  }

  // The kid is not secret, but it is foreign text: escape it so it cannot forge log lines.
  text += " (kid \"";
  const std::size_t shown = std::min(kid->size(), kMaxKidInMessage);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto byte = static_cast<unsigned char>((*kid)[i]);
    if (byte >= 0x20 && byte < 0x7f && byte != '"' && byte != '\\') {
      text += static_cast<char>(byte);
    } else {
      std::array<char, 5> escaped{};
      std::snprintf(escaped.data(), escaped.size(), "\\x%02x", byte);
      text += escaped.data();
    }
  }
  text += shown < kid->size() ? "\"...)" : "\")";
  return text;
}

Result<KeySet, KeyLoadError> KeySet::fromJwks(std::string_view json) { return parseJwks(json); }

Result<KeySet, KeyLoadError> KeySet::fromPem(std::string_view pem, const PemKeyOptions& options) {
  // A private key in a verifier's configuration is a leak; refuse rather than skip it.
  if (pem.find("PRIVATE KEY") != std::string_view::npos) {
    return makeError(KeyLoadError{"PEM input holds a private key; configure the public key only"});
  }
  if (pem.size() > static_cast<std::size_t>(INT32_MAX)) {
    return makeError(KeyLoadError{"PEM input is too large"});
  }
  BioPtr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio) {
    ERR_clear_error();
    return makeError(KeyLoadError{"out of memory reading PEM input"});
  }

  // Read every PEM block; each must be an SPKI "PUBLIC KEY". The end of the input shows up
  // as PEM_R_NO_START_LINE.
  KeySetBuilder builder;
  std::size_t index = 0;
  for (;; ++index) {
    PemBlock block;
    if (PEM_read_bio(bio.get(), &block.name, &block.header, &block.data, &block.length) != 1) {
      const unsigned long error = ERR_peek_last_error();
      ERR_clear_error();
      if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE) {
        break;
      }
      return makeError(
          KeyLoadError{describeKey("PEM key", index, options.kid) + ": malformed PEM block"});
    }
    if (index == kMaxKeysPerSet) {
      return makeError(
          KeyLoadError{"PEM input holds more than " + std::to_string(kMaxKeysPerSet) + " keys"});
    }
    if (std::string_view(block.name) != "PUBLIC KEY") {
      return makeError(KeyLoadError{describeKey("PEM key", index, options.kid) + ": is a \"" +
                                    std::string(block.name) +
                                    "\" block; only SPKI \"PUBLIC KEY\" blocks are accepted"});
    }
    EvpPkeyPtr pkey = decodeSpki(block);
    if (!pkey) {
      ERR_clear_error();
      return makeError(
          KeyLoadError{describeKey("PEM key", index, options.kid) + ": not a valid SPKI key"});
    }
    auto key = KeySetBuilder::makePublicKey(std::move(pkey), options.kid, options.alg);
    if (!key.ok()) {
      return makeError(
          KeyLoadError{describeKey("PEM key", index, options.kid) + ": " + key.error()});
    }
    builder.add(std::move(key).value());
  }

  if (index == 0) {
    return makeError(KeyLoadError{"PEM input holds no \"PUBLIC KEY\" block"});
  }
  return std::move(builder).finish();
}

void KeySet::merge(KeySet&& other) {
  for (auto& key : other.keys_) {
    keys_.push_back(std::move(key));
  }
  skipped_ += other.skipped_;
  other.keys_.clear();
  other.skipped_ = 0;
}

std::size_t KeySet::candidates(std::optional<std::string_view> kid,
                               std::span<const Key*> out) const {
  std::size_t written = 0;
  for (const auto& key : keys_) {
    if (written == out.size()) {
      break;
    }
    // RFC 7515 section 4.1.4: kid is an opaque, case-sensitive string, compared byte for byte.
    if (kid.has_value() && (!key->kid().has_value() || *key->kid() != *kid)) {
      continue;
    }
    out[written++] = key.get();
  }
  return written;
}

}  // namespace jwtgate::verifier

// The signature layer: one JWS signature, one key, OpenSSL 3 EVP (RFC 7518 section 3,
// RFC 8037 section 3.1). Contexts are prepared per key at load time; a call duplicates one.
#include "verifier/signature.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <array>
#include <cstring>

#include "verifier/openssl_util.h"
#include "verifier/verify_contexts.h"

namespace jwtgate::verifier {
namespace {

// The largest digest (SHA-512) and the largest raw ECDSA signature (P-521: 2 * 66 bytes).
constexpr std::size_t kMaxDigest = 64;
constexpr std::size_t kMaxEcField = 66;
// SEQUENCE header (3) + two INTEGERs of tag, length, a sign pad and the field-size digits.
constexpr std::size_t kMaxEcDer = 3 + 2 * (2 + 1 + kMaxEcField);

constexpr std::size_t kEd25519SignatureSize = 64;
constexpr std::size_t kEd448SignatureSize = 114;

// The digests and the HMAC implementation, fetched once per process so that the hot path
// never does an algorithm lookup.
struct Algorithms {
  EvpMdPtr sha256{EVP_MD_fetch(nullptr, "SHA256", nullptr)};
  EvpMdPtr sha384{EVP_MD_fetch(nullptr, "SHA384", nullptr)};
  EvpMdPtr sha512{EVP_MD_fetch(nullptr, "SHA512", nullptr)};
  EvpMacPtr hmac{EVP_MAC_fetch(nullptr, "HMAC", nullptr)};
};

const Algorithms& algorithms() {
  static const Algorithms fetched;
  return fetched;
}

// The digest of an RS, PS, ES or HS algorithm; null for the EdDSA family.
const EVP_MD* digestFor(Algorithm alg) {
  switch (digestLength(alg)) {
    case 32:
      return algorithms().sha256.get();
    case 48:
      return algorithms().sha384.get();
    case 64:
      return algorithms().sha512.get();
    default:
      return nullptr;
  }
}

bool isRsaPkcs1(Algorithm alg) {
  return alg == Algorithm::RS256 || alg == Algorithm::RS384 || alg == Algorithm::RS512;
}

bool isRsaPss(Algorithm alg) {
  return alg == Algorithm::PS256 || alg == Algorithm::PS384 || alg == Algorithm::PS512;
}

std::size_t ecFieldSize(Curve curve) {
  switch (curve) {
    case Curve::P256:
      return 32;
    case Curve::P384:
      return 48;
    case Curve::P521:
      return 66;
    case Curve::None:
    case Curve::Ed25519:
    case Curve::Ed448:
      return 0;
  }
  return 0;
}

// One reusable digest context per thread; EVP_DigestInit_ex2 resets it on every use.
EVP_MD_CTX* threadDigestContext() {
  thread_local EvpMdCtxPtr context{EVP_MD_CTX_new()};
  return context.get();
}

bool computeDigest(const EVP_MD* md, std::string_view input, unsigned char* out) {
  EVP_MD_CTX* context = threadDigestContext();
  unsigned int length = 0;
  return context != nullptr && EVP_DigestInit_ex2(context, md, nullptr) == 1 &&
         EVP_DigestUpdate(context, input.data(), input.size()) == 1 &&
         EVP_DigestFinal_ex(context, out, &length) == 1;
}

// Writes `digits` (unsigned, big-endian, possibly with leading zeros) as a minimal DER
// INTEGER and returns the bytes written. The caller's buffer holds at least 3 + size bytes.
std::size_t writeDerInteger(std::span<const std::uint8_t> digits, std::uint8_t* out) {
  std::size_t first = 0;
  while (first < digits.size() && digits[first] == 0) {
    ++first;
  }
  const std::span<const std::uint8_t> value = digits.subspan(first);

  // A set top bit needs a zero octet in front, or DER would read the number as negative.
  const bool pad = value.empty() || (value[0] & 0x80) != 0;
  const std::size_t length = value.size() + (pad ? 1 : 0);
  out[0] = 0x02;
  out[1] = static_cast<std::uint8_t>(length);
  std::size_t written = 2;
  if (pad) {
    out[written++] = 0x00;
  }
  if (!value.empty()) {
    std::memcpy(out + written, value.data(), value.size());
  }
  return written + value.size();
}

// Converts the JWS form of an ECDSA signature (R || S, each exactly `field` bytes, RFC 7518
// section 3.4) into the DER ECDSA-Sig-Value OpenSSL verifies. Returns the DER length, or 0
// when the raw form has the wrong length.
std::size_t rawEcdsaToDer(std::span<const std::uint8_t> raw, std::size_t field,
                          std::array<std::uint8_t, kMaxEcDer>& der) {
  if (field == 0 || raw.size() != 2 * field) {
    return 0;
  }

  // The integers go first: the SEQUENCE header's size depends on their total length.
  std::array<std::uint8_t, kMaxEcDer> body{};
  std::size_t body_length = writeDerInteger(raw.first(field), body.data());
  body_length += writeDerInteger(raw.subspan(field), body.data() + body_length);

  std::size_t header = 0;
  der[header++] = 0x30;
  if (body_length >= 0x80) {
    der[header++] = 0x81;  // The body never reaches 256 bytes (at most 138 for P-521).
  }
  der[header++] = static_cast<std::uint8_t>(body_length);
  std::memcpy(der.data() + header, body.data(), body_length);
  return header + body_length;
}

// RS, PS and ES: digest the input, duplicate the prepared context and verify the digest.
bool verifyDigestSignature(const EVP_PKEY_CTX* prepared, Algorithm alg,
                           std::string_view signing_input, const std::uint8_t* signature,
                           std::size_t signature_length) {
  std::array<unsigned char, kMaxDigest> digest{};
  if (prepared == nullptr || !computeDigest(digestFor(alg), signing_input, digest.data())) {
    return false;
  }
  EvpPkeyCtxPtr context{EVP_PKEY_CTX_dup(prepared)};
  if (!context) {
    return false;
  }
  return EVP_PKEY_verify(context.get(), signature, signature_length, digest.data(),
                         digestLength(alg)) == 1;
}

bool verifyRsa(const Key& key, Algorithm alg, std::string_view signing_input,
               std::span<const std::uint8_t> signature) {
  // RFC 8017 sections 8.1.2 and 8.2.2: a signature is exactly as long as the modulus. OpenSSL
  // checks this for PKCS#1 v1.5 but would accept a shorter PSS signature.
  const int modulus_bytes = EVP_PKEY_get_size(key.publicKey());
  if (modulus_bytes <= 0 || signature.size() != static_cast<std::size_t>(modulus_bytes)) {
    return false;
  }
  return verifyDigestSignature(key.contexts()->pkey[static_cast<std::size_t>(alg)].get(), alg,
                               signing_input, signature.data(), signature.size());
}

bool verifyEcdsa(const Key& key, Algorithm alg, std::string_view signing_input,
                 std::span<const std::uint8_t> signature) {
  std::array<std::uint8_t, kMaxEcDer> der{};
  const std::size_t der_length = rawEcdsaToDer(signature, ecFieldSize(key.curve()), der);
  if (der_length == 0) {
    return false;
  }
  return verifyDigestSignature(key.contexts()->pkey[static_cast<std::size_t>(alg)].get(), alg,
                               signing_input, der.data(), der_length);
}

bool verifyEddsa(const Key& key, std::string_view signing_input,
                 std::span<const std::uint8_t> signature) {
  const std::size_t expected =
      key.curve() == Curve::Ed25519 ? kEd25519SignatureSize : kEd448SignatureSize;
  if (signature.size() != expected) {
    return false;
  }

  // EdDSA signs the message itself (no pre-hash), so it goes through the one-shot
  // DigestVerify. The context is reset afterwards so that it holds no key reference.
  EVP_MD_CTX* context = threadDigestContext();
  if (context == nullptr) {
    return false;
  }
  const bool ok = EVP_DigestVerifyInit_ex(context, nullptr, nullptr, nullptr, nullptr,
                                          key.publicKey(), nullptr) == 1 &&
                  EVP_DigestVerify(context, signature.data(), signature.size(),
                                   reinterpret_cast<const unsigned char*>(signing_input.data()),
                                   signing_input.size()) == 1;
  EVP_MD_CTX_reset(context);
  return ok;
}

bool verifyHmac(const Key& key, Algorithm alg, std::string_view signing_input,
                std::span<const std::uint8_t> tag) {
  // JWS carries the full tag (RFC 7518 section 3.2); any other length is a forgery attempt.
  const std::size_t tag_length = digestLength(alg);
  if (tag.size() != tag_length) {
    return false;
  }
  const EVP_MAC_CTX* prepared = key.contexts()->mac[static_cast<std::size_t>(alg)].get();
  if (prepared == nullptr) {
    return false;
  }

  // The prepared context is already keyed, so a copy costs no key schedule.
  EvpMacCtxPtr context{EVP_MAC_CTX_dup(prepared)};
  std::array<unsigned char, kMaxDigest> computed{};
  std::size_t computed_length = 0;
  if (!context ||
      EVP_MAC_update(context.get(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1 ||
      EVP_MAC_final(context.get(), computed.data(), &computed_length, computed.size()) != 1 ||
      computed_length != tag_length) {
    return false;
  }
  return CRYPTO_memcmp(computed.data(), tag.data(), tag_length) == 0;
}

bool verifyWithKey(const Key& key, Algorithm alg, std::string_view signing_input,
                   std::span<const std::uint8_t> signature) {
  // The algorithm is accepted only if the key allows it: the token never chooses on its own.
  if (!key.fits(alg) || key.contexts() == nullptr) {
    return false;
  }
  switch (keyTypeFor(alg)) {
    case KeyType::Rsa:
      return verifyRsa(key, alg, signing_input, signature);
    case KeyType::Ec:
      return verifyEcdsa(key, alg, signing_input, signature);
    case KeyType::Okp:
      return verifyEddsa(key, signing_input, signature);
    case KeyType::Oct:
      return verifyHmac(key, alg, signing_input, signature);
  }
  return false;
}

// The RS, PS or ES context for `alg`: verify_init done and every parameter set.
EvpPkeyCtxPtr preparePkeyContext(const Key& key, Algorithm alg) {
  EvpPkeyCtxPtr context{EVP_PKEY_CTX_new_from_pkey(nullptr, key.publicKey(), nullptr)};
  const EVP_MD* md = digestFor(alg);
  if (!context || md == nullptr || EVP_PKEY_verify_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(context.get(), md) != 1) {
    return nullptr;
  }
  if (isRsaPkcs1(alg) && EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_PADDING) != 1) {
    return nullptr;
  }

  // RFC 7518 section 3.5: MGF1 with the same hash, and a salt exactly as long as the hash
  // (not "auto", which would accept any salt length).
  if (isRsaPss(alg) &&
      (EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(context.get(), static_cast<int>(digestLength(alg))) != 1 ||
       EVP_PKEY_CTX_set_rsa_mgf1_md(context.get(), md) != 1)) {
    return nullptr;
  }
  return context;
}

EvpMacCtxPtr prepareMacContext(const Key& key, Algorithm alg) {
  const EVP_MD* md = digestFor(alg);
  if (algorithms().hmac == nullptr || md == nullptr || key.secret().empty()) {
    return nullptr;
  }
  EvpMacCtxPtr context{EVP_MAC_CTX_new(algorithms().hmac.get())};
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                       const_cast<char*>(EVP_MD_get0_name(md)), 0),
      OSSL_PARAM_construct_end(),
  };
  if (!context ||
      EVP_MAC_init(context.get(), key.secret().data(), key.secret().size(), params) != 1) {
    return nullptr;
  }
  return context;
}

}  // namespace

namespace detail {

bool prepareVerifyContexts(const Key& key, VerifyContexts& contexts) {
  for (std::size_t index = 0; index < kAlgorithmCount; ++index) {
    const auto alg = static_cast<Algorithm>(index);
    if (!key.fits(alg)) {
      continue;
    }
    switch (keyTypeFor(alg)) {
      case KeyType::Rsa:
      case KeyType::Ec:
        contexts.pkey[index] = preparePkeyContext(key, alg);
        if (!contexts.pkey[index]) {
          ERR_clear_error();
          return false;
        }
        break;
      case KeyType::Oct:
        contexts.mac[index] = prepareMacContext(key, alg);
        if (!contexts.mac[index]) {
          ERR_clear_error();
          return false;
        }
        break;
      case KeyType::Okp:
        break;
    }
  }
  return true;
}

void VerifyContextsDeleter::operator()(VerifyContexts* contexts) const { delete contexts; }

}  // namespace detail

bool verifySignature(const Key& key, Algorithm alg, std::string_view signing_input,
                     std::span<const std::uint8_t> signature) {
  const bool ok = verifyWithKey(key, alg, signing_input, signature);
  // A failed verify leaves OpenSSL errors behind; they must not leak into the next caller.
  if (!ok) {
    ERR_clear_error();
  }
  return ok;
}

}  // namespace jwtgate::verifier

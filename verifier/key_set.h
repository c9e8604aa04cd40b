// Verification keys: parsed once from JWKS (RFC 7517) or PEM into ready OpenSSL objects.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "verifier/algorithm.h"
#include "verifier/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace jwtgate::verifier {

enum class Curve : std::uint8_t { None, P256, P384, P521, Ed25519, Ed448 };

namespace detail {
// Ready-made OpenSSL verification contexts of one key (verifier/verify_contexts.h).
struct VerifyContexts;
struct VerifyContextsDeleter {
  void operator()(VerifyContexts* contexts) const;
};
}  // namespace detail

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const;
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// One verification key. Immutable after loading; safe to share between threads.
class Key {
 public:
  Key() = default;
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  // Wipes the HMAC secret.
  ~Key();

  const std::optional<std::string>& kid() const { return kid_; }
  KeyType type() const { return type_; }
  Curve curve() const { return curve_; }
  // The JWK's own "alg", when it names one.
  const std::optional<Algorithm>& algorithm() const { return alg_; }

  // True if this key may verify a token signed with `alg`: the type and curve fit, and
  // the key's own "alg" (if any) is exactly `alg`.
  bool fits(Algorithm alg) const;

  // The OpenSSL public key (RSA, EC, OKP); null for oct keys.
  EVP_PKEY* publicKey() const { return pkey_.get(); }
  // The HMAC secret (oct keys); empty for the others.
  std::span<const std::uint8_t> secret() const { return secret_; }

  // For the signature layer: contexts prepared at load time for every algorithm the key fits,
  // so that verifying fetches nothing. Never null for a key that came out of a KeySet.
  const detail::VerifyContexts* contexts() const { return contexts_.get(); }

 private:
  friend class KeySetBuilder;
  std::optional<std::string> kid_;
  KeyType type_ = KeyType::Rsa;
  Curve curve_ = Curve::None;
  std::optional<Algorithm> alg_;
  EvpPkeyPtr pkey_;
  std::vector<std::uint8_t> secret_;
  std::unique_ptr<detail::VerifyContexts, detail::VerifyContextsDeleter> contexts_;
};

// A load failure, for the control plane: says which key and what is wrong, never the key.
struct KeyLoadError {
  std::string message;
};

// Options for loading keys from PEM, which carries no kid or alg of its own.
struct PemKeyOptions {
  std::optional<std::string> kid;
  std::optional<Algorithm> alg;
};

// An immutable set of keys. Built once, then shared (std::shared_ptr<const KeySet>) with the
// workers; lookups take no lock and allocate nothing.
class KeySet {
 public:
  // Parses a JWKS document ({"keys":[...]}) or a single JWK object.
  // Skipped and counted in `skipped()`: keys whose "use" is not "sig", whose "key_ops" lack
  // "verify", whose "alg" is not a JWS signature algorithm, of unknown "kty", or on a curve
  // jwtgate does not verify with (secp256k1, X25519, ...).
  // Fail the whole load, with a message naming the key by index and kid but never its bytes:
  // a member named twice, private key members (d, p, q, dp, dq, qi, oth), bad base64url, RSA
  // under 2048 or over 16384 bits, EC coordinates of the wrong length or a point off the
  // curve, an HMAC secret under 32 bytes (or under the hash length of its own "alg"), and an
  // "alg" that does not fit the key, and a document of more than kMaxKeysPerSet entries
  // (jwk_parser.h), skipped ones included.
  static Result<KeySet, KeyLoadError> fromJwks(std::string_view json);

  // Parses one or more PEM public keys (SPKI, "BEGIN PUBLIC KEY"); every key gets the kid and
  // alg of `options`. Any other PEM block (certificate, PKCS#1 "RSA PUBLIC KEY", any private
  // key) fails the load, and so do the checks fromJwks applies to the key itself.
  static Result<KeySet, KeyLoadError> fromPem(std::string_view pem, const PemKeyOptions& options);

  // Adds every key of `other` to this set (used to combine several sources).
  void merge(KeySet&& other);

  // The keys that may verify a token with this header: with a kid, the keys whose kid
  // equals it byte for byte (none is KeyNotFound for the caller); without a kid, every key.
  // The caller filters by Key::fits(). The returned pointers live as long as the set.
  // Writes at most `out.size()` pointers and returns how many it wrote.
  std::size_t candidates(std::optional<std::string_view> kid,
                         std::span<const Key*> out) const;

  std::size_t size() const { return keys_.size(); }
  std::size_t skipped() const { return skipped_; }
  const std::vector<std::unique_ptr<Key>>& keys() const { return keys_; }

 private:
  friend class KeySetBuilder;
  std::vector<std::unique_ptr<Key>> keys_;
  std::size_t skipped_ = 0;
};

}  // namespace jwtgate::verifier

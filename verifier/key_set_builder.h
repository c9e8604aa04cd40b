// Turns decoded key material into ready Keys, with the checks every source shares (JWKS and
// PEM alike): strength, curve, point validity, "alg" consistency (verifier-private).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "verifier/algorithm.h"
#include "verifier/key_set.h"
#include "verifier/result.h"

namespace jwtgate::verifier {

// RSA moduli below this are refused (RFC 7518 section 3.3 asks for at least 2048 bits).
inline constexpr int kMinRsaBits = 2048;
// NOTE: larger moduli are refused too: each verify would cost a configured key server the
// power to slow every request down; 16384 is also OpenSSL's own ceiling.
inline constexpr int kMaxRsaBits = 16384;
// HMAC secrets shorter than this are refused (RFC 7518 section 3.2: at least the hash size,
// and HS256 is the smallest).
inline constexpr std::size_t kMinHmacSecret = 32;

class KeySetBuilder {
 public:
  // A key from a decoded public key (RSA, EC on P-256/384/521, Ed25519, Ed448). The error
  // says what is wrong without the key's bytes; the caller prefixes which key it is.
  static Result<std::unique_ptr<Key>, std::string> makePublicKey(EvpPkeyPtr pkey,
                                                                 std::optional<std::string> kid,
                                                                 std::optional<Algorithm> alg);

  // An HMAC key ("kty":"oct"). The secret is wiped if it is refused.
  static Result<std::unique_ptr<Key>, std::string> makeSecretKey(std::vector<std::uint8_t> secret,
                                                                 std::optional<std::string> kid,
                                                                 std::optional<Algorithm> alg);

  void add(std::unique_ptr<Key> key) { set_.keys_.push_back(std::move(key)); }
  void countSkipped() { ++set_.skipped_; }
  KeySet finish() && { return std::move(set_); }

 private:
  static Result<std::unique_ptr<Key>, std::string> prepare(std::unique_ptr<Key> key);

  KeySet set_;
};

// Names a key in a load error: `source` ("key", "PEM key"), its index and its kid, with the
// kid quoted, non-printable bytes escaped and long kids shortened.
std::string describeKey(std::string_view source, std::size_t index,
                        const std::optional<std::string>& kid);

}  // namespace jwtgate::verifier

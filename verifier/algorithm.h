// The JWS signature algorithms jwtgate implements (RFC 7518 section 3, RFC 8037, RFC 9864).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace jwtgate::verifier {

enum class Algorithm : std::uint8_t {
  RS256, RS384, RS512,  // RSASSA-PKCS1-v1_5
  PS256, PS384, PS512,  // RSASSA-PSS, MGF1 with the same hash, salt length = hash length
  ES256, ES384, ES512,  // ECDSA on P-256/P-384/P-521, raw R||S signatures
  EdDSA,                // Ed25519 or Ed448, chosen by the key's curve (RFC 8037)
  Ed25519, Ed448,       // The fully specified names of RFC 9864
  HS256, HS384, HS512,  // HMAC
};

inline constexpr std::size_t kAlgorithmCount = 15;

enum class KeyType : std::uint8_t { Rsa, Ec, Okp, Oct };

// The exact, case-sensitive JOSE name. "none" and every unknown name give nullopt.
std::optional<Algorithm> parseAlgorithm(std::string_view name);
std::string_view toString(Algorithm alg);

// The key type an algorithm needs.
KeyType keyTypeFor(Algorithm alg);

// The digest length in bytes for RS/PS/ES/HS algorithms; 0 for the EdDSA family.
std::size_t digestLength(Algorithm alg);

// A set of algorithms as a bit mask: what a provider allows.
class AlgorithmSet {
 public:
  constexpr AlgorithmSet() = default;
  static constexpr AlgorithmSet all() {
    AlgorithmSet set;
    set.bits_ = (1u << kAlgorithmCount) - 1;
    return set;
  }
  constexpr void add(Algorithm alg) { bits_ |= bit(alg); }
  constexpr bool contains(Algorithm alg) const { return (bits_ & bit(alg)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }

 private:
  static constexpr std::uint32_t bit(Algorithm alg) {
    return 1u << static_cast<unsigned>(alg);
  }
  std::uint32_t bits_ = 0;
};

}  // namespace jwtgate::verifier

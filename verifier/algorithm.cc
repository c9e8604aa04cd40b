// The JOSE algorithm names and the facts the key and signature layers need about each.
#include "verifier/algorithm.h"

#include <array>

namespace jwtgate::verifier {
namespace {

struct AlgorithmInfo {
  Algorithm alg;
  std::string_view name;
  KeyType key_type;
  std::size_t digest_length;
};

// Indexed by the enum's value; the static_assert below keeps the two in step.
constexpr std::array<AlgorithmInfo, kAlgorithmCount> kAlgorithms = {{
    {Algorithm::RS256, "RS256", KeyType::Rsa, 32},
    {Algorithm::RS384, "RS384", KeyType::Rsa, 48},
    {Algorithm::RS512, "RS512", KeyType::Rsa, 64},
    {Algorithm::PS256, "PS256", KeyType::Rsa, 32},
    {Algorithm::PS384, "PS384", KeyType::Rsa, 48},
    {Algorithm::PS512, "PS512", KeyType::Rsa, 64},
    {Algorithm::ES256, "ES256", KeyType::Ec, 32},
    {Algorithm::ES384, "ES384", KeyType::Ec, 48},
    {Algorithm::ES512, "ES512", KeyType::Ec, 64},
    {Algorithm::EdDSA, "EdDSA", KeyType::Okp, 0},
    {Algorithm::Ed25519, "Ed25519", KeyType::Okp, 0},
    {Algorithm::Ed448, "Ed448", KeyType::Okp, 0},
    {Algorithm::HS256, "HS256", KeyType::Oct, 32},
    {Algorithm::HS384, "HS384", KeyType::Oct, 48},
    {Algorithm::HS512, "HS512", KeyType::Oct, 64},
}};

constexpr bool tableMatchesEnum() {
  for (std::size_t i = 0; i < kAlgorithms.size(); ++i) {
    if (static_cast<std::size_t>(kAlgorithms[i].alg) != i) {
      return false;
    }
  }
  return true;
}
static_assert(tableMatchesEnum(), "kAlgorithms must follow the order of enum Algorithm");

const AlgorithmInfo& infoFor(Algorithm alg) { return kAlgorithms[static_cast<std::size_t>(alg)]; }

}  // namespace

std::optional<Algorithm> parseAlgorithm(std::string_view name) {
  // Exact, case-sensitive comparison (RFC 7515 section 4.1.1): "none", "None", "hs256" and
  // every name outside the table are unsupported, never a fallback.
  for (const AlgorithmInfo& info : kAlgorithms) {
    if (info.name == name) {
      return info.alg;
    }
  }
  return std::nullopt;
}

std::string_view toString(Algorithm alg) { return infoFor(alg).name; }

KeyType keyTypeFor(Algorithm alg) { return infoFor(alg).key_type; }

std::size_t digestLength(Algorithm alg) { return infoFor(alg).digest_length; }

}  // namespace jwtgate::verifier

// parseAlgorithm, the facts per algorithm, and AlgorithmSet.
#include "verifier/algorithm.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

namespace jwtgate::verifier {
namespace {

struct AlgorithmRow {
  std::string_view name;
  Algorithm alg;
  KeyType key_type;
  std::size_t digest;
};

constexpr AlgorithmRow kRows[] = {
    {"RS256", Algorithm::RS256, KeyType::Rsa, 32},    {"RS384", Algorithm::RS384, KeyType::Rsa, 48},
    {"RS512", Algorithm::RS512, KeyType::Rsa, 64},    {"PS256", Algorithm::PS256, KeyType::Rsa, 32},
    {"PS384", Algorithm::PS384, KeyType::Rsa, 48},    {"PS512", Algorithm::PS512, KeyType::Rsa, 64},
    {"ES256", Algorithm::ES256, KeyType::Ec, 32},     {"ES384", Algorithm::ES384, KeyType::Ec, 48},
    {"ES512", Algorithm::ES512, KeyType::Ec, 64},     {"EdDSA", Algorithm::EdDSA, KeyType::Okp, 0},
    {"Ed25519", Algorithm::Ed25519, KeyType::Okp, 0}, {"Ed448", Algorithm::Ed448, KeyType::Okp, 0},
    {"HS256", Algorithm::HS256, KeyType::Oct, 32},    {"HS384", Algorithm::HS384, KeyType::Oct, 48},
    {"HS512", Algorithm::HS512, KeyType::Oct, 64},
};

TEST_SUITE("verifier/algorithm") {
  TEST_CASE("every implemented name parses to its algorithm and prints back the same") {
    static_assert(std::size(kRows) == kAlgorithmCount);
    for (const AlgorithmRow& row : kRows) {
      CAPTURE(row.name);
      const auto parsed = parseAlgorithm(row.name);
      REQUIRE(parsed.has_value());
      CHECK((*parsed == row.alg));  // (()): toString(Algorithm) would confuse doctest
      CHECK(toString(row.alg) == row.name);
      CHECK(keyTypeFor(row.alg) == row.key_type);
      CHECK(digestLength(row.alg) == row.digest);
    }
  }

  TEST_CASE("none in any spelling, wrong case and near misses are not algorithms") {
    using namespace std::string_literals;
    const std::string rejected[] = {
        "none",     "None",    "NONE",    "nOnE",    "",          " ",        "hs256",
        "Hs256",    "rs256",   "RS256 ",  " RS256",  "RS256\n",   "RS256\0"s, "\0RS256"s,
        "RS 256",   "RS-256",  "RS",      "RS1",     "RS128",     "HS1",      "ES256K",
        "EDDSA",    "eddsa",   "ed25519", "ED25519", "Ed25519ph", "Ed448ph",  "X25519",
        "RSA-OAEP", "ECDH-ES", "A128KW",  "dir",     "PS256\t",   "HS256\"",  "\xEF\xBB\xBFHS256",
    };
    for (const std::string& name : rejected) {
      CAPTURE(name);
      CHECK_FALSE(parseAlgorithm(name).has_value());
    }
  }

  TEST_CASE("an algorithm set holds exactly what was added") {
    AlgorithmSet set;
    CHECK(set.empty());
    set.add(Algorithm::ES256);
    set.add(Algorithm::HS512);
    for (const AlgorithmRow& row : kRows) {
      CAPTURE(row.name);
      CHECK(set.contains(row.alg) == (row.alg == Algorithm::ES256 || row.alg == Algorithm::HS512));
      CHECK(AlgorithmSet::all().contains(row.alg));
    }
    CHECK_FALSE(set.empty());
  }
}

}  // namespace
}  // namespace jwtgate::verifier

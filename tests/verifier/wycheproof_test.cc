// Project Wycheproof signature and MAC vectors (see /work/shared/vectors/README.md) through
// the exact verifySignature path of the token verifier, with keys loaded by KeySet.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/test_signer.h"
#include "verifier/key_set.h"
#include "verifier/signature.h"
#include "verifier/signature_test_util.h"

namespace jwtgate::verifier {
namespace {

namespace dom = simdjson::dom;
using testing::base64UrlEncode;
using testing::fromHex;

// Every file of the shared folder, with the counts its README lists (valid, invalid,
// acceptable), so that a vector silently not run shows up as a failure.
struct VectorFile {
  std::string_view name;
  std::size_t valid, invalid, acceptable;
};

constexpr VectorFile kEcdsaFiles[] = {
    {"ecdsa_secp256r1_sha256_p1363_test.json", 173, 89, 0},
    {"ecdsa_secp384r1_sha384_p1363_test.json", 193, 87, 0},
    {"ecdsa_secp521r1_sha512_p1363_test.json", 231, 87, 0},
};
constexpr VectorFile kRsaFiles[] = {
    {"rsa_signature_2048_sha256_test.json", 9, 249, 1},
    {"rsa_signature_2048_sha384_test.json", 7, 250, 1},
    {"rsa_signature_2048_sha512_test.json", 8, 250, 1},
    {"rsa_signature_3072_sha256_test.json", 8, 250, 1},
    {"rsa_signature_3072_sha384_test.json", 7, 251, 1},
    {"rsa_signature_3072_sha512_test.json", 8, 251, 1},
    {"rsa_signature_4096_sha256_test.json", 7, 250, 1},
    {"rsa_signature_4096_sha384_test.json", 7, 251, 1},
    {"rsa_signature_4096_sha512_test.json", 7, 251, 1},
};
constexpr VectorFile kPssFiles[] = {
    {"rsa_pss_2048_sha256_mgf1_32_test.json", 63, 45, 0},
    {"rsa_pss_2048_sha384_mgf1_48_test.json", 95, 46, 0},
    {"rsa_pss_3072_sha256_mgf1_32_test.json", 63, 45, 0},
    {"rsa_pss_4096_sha256_mgf1_32_test.json", 63, 45, 0},
    {"rsa_pss_4096_sha384_mgf1_48_test.json", 95, 46, 0},
    {"rsa_pss_4096_sha512_mgf1_64_test.json", 132, 47, 0},
};
constexpr VectorFile kEddsaFiles[] = {
    {"ed25519_test.json", 88, 63, 0},
    {"ed448_test.json", 17, 70, 0},
};
constexpr VectorFile kHmacFiles[] = {
    {"hmac_sha256_test.json", 66, 108, 0},
    {"hmac_sha384_test.json", 66, 108, 0},
    {"hmac_sha512_test.json", 66, 108, 0},
};

// What happened to the vectors of one file.
struct Tally {
  std::size_t valid = 0, invalid = 0, acceptable = 0;  // as the file labels them
  std::size_t verified = 0;                            // valid vectors that verified
  std::size_t rejected = 0;   // invalid and acceptable vectors that were rejected
  std::size_t skipped = 0;    // vectors outside what JWS allows (short HMAC keys), see below
  std::size_t truncated = 0;  // truncated-tag MAC vectors, all of which must be rejected
  std::map<std::string, std::size_t> skip_reasons;
};

std::optional<std::string> vectorFile(std::string_view name) {
  return testing::readFile(testing::vectorsDir() + "/wycheproof/" + std::string(name));
}

bool vectorsPresent() {
  if (vectorFile(kEcdsaFiles[0].name).has_value()) {
    return true;
  }
  MESSAGE("Wycheproof vectors not found under " << testing::vectorsDir()
                                                << "/wycheproof: these cases are skipped");
  return false;
}

std::string_view stringOf(dom::element element, std::string_view member) {
  std::string_view value;
  if (element[member].get_string().get(value) != simdjson::SUCCESS) {
    FAIL_CHECK("missing string member " << member);
  }
  return value;
}

std::int64_t intOf(dom::element element, std::string_view member) {
  std::int64_t value = 0;
  if (element[member].get_int64().get(value) != simdjson::SUCCESS) {
    FAIL_CHECK("missing integer member " << member);
  }
  return value;
}

dom::array arrayOf(dom::element element, std::string_view member) {
  dom::array value;
  if (element[member].get_array().get(value) != simdjson::SUCCESS) {
    FAIL_CHECK("missing array member " << member);
  }
  return value;
}

Algorithm algorithmForHash(std::string_view sha, Algorithm a256, Algorithm a384, Algorithm a512) {
  if (sha == "SHA-256") return a256;
  if (sha == "SHA-384") return a384;
  REQUIRE(sha == "SHA-512");
  return a512;
}

// Records one vector's outcome and checks it: valid must verify, the rest must not.
void judge(Tally& tally, dom::element test, bool ok) {
  const std::string_view result = stringOf(test, "result");
  CAPTURE(intOf(test, "tcId"));
  CAPTURE(stringOf(test, "comment"));
  if (result == "valid") {
    ++tally.valid;
    tally.verified += ok ? 1 : 0;
    CHECK(ok);
  } else {
    (result == "invalid" ? tally.invalid : tally.acceptable) += 1;
    REQUIRE((result == "invalid" || result == "acceptable"));
    tally.rejected += ok ? 0 : 1;
    CHECK_FALSE(ok);  // "acceptable" too: the sidecar is strict
  }
}

void report(const VectorFile& file, const Tally& tally) {
  std::string reasons;
  for (const auto& [reason, count] : tally.skip_reasons) {
    reasons += ", " + std::to_string(count) + " " + reason;
  }
  MESSAGE(file.name << ": valid " << tally.valid << " (verified " << tally.verified << "), invalid "
                    << tally.invalid << " + acceptable " << tally.acceptable << " (rejected "
                    << tally.rejected << "), truncated-tag rejected " << tally.truncated
                    << ", skipped " << tally.skipped << reasons);
  CHECK(tally.valid == file.valid);
  CHECK(tally.invalid == file.invalid);
  CHECK(tally.acceptable == file.acceptable);
}

// The JWK member of a group as JSON text, when the group has one.
std::optional<std::string> groupJwk(dom::element group, std::string_view member) {
  dom::element jwk;
  if (group[member].get(jwk) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return simdjson::minify(jwk);
}

// Loads the group's key through the JWK when present, else through the PEM; and also through
// the PEM when both exist, so that both loaders are held to the same vectors.
std::vector<KeySet> groupKeys(dom::element group, std::string_view jwk_member) {
  std::vector<KeySet> keys;
  const auto jwk = groupJwk(group, jwk_member);
  if (jwk.has_value()) {
    keys.push_back(testing::loadJwks(*jwk));
  }
  auto pem = KeySet::fromPem(stringOf(group, "publicKeyPem"), PemKeyOptions{});
  if (pem.ok()) {
    keys.push_back(std::move(pem).value());
  } else {
    FAIL_CHECK("PEM key refused: " << pem.error().message);
  }
  for (const KeySet& set : keys) {
    REQUIRE(set.size() == 1);
  }
  return keys;
}

// The signature vectors of one file: one key per group, every test through verifySignature.
template <typename AlgorithmsOf>
void runSignatureFile(const VectorFile& file, std::string_view jwk_member,
                      AlgorithmsOf algorithms_of) {
  CAPTURE(file.name);
  const auto text = vectorFile(file.name);
  REQUIRE(text.has_value());
  dom::parser parser;
  dom::element root;
  REQUIRE(parser.parse(*text).get(root) == simdjson::SUCCESS);

  Tally tally;
  for (dom::element group : arrayOf(root, "testGroups")) {
    const std::vector<Algorithm> algs = algorithms_of(group);
    const std::vector<KeySet> keys = groupKeys(group, jwk_member);
    for (dom::element test : arrayOf(group, "tests")) {
      const auto msg = fromHex(stringOf(test, "msg"));
      const auto sig = fromHex(stringOf(test, "sig"));
      const std::string_view input(reinterpret_cast<const char*>(msg.data()), msg.size());

      // Every loaded form of the key and every name of the algorithm must agree; one path
      // accepting is enough to count as accepted.
      bool all_ok = true;
      bool any_ok = false;
      for (const KeySet& set : keys) {
        for (const Algorithm alg : algs) {
          const bool ok = testing::verifyClean(*set.keys()[0], alg, input, sig);
          all_ok = all_ok && ok;
          any_ok = any_ok || ok;
        }
      }
      CAPTURE(intOf(test, "tcId"));
      CHECK(all_ok == any_ok);
      judge(tally, test, any_ok);
    }
  }
  report(file, tally);
}

TEST_SUITE("verifier/wycheproof") {
  TEST_CASE("ECDSA P1363 vectors: raw R||S through ES256, ES384 and ES512") {
    if (!vectorsPresent()) {
      return;
    }
    for (const VectorFile& file : kEcdsaFiles) {
      runSignatureFile(file, "publicKeyJwk", [](dom::element group) {
        return std::vector<Algorithm>{algorithmForHash(stringOf(group, "sha"), Algorithm::ES256,
                                                       Algorithm::ES384, Algorithm::ES512)};
      });
    }
  }

  TEST_CASE("RSA PKCS#1 v1.5 vectors through RS256, RS384 and RS512") {
    if (!vectorsPresent()) {
      return;
    }
    for (const VectorFile& file : kRsaFiles) {
      runSignatureFile(file, "keyJwk", [](dom::element group) {
        return std::vector<Algorithm>{algorithmForHash(stringOf(group, "sha"), Algorithm::RS256,
                                                       Algorithm::RS384, Algorithm::RS512)};
      });
    }
  }

  TEST_CASE("RSA-PSS vectors through PS256, PS384 and PS512 with salt = hash length") {
    if (!vectorsPresent()) {
      return;
    }
    for (const VectorFile& file : kPssFiles) {
      runSignatureFile(file, "publicKeyJwk", [](dom::element group) {
        const std::string_view sha = stringOf(group, "sha");
        const Algorithm alg =
            algorithmForHash(sha, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512);
        // JWS fixes MGF1 with the same hash and a salt as long as the hash (RFC 7518 3.5).
        CHECK(stringOf(group, "mgf") == "MGF1");
        CHECK(stringOf(group, "mgfSha") == sha);
        CHECK(static_cast<std::size_t>(intOf(group, "sLen")) == digestLength(alg));
        return std::vector<Algorithm>{alg};
      });
    }
  }

  TEST_CASE("EdDSA vectors through EdDSA and the fully specified Ed25519 and Ed448") {
    if (!vectorsPresent()) {
      return;
    }
    for (const VectorFile& file : kEddsaFiles) {
      const Algorithm exact =
          file.name == "ed448_test.json" ? Algorithm::Ed448 : Algorithm::Ed25519;
      runSignatureFile(file, "publicKeyJwk", [exact](dom::element) {
        return std::vector<Algorithm>{Algorithm::EdDSA, exact};
      });
    }
  }

  TEST_CASE("HMAC vectors: full-length tags through HS*, truncated tags and short keys refused") {
    if (!vectorsPresent()) {
      return;
    }
    const Algorithm algs[] = {Algorithm::HS256, Algorithm::HS384, Algorithm::HS512};
    for (std::size_t f = 0; f < std::size(kHmacFiles); ++f) {
      const VectorFile& file = kHmacFiles[f];
      const Algorithm alg = algs[f];
      CAPTURE(file.name);
      const auto text = vectorFile(file.name);
      REQUIRE(text.has_value());
      dom::parser parser;
      dom::element root;
      REQUIRE(parser.parse(*text).get(root) == simdjson::SUCCESS);

      Tally tally;
      for (dom::element group : arrayOf(root, "testGroups")) {
        const auto key_bits = static_cast<std::size_t>(intOf(group, "keySize"));
        const auto tag_bits = static_cast<std::size_t>(intOf(group, "tagSize"));
        CAPTURE(key_bits);
        CAPTURE(tag_bits);
        for (dom::element test : arrayOf(group, "tests")) {
          const auto key = fromHex(stringOf(test, "key"));
          const auto msg = fromHex(stringOf(test, "msg"));
          const auto tag = fromHex(stringOf(test, "tag"));
          const std::string_view input(reinterpret_cast<const char*>(msg.data()), msg.size());
          const std::string jwk = "{\"kty\":\"oct\",\"k\":\"" + base64UrlEncode(key) + "\"}";
          auto set = KeySet::fromJwks(jwk);
          CHECK(ERR_peek_error() == 0);

          // RFC 7518 section 3.2: a key shorter than the hash never reaches this algorithm,
          // either because the load refuses it (< 32 bytes) or because it does not fit.
          if (key.size() < digestLength(alg)) {
            CHECK((!set.ok() || !set->keys()[0]->fits(alg)));
            if (set.ok()) {
              CHECK_FALSE(testing::verifyClean(*set->keys()[0], alg, input, tag));
            }
            ++tally.skipped;
            ++tally.skip_reasons[set.ok() ? "key shorter than the hash (does not fit)"
                                          : "key under 32 bytes (load refused)"];
            (stringOf(test, "result") == "valid" ? tally.valid : tally.invalid) += 1;
            continue;
          }
          REQUIRE(set.ok());
          const Key& loaded = *set->keys()[0];
          const bool ok = testing::verifyClean(loaded, alg, input, tag);

          // JWS carries the full tag only: a truncated tag, valid as a MAC or not, fails.
          if (tag_bits < 8 * digestLength(alg)) {
            CHECK(tag.size() < digestLength(alg));
            CHECK_FALSE(ok);
            ++tally.truncated;
            (stringOf(test, "result") == "valid" ? tally.valid : tally.invalid) += 1;
            continue;
          }
          judge(tally, test, ok);
        }
      }
      report(file, tally);
      CHECK(tally.verified > 0);
    }
  }
}

}  // namespace
}  // namespace jwtgate::verifier

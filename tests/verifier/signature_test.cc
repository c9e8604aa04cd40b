// verifySignature with keys and signatures minted by the test signer: every algorithm, every
// bit flip and truncation, algorithm confusion, and the ECDSA encoding edges.
#include "verifier/signature.h"

#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/test_signer.h"
#include "verifier/signature_test_util.h"

namespace jwtgate::verifier {
namespace {

using testing::bytesOf;
using testing::TestSigner;
using testing::verifyClean;

constexpr std::string_view kInput = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0ZXN0In0";

// The one key a signer's public JWK loads to.
struct LoadedKey {
  KeySet set;
  const Key& key() const { return *set.keys().front(); }
};

LoadedKey loadPublic(const TestSigner& signer, bool with_alg = false) {
  LoadedKey loaded{testing::loadJwks(signer.jwks("k1", with_alg))};
  REQUIRE(loaded.set.size() == 1);
  return loaded;
}

// Every algorithm, each with the signer that makes its keys. EdDSA is tried with both curves.
struct SignerRow {
  Algorithm alg;
  Algorithm key_alg;  // the algorithm the key is generated for
};

constexpr SignerRow kSigners[] = {
    {Algorithm::RS256, Algorithm::RS256}, {Algorithm::RS384, Algorithm::RS384},
    {Algorithm::RS512, Algorithm::RS512}, {Algorithm::PS256, Algorithm::PS256},
    {Algorithm::PS384, Algorithm::PS384}, {Algorithm::PS512, Algorithm::PS512},
    {Algorithm::ES256, Algorithm::ES256}, {Algorithm::ES384, Algorithm::ES384},
    {Algorithm::ES512, Algorithm::ES512}, {Algorithm::EdDSA, Algorithm::EdDSA},
    {Algorithm::EdDSA, Algorithm::Ed448}, {Algorithm::Ed25519, Algorithm::Ed25519},
    {Algorithm::Ed448, Algorithm::Ed448}, {Algorithm::HS256, Algorithm::HS256},
    {Algorithm::HS384, Algorithm::HS384}, {Algorithm::HS512, Algorithm::HS512},
};

const TestSigner& signerFor(const SignerRow& row) { return TestSigner::shared(row.key_alg); }

std::vector<std::uint8_t> signAs(const SignerRow& row, std::string_view input) {
  return signerFor(row).sign(row.alg, input);
}

// The order n of the curve of an EC key, big-endian, padded to the field size.
std::vector<std::uint8_t> curveOrder(EVP_PKEY* pkey, std::size_t field) {
  BIGNUM* order = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_ORDER, &order) == 1);
  std::vector<std::uint8_t> bytes(field);
  REQUIRE(BN_bn2binpad(order, bytes.data(), static_cast<int>(field)) > 0);
  BN_free(order);
  return bytes;
}

// n - value, both big-endian of the same length (value < n).
std::vector<std::uint8_t> subtractFrom(const std::vector<std::uint8_t>& n,
                                       std::span<const std::uint8_t> value) {
  std::vector<std::uint8_t> out(n.size());
  int borrow = 0;
  for (std::size_t i = n.size(); i-- > 0;) {
    int digit = n[i] - value[i] - borrow;
    borrow = digit < 0 ? 1 : 0;
    out[i] = static_cast<std::uint8_t>(digit + 256 * borrow);
  }
  return out;
}

std::vector<std::uint8_t> concat(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  std::vector<std::uint8_t> out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

TEST_SUITE("verifier/signature") {
  TEST_CASE("a signature minted with every algorithm verifies with the key from its JWK") {
    for (const SignerRow& row : kSigners) {
      CAPTURE(toString(row.alg));
      CAPTURE(toString(row.key_alg));
      const LoadedKey loaded = loadPublic(signerFor(row));
      const auto signature = signAs(row, kInput);
      CHECK(verifyClean(loaded.key(), row.alg, kInput, signature));
    }
  }

  TEST_CASE("a signature over other input does not verify, for every algorithm") {
    const std::string inputs[] = {std::string(kInput) + ".", std::string(kInput.substr(1)), "",
                                  std::string(kInput).replace(5, 1, "X")};
    for (const SignerRow& row : kSigners) {
      CAPTURE(toString(row.alg));
      const LoadedKey loaded = loadPublic(signerFor(row));
      const auto signature = signAs(row, kInput);
      for (const std::string& other : inputs) {
        CAPTURE(other);
        CHECK_FALSE(verifyClean(loaded.key(), row.alg, other, signature));
      }
    }
  }

  TEST_CASE("every single-bit flip of a valid signature fails, for every algorithm") {
    for (const SignerRow& row : kSigners) {
      CAPTURE(toString(row.alg));
      CAPTURE(toString(row.key_alg));
      const LoadedKey loaded = loadPublic(signerFor(row));
      const auto signature = signAs(row, kInput);
      REQUIRE(verifyClean(loaded.key(), row.alg, kInput, signature));
      std::size_t accepted = 0;
      for (std::size_t bit = 0; bit < signature.size() * 8; ++bit) {
        auto flipped = signature;
        flipped[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        if (verifyClean(loaded.key(), row.alg, kInput, flipped)) {
          ++accepted;
          INFO("bit " << bit << " flipped still verifies");
          CHECK(false);
        }
      }
      CHECK(accepted == 0);
    }
  }

  TEST_CASE("every truncation and every one-byte extension of a valid signature fails") {
    for (const SignerRow& row : kSigners) {
      CAPTURE(toString(row.alg));
      const LoadedKey loaded = loadPublic(signerFor(row));
      const auto signature = signAs(row, kInput);
      for (std::size_t length = 0; length < signature.size(); ++length) {
        CAPTURE(length);
        CHECK_FALSE(verifyClean(loaded.key(), row.alg, kInput, std::span(signature).first(length)));
        // Dropping leading bytes instead keeps the tail, which must not verify either.
        CHECK_FALSE(verifyClean(loaded.key(), row.alg, kInput, std::span(signature).last(length)));
      }
      for (const std::uint8_t extra : {std::uint8_t{0x00}, std::uint8_t{0xff}}) {
        auto longer = signature;
        longer.push_back(extra);
        CHECK_FALSE(verifyClean(loaded.key(), row.alg, kInput, longer));
        longer.insert(longer.begin(), extra);
        longer.pop_back();
        CHECK_FALSE(verifyClean(loaded.key(), row.alg, kInput, longer));
      }
    }
  }

  TEST_CASE("a key verifies only the algorithms it fits") {
    // A signature made for one algorithm, checked under every other: type, curve, hash and
    // padding must all match, and the signature must not verify by accident.
    for (const SignerRow& row : kSigners) {
      const LoadedKey loaded = loadPublic(signerFor(row));
      const auto signature = signAs(row, kInput);
      for (std::size_t index = 0; index < kAlgorithmCount; ++index) {
        const auto other = static_cast<Algorithm>(index);
        CAPTURE(toString(row.alg));
        CAPTURE(toString(other));
        const bool same_scheme =
            other == row.alg ||
            (row.alg == Algorithm::EdDSA &&
             other == (row.key_alg == Algorithm::Ed448 ? Algorithm::Ed448 : Algorithm::Ed25519)) ||
            (other == Algorithm::EdDSA &&
             (row.alg == Algorithm::Ed25519 || row.alg == Algorithm::Ed448));
        CHECK(verifyClean(loaded.key(), other, kInput, signature) == same_scheme);
      }
    }
  }

  TEST_CASE("a key whose JWK names an alg verifies only that alg") {
    const LoadedKey rs256 = loadPublic(TestSigner::shared(Algorithm::RS256), true);
    CHECK(verifyClean(rs256.key(), Algorithm::RS256, kInput,
                      TestSigner::shared(Algorithm::RS256).sign(Algorithm::RS256, kInput)));
    CHECK_FALSE(verifyClean(rs256.key(), Algorithm::PS256, kInput,
                            TestSigner::shared(Algorithm::RS256).sign(Algorithm::PS256, kInput)));
    CHECK_FALSE(verifyClean(rs256.key(), Algorithm::RS512, kInput,
                            TestSigner::shared(Algorithm::RS256).sign(Algorithm::RS512, kInput)));

    // Without "alg" the same RSA key serves all six RSA algorithms.
    const LoadedKey any = loadPublic(TestSigner::shared(Algorithm::RS256), false);
    for (const Algorithm alg : {Algorithm::RS256, Algorithm::RS384, Algorithm::RS512,
                                Algorithm::PS256, Algorithm::PS384, Algorithm::PS512}) {
      CAPTURE(toString(alg));
      CHECK(verifyClean(any.key(), alg, kInput,
                        TestSigner::shared(Algorithm::RS256).sign(alg, kInput)));
    }
  }

  TEST_CASE("an HMAC keyed with the bytes of a public key cannot stand in for RS or ES") {
    // The classic confusion attack: the attacker signs HS256 with the verifier's public key
    // (PEM text, or the raw modulus) as the secret and sends "alg":"HS256".
    for (const Algorithm alg : {Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA}) {
      CAPTURE(toString(alg));
      const TestSigner& signer = TestSigner::shared(alg);
      const std::string pem = signer.publicPem();
      const auto forged_signer = TestSigner::fromSecret(Algorithm::HS256, bytesOf(pem));
      const auto forged = forged_signer.sign(kInput);

      // Through the public key: it never fits any HS algorithm.
      auto from_pem = KeySet::fromPem(pem, PemKeyOptions{});
      REQUIRE_MESSAGE(from_pem.ok(), (from_pem.ok() ? "" : from_pem.error().message));
      const Key& public_key = *from_pem->keys().front();
      for (const Algorithm hs : {Algorithm::HS256, Algorithm::HS384, Algorithm::HS512}) {
        CHECK_FALSE(public_key.fits(hs));
        CHECK_FALSE(verifyClean(public_key, hs, kInput, forged));
      }
      CHECK(public_key.secret().empty());

      // Through an oct key holding the same bytes: it never fits RS, PS, ES or EdDSA.
      const KeySet oct = testing::loadJwks(forged_signer.jwks());
      const Key& secret_key = *oct.keys().front();
      for (std::size_t index = 0; index < kAlgorithmCount; ++index) {
        const auto other = static_cast<Algorithm>(index);
        CAPTURE(toString(other));
        CHECK(secret_key.fits(other) == (keyTypeFor(other) == KeyType::Oct));
        if (keyTypeFor(other) != KeyType::Oct) {
          CHECK_FALSE(verifyClean(secret_key, other, kInput, signer.sign(kInput)));
        }
      }
      CHECK(secret_key.publicKey() == nullptr);
    }
  }

  TEST_CASE("HS384 and HS512 refuse a secret shorter than their hash at verify time") {
    std::vector<std::uint8_t> secret(40, 0x5a);
    const auto signer = TestSigner::fromSecret(Algorithm::HS384, secret);
    const KeySet set = testing::loadJwks(signer.jwks());
    const Key& key = *set.keys().front();
    CHECK(key.fits(Algorithm::HS256));
    CHECK_FALSE(key.fits(Algorithm::HS384));
    CHECK_FALSE(key.fits(Algorithm::HS512));
    CHECK_FALSE(verifyClean(key, Algorithm::HS384, kInput, signer.sign(Algorithm::HS384, kInput)));
    CHECK(verifyClean(key, Algorithm::HS256, kInput, signer.sign(Algorithm::HS256, kInput)));
  }

  TEST_CASE("an all-zero, an R or S equal to n, or an out-of-range ECDSA signature fails") {
    struct EcCase {
      Algorithm alg;
      std::size_t field;
    };
    for (const EcCase curve : {EcCase{Algorithm::ES256, 32}, EcCase{Algorithm::ES384, 48},
                               EcCase{Algorithm::ES512, 66}}) {
      CAPTURE(toString(curve.alg));
      const TestSigner& signer = TestSigner::shared(curve.alg);
      const LoadedKey loaded = loadPublic(signer);
      const auto good = signer.sign(kInput);
      const auto r = std::span(good).first(curve.field);
      const auto s = std::span(good).subspan(curve.field);
      const auto n = curveOrder(signer.privateKey(), curve.field);
      const std::vector<std::uint8_t> zero(curve.field, 0);
      std::vector<std::uint8_t> one(curve.field, 0);
      one.back() = 1;
      const std::vector<std::uint8_t> ones(curve.field, 0xff);
      std::vector<std::uint8_t> r_plus_n = subtractFrom(n, zero);  // n itself, then n + r
      {
        int carry = 0;
        for (std::size_t i = curve.field; i-- > 0;) {
          const int digit = r_plus_n[i] + r[i] + carry;
          r_plus_n[i] = static_cast<std::uint8_t>(digit & 0xff);
          carry = digit >> 8;
        }
        // For P-256 and P-384, n + r usually overflows the field: then it is not even encodable.
        if (carry != 0) {
          r_plus_n = ones;
        }
      }

      const std::vector<std::vector<std::uint8_t>> forged = {
          concat(zero, zero), concat(zero, s), concat(r, zero),     concat(n, s),
          concat(r, n),       concat(n, n),    concat(ones, ones),  concat(r, ones),
          concat(one, one),   concat(s, r),    concat(r_plus_n, s), concat(r, r),
      };
      for (std::size_t i = 0; i < forged.size(); ++i) {
        CAPTURE(i);
        CHECK_FALSE(verifyClean(loaded.key(), curve.alg, kInput, forged[i]));
      }
      CHECK(verifyClean(loaded.key(), curve.alg, kInput, good));
    }
  }

  TEST_CASE("an ECDSA signature in DER instead of raw R||S fails") {
    for (const Algorithm alg : {Algorithm::ES256, Algorithm::ES384, Algorithm::ES512}) {
      CAPTURE(toString(alg));
      const TestSigner& signer = TestSigner::shared(alg);
      const LoadedKey loaded = loadPublic(signer);
      // A few tries, so that a DER signature of exactly 2 * field bytes is covered when it
      // happens; it must fail as a raw signature too.
      for (int attempt = 0; attempt < 8; ++attempt) {
        const auto der = signer.signEcdsaDer(kInput);
        CAPTURE(der.size());
        CHECK_FALSE(verifyClean(loaded.key(), alg, kInput, der));
      }
    }
  }

  TEST_CASE("(r, n - s) verifies too: ECDSA signatures are malleable and JWS allows it") {
    // NOTE: RFC 7518 does not require low-S, so a second valid signature exists for every
    // token. Nothing in jwtgate may treat signature bytes as a unique token identifier.
    const TestSigner& signer = TestSigner::shared(Algorithm::ES256);
    const LoadedKey loaded = loadPublic(signer);
    const auto good = signer.sign(kInput);
    const auto n = curveOrder(signer.privateKey(), 32);
    const auto flipped_s = subtractFrom(n, std::span(good).subspan(32));
    CHECK(verifyClean(loaded.key(), Algorithm::ES256, kInput,
                      concat(std::span(good).first(32), flipped_s)));
  }

  TEST_CASE("ECDSA signatures whose R or S begin with zero bytes verify") {
    // How the edge cases are found: sign distinct inputs until R and S have each started with
    // a zero byte (about 1 in 256 signatures each; for P-521, whose top byte is 0 or 1, until
    // two zero bytes lead), and until R and S have each started with a set top bit (the DER
    // form then needs a sign octet). Every signature made on the way must verify as well.
    struct EcCase {
      Algorithm alg;
      std::size_t field;
      std::size_t zeros;  // leading zero bytes wanted
      int max_attempts;
    };
    for (const EcCase curve :
         {EcCase{Algorithm::ES256, 32, 1, 20000}, EcCase{Algorithm::ES384, 48, 1, 20000},
          EcCase{Algorithm::ES512, 66, 2, 20000}}) {
      CAPTURE(toString(curve.alg));
      const TestSigner& signer = TestSigner::shared(curve.alg);
      const LoadedKey loaded = loadPublic(signer);
      auto leadingZeros = [](std::span<const std::uint8_t> value) {
        std::size_t count = 0;
        while (count < value.size() && value[count] == 0) {
          ++count;
        }
        return count;
      };
      // P-521 values never reach the top bit of 66 bytes, so no sign octet is ever needed.
      const bool p521 = curve.alg == Algorithm::ES512;
      bool r_zero = false, s_zero = false, r_high = p521, s_high = p521;
      int attempts = 0;
      for (; attempts < curve.max_attempts && !(r_zero && s_zero && r_high && s_high); ++attempts) {
        const std::string input = std::string(kInput) + std::to_string(attempts);
        const auto signature = signer.sign(input);
        const auto r = std::span(signature).first(curve.field);
        const auto s = std::span(signature).subspan(curve.field);
        const bool interesting = (!r_zero && leadingZeros(r) >= curve.zeros) ||
                                 (!s_zero && leadingZeros(s) >= curve.zeros) ||
                                 (!r_high && (r[0] & 0x80) != 0) || (!s_high && (s[0] & 0x80) != 0);
        r_zero = r_zero || leadingZeros(r) >= curve.zeros;
        s_zero = s_zero || leadingZeros(s) >= curve.zeros;
        r_high = r_high || (r[0] & 0x80) != 0;
        s_high = s_high || (s[0] & 0x80) != 0;
        if (interesting || attempts % 64 == 0) {
          CAPTURE(attempts);
          REQUIRE(verifyClean(loaded.key(), curve.alg, input, signature));
        }
      }
      MESSAGE(toString(curve.alg) << ": leading-zero R and S found after " << attempts
                                  << " signatures");
      CHECK(r_zero);
      CHECK(s_zero);
      CHECK(r_high);
      CHECK(s_high);
    }
  }

  TEST_CASE("an HMAC tag of any other length fails, even one that is a prefix of the tag") {
    for (const Algorithm alg : {Algorithm::HS256, Algorithm::HS384, Algorithm::HS512}) {
      CAPTURE(toString(alg));
      const TestSigner& signer = TestSigner::shared(alg);
      const LoadedKey loaded = loadPublic(signer);
      const auto tag = signer.sign(kInput);
      // The tag of HS512 truncated to 32 bytes is a well-formed HMAC-SHA512-256 tag.
      const auto wide = TestSigner::fromSecret(Algorithm::HS512, signer.secret()).sign(kInput);
      for (const std::size_t length : {std::size_t{16}, std::size_t{32}, std::size_t{48}}) {
        CAPTURE(length);
        if (length < wide.size() && length != tag.size()) {
          CHECK_FALSE(verifyClean(loaded.key(), alg, kInput, std::span(wide).first(length)));
        }
      }
      CHECK(verifyClean(loaded.key(), alg, kInput, tag));
    }
  }

  TEST_CASE("a key that did not come from a KeySet verifies nothing") {
    const Key bare;
    const auto signature = TestSigner::shared(Algorithm::RS256).sign(kInput);
    CHECK_FALSE(verifyClean(bare, Algorithm::RS256, kInput, signature));
  }

  TEST_CASE("verifying from several threads at once gives the same answers") {
    const TestSigner& rsa = TestSigner::shared(Algorithm::RS256);
    const TestSigner& ec = TestSigner::shared(Algorithm::ES256);
    const TestSigner& hs = TestSigner::shared(Algorithm::HS256);
    const LoadedKey rsa_key = loadPublic(rsa);
    const LoadedKey ec_key = loadPublic(ec);
    const LoadedKey hs_key = loadPublic(hs);
    const auto rsa_sig = rsa.sign(kInput);
    const auto ec_sig = ec.sign(kInput);
    const auto hs_sig = hs.sign(kInput);
    auto bad = rsa_sig;
    bad[0] ^= 1;

    std::atomic<int> wrong{0};
    auto work = [&] {
      for (int i = 0; i < 200; ++i) {
        const bool ok = verifySignature(rsa_key.key(), Algorithm::RS256, kInput, rsa_sig) &&
                        verifySignature(ec_key.key(), Algorithm::ES256, kInput, ec_sig) &&
                        verifySignature(hs_key.key(), Algorithm::HS256, kInput, hs_sig) &&
                        !verifySignature(rsa_key.key(), Algorithm::RS256, kInput, bad) &&
                        ERR_peek_error() == 0;
        if (!ok) {
          ++wrong;
        }
      }
    };
    std::thread first(work);
    std::thread second(work);
    first.join();
    second.join();
    CHECK(wrong.load() == 0);
  }
}

}  // namespace
}  // namespace jwtgate::verifier

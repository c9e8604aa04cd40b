// Verifier throughput: full verify() per algorithm on a warm key next to the raw OpenSSL
// verify of the same key and signature, and the parse-plus-claims cost without signature.
// Prints a summary table (full/raw ratios, parse+claims rate) after the Google Benchmark run;
// with --benchmark_repetitions=N the table uses the medians.
#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/test_signer.h"
#include "verifier/base64url.h"
#include "verifier/verifier.h"

namespace {

namespace v = jwtgate::verifier;
using jwtgate::testing::TestSigner;

constexpr std::int64_t kNow = 1700000000;

// A typical access token payload (about 330 bytes, an OIDC provider's usual claims).
constexpr std::string_view kPayload =
    R"({"iss":"https://issuer.example.com/realms/main","sub":"5f1c6b2e-8d0a-4f5e-9b1a-)"
    R"(2c3d4e5f6a7b","aud":["api","account"],"exp":1700003600,"iat":1700000000,"nbf":1700000000,)"
    R"("jti":"b0c9d8e7-f6a5-4b3c-8d2e-1f0a9b8c7d6e","azp":"web-app","scope":"openid profile )"
    R"(email read write","email":"alice@example.com","realm_access":{"roles":["user","admin"]}})";

v::Policy benchPolicy() {
  v::Policy policy;
  policy.algorithms = v::AlgorithmSet::all();
  policy.issuer = "https://issuer.example.com/realms/main";
  policy.audiences = {"api"};
  return policy;
}

struct Case {
  std::string label;
  v::Algorithm alg;
  v::Algorithm key_alg;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"RS256", v::Algorithm::RS256, v::Algorithm::RS256},
      {"PS256", v::Algorithm::PS256, v::Algorithm::PS256},
      {"ES256", v::Algorithm::ES256, v::Algorithm::ES256},
      {"ES384", v::Algorithm::ES384, v::Algorithm::ES384},
      {"EdDSA", v::Algorithm::EdDSA, v::Algorithm::EdDSA},
      {"HS256", v::Algorithm::HS256, v::Algorithm::HS256},
  };
  return all;
}

// One algorithm's fixture: token, key set, and the pieces the raw OpenSSL loop needs.
struct Fixture {
  std::string token;
  v::KeySet keys;
  std::string signing_input;
  std::vector<std::uint8_t> signature;  // As OpenSSL verifies it (DER for ECDSA).
};

std::vector<std::uint8_t> rawToDer(const std::vector<std::uint8_t>& raw) {
  const std::size_t half = raw.size() / 2;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr);
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig, &der);
  std::vector<std::uint8_t> out(der, der + length);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

Fixture makeFixture(const Case& c) {
  const TestSigner& signer = TestSigner::shared(c.key_alg);
  const std::string header = std::string(R"({"alg":")") + std::string(v::toString(c.alg)) +
                             R"(","typ":"JWT","kid":"bench"})";
  Fixture fixture;
  fixture.signing_input = v::base64UrlEncode(header) + "." + v::base64UrlEncode(kPayload);
  const std::vector<std::uint8_t> raw = signer.sign(c.alg, fixture.signing_input);
  fixture.token = fixture.signing_input + "." + v::base64UrlEncode(raw);
  auto keys = v::KeySet::fromJwks(signer.jwks("bench"));
  if (!keys) {
    throw std::runtime_error("bench JWKS does not load: " + keys.error().message);
  }
  fixture.keys = std::move(keys).value();
  const bool is_ec = v::keyTypeFor(c.alg) == v::KeyType::Ec;
  fixture.signature = is_ec ? rawToDer(raw) : raw;
  return fixture;
}

std::map<std::string, Fixture>& fixtures() {
  static std::map<std::string, Fixture> all;
  return all;
}

void BM_Verify(benchmark::State& state, const std::string& label) {
  const Fixture& f = fixtures().at(label);
  const v::Policy policy = benchPolicy();
  v::Verifier verifier;
  if (!verifier.verify(f.token, policy, f.keys, kNow)) {
    state.SkipWithError("the benchmark token does not verify");
    return;
  }
  for (auto _ : state) {
    auto result = verifier.verify(f.token, policy, f.keys, kNow);
    benchmark::DoNotOptimize(result);
  }
}

// The raw OpenSSL baseline: the key the KeySet loaded, the same signature, fetched digest.
void BM_RawOpenssl(benchmark::State& state, const Case& c) {
  const Fixture& f = fixtures().at(c.label);
  const v::Key& key = *f.keys.keys().front();
  const auto* input = reinterpret_cast<const unsigned char*>(f.signing_input.data());
  const std::size_t input_length = f.signing_input.size();

  if (c.alg == v::Algorithm::HS256) {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
    char digest_name[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end()};
    EVP_MAC_init(ctx, key.secret().data(), key.secret().size(), params);
    unsigned char tag[EVP_MAX_MD_SIZE];
    for (auto _ : state) {
      std::size_t tag_length = 0;
      const bool ok = EVP_MAC_init(ctx, key.secret().data(), key.secret().size(), nullptr) == 1 &&
                      EVP_MAC_update(ctx, input, input_length) == 1 &&
                      EVP_MAC_final(ctx, tag, &tag_length, sizeof tag) == 1 &&
                      tag_length == f.signature.size() &&
                      CRYPTO_memcmp(tag, f.signature.data(), tag_length) == 0;
      benchmark::DoNotOptimize(ok);
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return;
  }

  EVP_MD* md = nullptr;
  if (c.alg != v::Algorithm::EdDSA) {
    md = EVP_MD_fetch(nullptr, c.alg == v::Algorithm::ES384 ? "SHA384" : "SHA256", nullptr);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool pss = c.alg == v::Algorithm::PS256;
  for (auto _ : state) {
    EVP_PKEY_CTX* pctx = nullptr;
    bool ok = EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key.publicKey()) == 1;
    if (pss) {
      ok = ok && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    ok = ok &&
         EVP_DigestVerify(ctx, f.signature.data(), f.signature.size(), input, input_length) == 1;
    benchmark::DoNotOptimize(ok);
    EVP_MD_CTX_reset(ctx);
  }
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
}

// What a token costs without its signature check: size, split, base64url, header and
// payload JSON, every claim check. An upper bound for what a verified-token cache saves.
void BM_ParseAndClaims(benchmark::State& state) {
  const Fixture& f = fixtures().at("ES256");
  const v::Policy policy = benchPolicy();
  v::Verifier verifier;
  if (verifier.checkIgnoringSignature(f.token, policy, kNow) != v::Status::Ok) {
    state.SkipWithError("the benchmark token does not pass the claim checks");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(verifier.checkIgnoringSignature(f.token, policy, kNow));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.token.size()));
}

// What a cache hit re-runs per request on an already VerifiedToken.
void BM_CachedTokenChecks(benchmark::State& state) {
  const Fixture& f = fixtures().at("ES256");
  const v::Policy policy = benchPolicy();
  v::Verifier verifier;
  auto token = verifier.verify(f.token, policy, f.keys, kNow);
  if (!token) {
    state.SkipWithError("the benchmark token does not verify");
    return;
  }
  v::ScopeRequirement scopes;
  scopes.required = {"read", "write"};
  for (auto _ : state) {
    const v::ClaimsView claims = token->claims();
    benchmark::DoNotOptimize(v::checkRegisteredClaims(claims, policy, kNow));
    benchmark::DoNotOptimize(v::checkScopes(claims, scopes));
  }
}

// Collects per-benchmark CPU times (the median aggregate when repetitions were asked for)
// while printing the usual console output.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  // Colours only on a terminal: a custom reporter does not see --benchmark_color.
  CollectingReporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      const bool single = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
      if ((median || single) && !run.error_occurred) {
        nanoseconds_[run.run_name.function_name + run.run_name.args] =
            run.GetAdjustedCPUTime() * toNanoseconds(run.time_unit);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  std::optional<double> perSecond(const std::string& name) const {
    const auto it = nanoseconds_.find(name);
    if (it == nanoseconds_.end() || it->second <= 0) {
      return std::nullopt;
    }
    return 1e9 / it->second;
  }

 private:
  static double toNanoseconds(benchmark::TimeUnit unit) {
    switch (unit) {
      case benchmark::kNanosecond:
        return 1;
      case benchmark::kMicrosecond:
        return 1e3;
      case benchmark::kMillisecond:
        return 1e6;
      case benchmark::kSecond:
        return 1e9;
    }
    return 1;
  }
  std::map<std::string, double> nanoseconds_;
};

void printSummary(const CollectingReporter& reporter) {
  std::printf("\n%-8s %14s %14s %10s\n", "alg", "verify/s", "raw OpenSSL/s", "full/raw");
  for (const Case& c : cases()) {
    const auto full = reporter.perSecond("BM_Verify/" + c.label);
    const auto raw = reporter.perSecond("BM_RawOpenssl/" + c.label);
    if (!full || !raw) {
      continue;
    }
    std::printf("%-8s %14.0f %14.0f %9.1f%%\n", c.label.c_str(), *full, *raw, 100.0 * *full / *raw);
  }
  if (const auto parse = reporter.perSecond("BM_ParseAndClaims")) {
    std::printf("parse+claims (no signature): %.0f tokens/s/core\n", *parse);
  }
  if (const auto cached = reporter.perSecond("BM_CachedTokenChecks")) {
    std::printf("cached-token checks (registered + scopes): %.0f tokens/s/core\n", *cached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (const Case& c : cases()) {
    fixtures().emplace(c.label, makeFixture(c));
    benchmark::RegisterBenchmark(("BM_Verify/" + c.label).c_str(), BM_Verify, c.label)
        ->Unit(benchmark::kNanosecond);
    benchmark::RegisterBenchmark(("BM_RawOpenssl/" + c.label).c_str(), BM_RawOpenssl, c)
        ->Unit(benchmark::kNanosecond);
  }
  benchmark::RegisterBenchmark("BM_ParseAndClaims", BM_ParseAndClaims)
      ->Unit(benchmark::kNanosecond);
  benchmark::RegisterBenchmark("BM_CachedTokenChecks", BM_CachedTokenChecks)
      ->Unit(benchmark::kNanosecond);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  printSummary(reporter);
  benchmark::Shutdown();
  return 0;
}

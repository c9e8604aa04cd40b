// `jwtgate demo`: shows the verifier at work on an embedded default, with nothing to
// configure. It generates a demo key, mints a valid token and a forged one, and verifies
// both, printing the outcome and the `jwtgate verify` command that reproduces it.

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "app/commands.h"
#include "app/demo_issuer.h"
#include "verifier/key_set.h"
#include "verifier/policy.h"
#include "verifier/verifier.h"

namespace jwtgate::app {
namespace {

constexpr std::string_view kDemoIssuer = "https://demo.jwtgate.invalid/";
constexpr std::string_view kDemoAudience = "demo-api";

std::string demoClaims(std::int64_t now, std::string_view subject) {
  return "{\"iss\":\"" + std::string(kDemoIssuer) + "\",\"aud\":\"" + std::string(kDemoAudience) +
         "\",\"sub\":\"" + std::string(subject) + "\",\"scope\":\"orders:read\",\"iat\":" +
         std::to_string(now) + ",\"exp\":" + std::to_string(now + 3600) + "}";
}

void report(std::string_view label, const Result<verifier::VerifiedToken, verifier::Status>& r) {
  std::cout << label << ": ";
  if (r) {
    std::cout << "VALID (" << verifier::toString(r->algorithm()) << ") claims "
              << r->payload() << "\n";
  } else {
    std::cout << "REFUSED: " << verifier::describe(r.error()) << " ["
              << verifier::toString(r.error()) << "]\n";
  }
}

}  // namespace

int runDemo(const Args& /*args*/) {
  const auto issuer = DemoIssuer::create("demo-key-1");
  const auto forger = DemoIssuer::create("demo-key-1");
  if (!issuer || !forger) {
    return 1;
  }
  auto keys = verifier::KeySet::fromJwks(issuer->jwks());
  if (!keys) {
    std::cerr << "jwtgate demo: " << keys.error().message << "\n";
    return 1;
  }

  verifier::Policy policy;
  policy.algorithms.add(verifier::Algorithm::ES256);
  policy.issuer = std::string(kDemoIssuer);
  policy.audiences = {std::string(kDemoAudience)};

  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::string valid = issuer->sign(demoClaims(now, "alice"));
  // Same kid, same claims, but signed by a key the verifier does not trust.
  const std::string forged = forger->sign(demoClaims(now, "mallory"));
  const std::string expired = issuer->sign(demoClaims(now - 7200, "bob"));

  verifier::Verifier verifier;
  std::cout << "jwtgate demo: an ES256 key was generated; its JWKS is\n  " << issuer->jwks()
            << "\n\n";
  report("token signed by the demo key  ", verifier.verify(valid, policy, *keys, now));
  report("token signed by a forged key  ", verifier.verify(forged, policy, *keys, now));
  report("token that expired an hour ago", verifier.verify(expired, policy, *keys, now));
  std::cout << "\nTry it yourself: save the JWKS above to jwks.json, then\n  jwtgate verify "
               "--jwks jwks.json --issuer "
            << kDemoIssuer << " --audience " << kDemoAudience << " TOKEN\n";
  return 0;
}

}  // namespace jwtgate::app

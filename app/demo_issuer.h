// A throwaway token issuer for the built-in demo: a fresh ES256 key per run, its public JWKS,
// and tokens signed with it. Never used for anything but the demo.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "verifier/key_set.h"

namespace jwtgate::app {

class DemoIssuer {
 public:
  // Generates a P-256 key. Returns nullopt (with a message on stderr) if OpenSSL fails.
  static std::optional<DemoIssuer> create(std::string kid);

  // The public key as a JWKS document ({"keys":[...]}), with kid, alg ES256 and use sig.
  const std::string& jwks() const { return jwks_; }
  const std::string& kid() const { return kid_; }

  // Signs `payload_json` (a JSON object) into a compact ES256 token with this key's kid.
  // Returns an empty string if OpenSSL fails.
  std::string sign(std::string_view payload_json) const;

 private:
  DemoIssuer() = default;
  verifier::EvpPkeyPtr key_;
  std::string kid_;
  std::string jwks_;
};

}  // namespace jwtgate::app

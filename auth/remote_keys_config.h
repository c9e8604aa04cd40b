// The remote-key settings of one provider in the YAML configuration: keys from a JWKS URL
// (`jwks_uri`), from OpenID Connect discovery on the issuer (`discovery: true`), how they are
// fetched (`allow_insecure`, `ca_file`) and the `remote_keys` tuning section.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>

#include "jwks/remote_keys_spec.h"
#include "proxy/config_yaml.h"

namespace jwtgate::auth {

// What a provider without remote keys has: no sources.
struct RemoteKeySettings {
  jwks::RemoteKeysSpec spec;
  // The status of a refusal because the provider has no usable keys: 401 (invalid_token,
  // with a description) or 503.
  int unavailable_status = 401;

  bool configured() const { return !spec.sources.empty(); }
};

// The provider-level keys read here; the provider reader accepts them beside its own.
inline constexpr std::string_view kRemoteKeyProviderKeys[] = {
    "jwks_uri", "discovery", "allow_insecure", "ca_file", "remote_keys"};

// Reads the remote-key settings of the provider mapping `node`. `issuer` is the provider's
// configured issuer, the base of discovery. Fails, naming the line, on a bad value, on
// `discovery: true` without an issuer, on a URL that is not https (http only with
// allow_insecure), on an unreadable ca_file, and on tuning without any remote source.
// Throws nothing.
proxy::ConfigCheck readRemoteKeySettings(const YAML::Node& node, std::string_view file,
                                         const std::string& provider,
                                         const std::optional<std::string>& issuer,
                                         const std::string& base_dir, RemoteKeySettings& out);

}  // namespace jwtgate::auth

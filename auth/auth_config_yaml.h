// Reads the authentication sections of the YAML configuration (`auth`, `providers`,
// `routes`) into an AuthConfig, loading every key; errors name the file and the line.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <string_view>
#include <vector>

#include "auth/auth_config.h"
#include "proxy/config_yaml.h"
#include "verifier/result.h"

namespace jwtgate::auth {

// The top-level keys read here; the file loader accepts them beside the other sections'.
const std::vector<std::string_view>& authTopLevelKeys();

// Reads `auth`, `providers` and `routes` from the document root and loads the providers'
// keys (relative key file paths are taken from the directory of `file`; each key file must
// be a regular file of at most kMaxKeyFileBytes, auth/local_file.h). Returns nullptr only
// for `auth: off`, the explicit request for a plain reverse proxy. Fails closed when the
// document has none of the three sections, or `auth: off` beside providers or routes.
// Otherwise fails on the first problem: an unknown or repeated key, a bad value, a weak or
// unreadable key, a provider used but not defined, a route without `match`, a route with
// both `auth: none` and `require`, a bad regex or claim path. Throws nothing.
Result<std::shared_ptr<const AuthConfig>, proxy::ConfigError> parseAuthSections(
    const YAML::Node& root, std::string_view file);

}  // namespace jwtgate::auth

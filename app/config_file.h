// Loads the jwtgate configuration file (YAML) into the settings of every part of the
// program. Each top-level section has its own reader; unknown keys, at the top level and in
// every section, are errors that name the file and line.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "app/ops_config_yaml.h"
#include "auth/auth_config.h"
#include "proxy/config_yaml.h"
#include "proxy/proxy_config.h"
#include "verifier/result.h"

namespace jwtgate::app {

// Everything the configuration file sets. A new section gets a member here and a reader in
// config_file.cc.
struct Config {
  proxy::ProxyConfig proxy;
  // log_level, admin, reload (app/ops_config_yaml.h).
  OpsSettings ops;
  // The auth, providers and routes sections (auth/auth_config_yaml.h); null only when the
  // file says `auth: off` (a file without routes is refused).
  std::shared_ptr<const auth::AuthConfig> auth;
  // The bytes this was read from, so that a reload can tell whether the file changed since
  // (reading the file again later could see a newer version than the one that runs).
  std::string source_text;
};

// Reads and checks the file at `path`, which must be a regular file of at most
// auth::kMaxConfigFileBytes (auth/local_file.h). Throws nothing.
Result<Config, proxy::ConfigError> loadConfigFile(const std::string& path);

// Same, from text already read; `file_name` only labels the errors.
Result<Config, proxy::ConfigError> parseConfigText(std::string_view text,
                                                   std::string_view file_name);

}  // namespace jwtgate::app

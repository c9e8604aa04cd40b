// Reads the proxy's part of the YAML configuration (listen, upstream, workers,
// trust_forwarded, limits, timeouts, access_log) and the helpers every config section
// shares: errors that name the file and line, and a per-mapping check for unknown keys.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/proxy_config.h"
#include "verifier/result.h"

namespace jwtgate::proxy {

// A configuration problem: where it is (1-based line; 0 when unknown) and what is wrong.
struct ConfigError {
  std::string file;
  int line = 0;
  std::string message;

  // "file:line: message" (or "file: message" without a line).
  std::string toString() const;
};

// Empty on success; the first problem otherwise.
using ConfigCheck = std::optional<ConfigError>;

// An error located at `node` (its line) in `file`.
ConfigError configErrorAt(const YAML::Node& node, std::string_view file, std::string message);

// Fails when `node` is not a mapping, or when it has a key outside `allowed`. A null node
// (an empty section such as `limits:`) passes. `where` names the section in messages.
ConfigCheck checkMappingKeys(const YAML::Node& node,
                             std::initializer_list<std::string_view> allowed, std::string_view file,
                             std::string_view where);

// Returns the node's scalar text, or an error when it is a list, a mapping or null.
Result<std::string, ConfigError> scalarText(const YAML::Node& node, std::string_view file,
                                            std::string_view key);

// The top-level keys that parseProxySettings reads; the file loader accepts these beside
// the keys of the other sections.
const std::vector<std::string_view>& proxyTopLevelKeys();

// Reads the proxy's keys from the document root. Missing optional keys keep their defaults;
// `listen` and `upstream` are required. Throws nothing.
Result<ProxyConfig, ConfigError> parseProxySettings(const YAML::Node& root, std::string_view file);

}  // namespace jwtgate::proxy

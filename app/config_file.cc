// The configuration file: the top-level key check and the dispatch to each section's reader.
#include "app/config_file.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <initializer_list>
#include <vector>

#include "auth/auth_config_yaml.h"
#include "auth/local_file.h"

namespace jwtgate::app {
namespace {

using proxy::ConfigCheck;
using proxy::ConfigError;

// A top-level section with its own key: `read` gets the section's node. To add a section,
// add a member to Config and a row here (its reader checks its own keys with
// proxy::checkMappingKeys).
struct Section {
  std::string_view key;
  ConfigCheck (*read)(const YAML::Node& node, std::string_view file, Config& config);
};

ConfigCheck readLogLevelSection(const YAML::Node& node, std::string_view file, Config& config) {
  return readLogLevel(node, file, config.ops);
}

ConfigCheck readAdminSection(const YAML::Node& node, std::string_view file, Config& config) {
  return readAdmin(node, file, config.ops);
}

ConfigCheck readReloadSection(const YAML::Node& node, std::string_view file, Config& config) {
  return readReload(node, file, config.ops);
}

constexpr std::array<Section, 3> kSections = {{
    {"log_level", readLogLevelSection},
    {"admin", readAdminSection},
    {"reload", readReloadSection},
}};

// The access log's subject and secret claims are applied by the auth filter (which sees the
// claims), so they travel in AuthSettings and reload with the rest of auth.
std::shared_ptr<const auth::AuthConfig> withLogSettings(const auth::AuthConfig& parsed,
                                                        const proxy::AccessLogSettings& log) {
  auto config = std::make_shared<auth::AuthConfig>(parsed);
  config->settings.log_subject_claim = log.subject_claim;
  config->settings.secret_claims = log.secret_claims;
  return config;
}

// Checks between sections: the admin listener must not take traffic's connections.
ConfigCheck checkAcrossSections(const YAML::Node& root, std::string_view file,
                                const Config& config) {
  if (config.ops.admin_listen) {
    if (auto conflict = adminListenConflict(*config.ops.admin_listen, config.proxy.listen)) {
      if (const YAML::Node admin = root["admin"]) {
        return proxy::configErrorAt(admin["listen"], file, std::move(*conflict));
      }
      const YAML::Node listen = root["listen"];
      return proxy::configErrorAt(listen ? listen : root, file,
                                  std::move(*conflict) + " (the default; set admin.listen)");
    }
  }
  return std::nullopt;
}

// The keys allowed at the top level: the proxy's own (listen, upstream, ...) and one per
// section.
ConfigCheck checkTopLevelKeys(const YAML::Node& root, std::string_view file) {
  std::vector<std::string_view> allowed = proxy::proxyTopLevelKeys();
  const auto& auth_keys = auth::authTopLevelKeys();
  allowed.insert(allowed.end(), auth_keys.begin(), auth_keys.end());
  for (const Section& section : kSections) {
    allowed.push_back(section.key);
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: the iterator yields temporaries
    if (!key.IsScalar()) {
      return proxy::configErrorAt(key, file, "top-level keys must be plain names");
    }
    bool known = false;
    for (std::string_view name : allowed) {
      known = known || key.Scalar() == name;
    }
    if (!known) {
      return proxy::configErrorAt(key, file, "unknown top-level key '" + key.Scalar() + "'");
    }
    for (auto earlier = root.begin(); earlier != it; ++earlier) {
      if (earlier->first.IsScalar() && earlier->first.Scalar() == key.Scalar()) {
        return proxy::configErrorAt(key, file, "duplicate key '" + key.Scalar() + "'");
      }
    }
  }
  return std::nullopt;
}

Result<Config, ConfigError> readDocument(const YAML::Node& root, std::string_view file) {
  if (!root.IsDefined() || root.IsNull()) {
    return makeError(ConfigError{std::string(file), 0, "the configuration is empty"});
  }
  if (!root.IsMap()) {
    return makeError(proxy::configErrorAt(root, file, "expected a mapping of settings"));
  }
  if (auto failed = checkTopLevelKeys(root, file)) {
    return makeError(std::move(*failed));
  }

  Config config;
  config.ops.admin_listen = defaultAdminListen();
  auto proxy_settings = proxy::parseProxySettings(root, file);
  if (!proxy_settings) {
    return makeError(proxy_settings.error());
  }
  config.proxy = std::move(proxy_settings).value();
  for (const Section& section : kSections) {
    const YAML::Node node = root[std::string(section.key)];
    if (!node) {
      continue;
    }
    if (auto failed = section.read(node, file, config)) {
      return makeError(std::move(*failed));
    }
  }
  auto auth_sections = auth::parseAuthSections(root, file);
  if (!auth_sections) {
    return makeError(auth_sections.error());
  }
  config.auth = std::move(auth_sections).value();
  if (config.auth) {
    config.auth = withLogSettings(*config.auth, config.proxy.access_log);
  }
  if (auto failed = checkAcrossSections(root, file, config)) {
    return makeError(std::move(*failed));
  }
  return config;
}

}  // namespace

Result<Config, ConfigError> parseConfigText(std::string_view text, std::string_view file_name) {
  // yaml-cpp reports syntax errors as exceptions; they stop here.
  try {
    YAML::Node root = YAML::Load(std::string(text));
    auto config = readDocument(root, file_name);
    if (config) {
      config->source_text = std::string(text);
    }
    return config;
  } catch (const YAML::Exception& error) {
    int line = error.mark.line >= 0 ? error.mark.line + 1 : 0;
    return makeError(ConfigError{std::string(file_name), line, error.msg});
  }
}

Result<Config, ConfigError> loadConfigFile(const std::string& path) {
  auto text = auth::readLocalFile(path, auth::kMaxConfigFileBytes);
  if (!text) {
    return makeError(ConfigError{path, 0, "cannot read the configuration: " + text.error()});
  }
  return parseConfigText(*text, path);
}

}  // namespace jwtgate::app

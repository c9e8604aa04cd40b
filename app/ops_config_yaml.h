// Reads the operational sections of the configuration file (`log_level`, `admin`, `reload`)
// into OpsSettings, and checks that the admin listener cannot collide with traffic.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "observe/log.h"
#include "proxy/config_yaml.h"
#include "proxy/proxy_config.h"

namespace jwtgate::app {

inline constexpr uint64_t kDefaultReloadDebounceMs = 250;
// Loopback only: metrics name routes and providers, so they are not for the whole network.
inline constexpr std::string_view kDefaultAdminListen = "127.0.0.1:9901";

// The settings of the operational sections; the defaults are those of a file without them.
struct OpsSettings {
  // Where /metrics, /healthz and /readyz are served (kDefaultAdminListen when the file has
  // no `admin` section; see defaultAdminListen); empty when `admin.listen: off`.
  std::optional<proxy::ListenAddress> admin_listen;
  observe::Level log_level = observe::Level::Info;
  bool watch = true;  // also reload when the config file or a local key file changes
  uint64_t debounce_ms = kDefaultReloadDebounceMs;
};

// kDefaultAdminListen, parsed.
proxy::ListenAddress defaultAdminListen();

// `log_level: debug|info|warn|error`.
proxy::ConfigCheck readLogLevel(const YAML::Node& node, std::string_view file,
                                OpsSettings& settings);

// `admin: {listen: HOST:PORT | off}`.
proxy::ConfigCheck readAdmin(const YAML::Node& node, std::string_view file, OpsSettings& settings);

// `reload: {watch: BOOL, debounce: DURATION}`.
proxy::ConfigCheck readReload(const YAML::Node& node, std::string_view file, OpsSettings& settings);

// A message when `admin` would share a socket with one of the traffic `listen` addresses:
// the same port on the same address, or on a wildcard address (0.0.0.0, ::) of either side.
// Port 0 (the kernel picks) never collides. Empty when they are apart.
std::optional<std::string> adminListenConflict(const proxy::ListenAddress& admin,
                                               const std::vector<proxy::ListenAddress>& listen);

}  // namespace jwtgate::app

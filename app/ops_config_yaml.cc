// The `log_level`, `admin` and `reload` sections of the configuration file.
#include "app/ops_config_yaml.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "proxy/config_values.h"

namespace jwtgate::app {
namespace {

using proxy::ConfigCheck;

// NOTE: a debounce beyond a minute would make a reload look lost; below 10 ms a writer that
// saves in several steps would be read half-written.
constexpr uint64_t kMinDebounceMs = 10;
constexpr uint64_t kMaxDebounceMs = 60'000;

uint16_t portOf(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  }
  return 0;
}

bool isWildcard(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in&>(address).sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (address.ss_family == AF_INET6) {
    const in6_addr& bytes = reinterpret_cast<const sockaddr_in6&>(address).sin6_addr;
    return std::memcmp(&bytes, &in6addr_any, sizeof(in6_addr)) == 0;
  }
  return false;
}

// The IPv4 address of an AF_INET address or of an IPv4-mapped IPv6 one (::ffff:a.b.c.d).
std::optional<uint32_t> ipv4Of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in&>(address).sin_addr.s_addr;
  }
  if (address.ss_family == AF_INET6) {
    const in6_addr& bytes = reinterpret_cast<const sockaddr_in6&>(address).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&bytes)) {
      uint32_t v4 = 0;
      std::memcpy(&v4, bytes.s6_addr + 12, sizeof(v4));
      return v4;
    }
  }
  return std::nullopt;
}

// Whether two sockets on the same port would receive the same connections.
bool addressesOverlap(const sockaddr_storage& a, const sockaddr_storage& b) {
  // A wildcard of either family may take the other family's connections too (an IPv6
  // socket without IPV6_V6ONLY), so any wildcard overlaps everything on its port.
  if (isWildcard(a) || isWildcard(b)) {
    return true;
  }
  const auto a4 = ipv4Of(a);
  const auto b4 = ipv4Of(b);
  if (a4 || b4) {
    return a4 && b4 && *a4 == *b4;
  }
  const in6_addr& a6 = reinterpret_cast<const sockaddr_in6&>(a).sin6_addr;
  const in6_addr& b6 = reinterpret_cast<const sockaddr_in6&>(b).sin6_addr;
  return std::memcmp(&a6, &b6, sizeof(in6_addr)) == 0;
}

}  // namespace

proxy::ListenAddress defaultAdminListen() {
  auto address = proxy::parseListenAddress(kDefaultAdminListen);
  return address ? std::move(address).value() : proxy::ListenAddress{};
}

ConfigCheck readLogLevel(const YAML::Node& node, std::string_view file, OpsSettings& settings) {
  auto text = proxy::scalarText(node, file, "log_level");
  if (!text) {
    return text.error();
  }
  const auto level = observe::parseLevel(*text);
  if (!level) {
    return proxy::configErrorAt(
        node, file, "log_level: expected debug, info, warn or error, got '" + *text + "'");
  }
  settings.log_level = *level;
  return std::nullopt;
}

ConfigCheck readAdmin(const YAML::Node& node, std::string_view file, OpsSettings& settings) {
  if (auto failed = proxy::checkMappingKeys(node, {"listen"}, file, "admin")) {
    return failed;
  }
  settings.admin_listen.reset();
  const YAML::Node listen = node["listen"];
  if (!listen) {
    return proxy::configErrorAt(node, file, "admin: missing key 'listen' (an address or off)");
  }
  auto text = proxy::scalarText(listen, file, "admin.listen");
  if (!text) {
    return text.error();
  }
  if (*text == "off") {
    return std::nullopt;
  }
  auto address = proxy::parseListenAddress(*text);
  if (!address) {
    return proxy::configErrorAt(listen, file, "admin.listen: " + address.error());
  }
  settings.admin_listen = std::move(address).value();
  return std::nullopt;
}

ConfigCheck readReload(const YAML::Node& node, std::string_view file, OpsSettings& settings) {
  if (auto failed = proxy::checkMappingKeys(node, {"watch", "debounce"}, file, "reload")) {
    return failed;
  }
  if (const YAML::Node watch = node["watch"]) {
    auto text = proxy::scalarText(watch, file, "reload.watch");
    if (!text) {
      return text.error();
    }
    if (*text != "true" && *text != "false") {
      return proxy::configErrorAt(watch, file,
                                  "reload.watch: expected true or false, got '" + *text + "'");
    }
    settings.watch = *text == "true";
  }
  if (const YAML::Node debounce = node["debounce"]) {
    auto text = proxy::scalarText(debounce, file, "reload.debounce");
    if (!text) {
      return text.error();
    }
    auto millis = proxy::parseDuration(*text);
    if (!millis) {
      return proxy::configErrorAt(debounce, file, "reload.debounce: " + millis.error());
    }
    if (*millis < kMinDebounceMs || *millis > kMaxDebounceMs) {
      return proxy::configErrorAt(debounce, file,
                                  "reload.debounce: must be from 10ms to 1m, got '" + *text + "'");
    }
    settings.debounce_ms = *millis;
  }
  return std::nullopt;
}

std::optional<std::string> adminListenConflict(const proxy::ListenAddress& admin,
                                               const std::vector<proxy::ListenAddress>& listen) {
  const uint16_t port = portOf(admin.address);
  if (port == 0) {
    return std::nullopt;
  }
  for (const proxy::ListenAddress& traffic : listen) {
    if (portOf(traffic.address) == port && addressesOverlap(admin.address, traffic.address)) {
      return "admin.listen: '" + admin.text + "' overlaps the traffic listen address '" +
             traffic.text + "'; the admin listener needs its own port";
    }
  }
  return std::nullopt;
}

}  // namespace jwtgate::app

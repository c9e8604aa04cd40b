// Reading a provider's remote-key settings.
#include "auth/remote_keys_config.h"

#include <unistd.h>

#include <cstdint>

#include "jwks/discovery.h"
#include "proxy/config_values.h"

namespace jwtgate::auth {
namespace {

using proxy::ConfigCheck;
using proxy::ConfigError;

// Bounds that keep a typo from turning into an unusable or abusive setting.
constexpr std::uint64_t kMaxCacheMs = 7ULL * 24 * 3600 * 1000;
constexpr std::uint64_t kMaxStaleMs = 7ULL * 24 * 3600 * 1000;
constexpr std::uint64_t kMaxTimeoutMs = 300ULL * 1000;
constexpr std::uint64_t kMaxBodyBytes = 16ULL * 1024 * 1024;

struct Reader {
  std::string_view file;
  std::string where;

  ConfigError at(const YAML::Node& node, const std::string& message) const {
    return proxy::configErrorAt(node, file, where + ": " + message);
  }
};

Result<std::string, ConfigError> readText(const Reader& r, const YAML::Node& node,
                                          std::string_view key) {
  auto text = proxy::scalarText(node, r.file, key);
  if (!text) {
    return text;
  }
  if (text->empty()) {
    return makeError(r.at(node, std::string(key) + ": must not be empty"));
  }
  return text;
}

Result<bool, ConfigError> readFlag(const Reader& r, const YAML::Node& node, std::string_view key) {
  auto text = proxy::scalarText(node, r.file, key);
  if (!text) {
    return makeError(text.error());
  }
  if (*text == "true" || *text == "false") {
    return *text == "true";
  }
  return makeError(r.at(node, std::string(key) + ": expected true or false"));
}

// A duration within [low, high] milliseconds.
Result<std::uint64_t, ConfigError> readMillis(const Reader& r, const YAML::Node& node,
                                              std::string_view key, std::uint64_t low,
                                              std::uint64_t high) {
  auto text = proxy::scalarText(node, r.file, key);
  if (!text) {
    return makeError(text.error());
  }
  auto millis = proxy::parseDuration(*text);
  if (!millis) {
    return makeError(r.at(node, std::string(key) + ": " + millis.error()));
  }
  if (*millis < low || *millis > high) {
    return makeError(r.at(node, std::string(key) + ": out of range"));
  }
  return *millis;
}

ConfigCheck checkUrl(const Reader& r, const YAML::Node& node, std::string_view key,
                     std::string_view url, bool allow_insecure) {
  if (jwks::hasUrlScheme(url, "https://")) {
    return std::nullopt;
  }
  if (jwks::hasUrlScheme(url, "http://")) {
    if (allow_insecure) {
      return std::nullopt;
    }
    return r.at(node, std::string(key) + ": http:// is refused unless allow_insecure is true");
  }
  return r.at(node, std::string(key) + ": expected an https:// URL");
}

// The durations of the remote_keys section, each within its bounds.
ConfigCheck readDurations(const Reader& r, const YAML::Node& section, jwks::RemoteKeysSpec& spec) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  struct Duration {
    const char* key;
    std::uint64_t low, high;
    milliseconds* target;
  };
  milliseconds cache_min(spec.refresh.lifetime.minimum);
  milliseconds cache_max(spec.refresh.lifetime.maximum);
  milliseconds stale(spec.refresh.stale_window);
  const Duration durations[] = {
      {"cache_min", 1000, kMaxCacheMs, &cache_min},
      {"cache_max", 1000, kMaxCacheMs, &cache_max},
      {"stale_window", 0, kMaxStaleMs, &stale},
      {"refetch_cooldown", 0, kMaxCacheMs, &spec.refresh.refetch_cooldown},
      {"wait_timeout", 0, kMaxTimeoutMs, &spec.refresh.wait_timeout},
      {"connect_timeout", 10, kMaxTimeoutMs, &spec.fetch.connect_timeout},
      {"timeout", 10, kMaxTimeoutMs, &spec.fetch.total_timeout},
      {"retry_initial", 10, kMaxCacheMs, &spec.refresh.retry.initial},
      {"retry_max", 10, kMaxCacheMs, &spec.refresh.retry.maximum},
  };
  for (const Duration& duration : durations) {
    if (const YAML::Node item = section[duration.key]) {
      auto value = readMillis(r, item, duration.key, duration.low, duration.high);
      if (!value) {
        return value.error();
      }
      *duration.target = milliseconds(*value);
    }
  }
  // NOTE: cache bounds and the stale window count in whole seconds (Cache-Control does).
  spec.refresh.lifetime.minimum = std::chrono::duration_cast<seconds>(cache_min);
  spec.refresh.lifetime.maximum = std::chrono::duration_cast<seconds>(cache_max);
  spec.refresh.stale_window = std::chrono::duration_cast<seconds>(stale);
  if (spec.refresh.lifetime.maximum < spec.refresh.lifetime.minimum) {
    return r.at(section, "cache_max must not be below cache_min");
  }
  if (spec.refresh.retry.maximum < spec.refresh.retry.initial) {
    return r.at(section, "retry_max must not be below retry_initial");
  }
  return std::nullopt;
}

ConfigCheck readTuning(const Reader& r, const YAML::Node& section, RemoteKeySettings& out) {
  if (auto failed =
          proxy::checkMappingKeys(section,
                                  {"cache_min", "cache_max", "stale_window", "refetch_cooldown",
                                   "wait_timeout", "connect_timeout", "timeout", "max_redirects",
                                   "max_bytes", "retry_initial", "retry_max", "unavailable_status"},
                                  r.file, r.where + ": remote_keys")) {
    return failed;
  }
  if (section.IsNull()) {
    return std::nullopt;
  }
  if (auto failed = readDurations(r, section, out.spec)) {
    return failed;
  }
  if (const YAML::Node item = section["max_redirects"]) {
    auto text = proxy::scalarText(item, r.file, "max_redirects");
    if (!text) {
      return text.error();
    }
    if (text->empty() || text->size() > 2 ||
        text->find_first_not_of("0123456789") != std::string::npos) {
      return r.at(item, "max_redirects: expected 0 to 10");
    }
    out.spec.fetch.max_redirects = std::stol(*text);
    if (out.spec.fetch.max_redirects > 10) {
      return r.at(item, "max_redirects: expected 0 to 10");
    }
  }
  if (const YAML::Node item = section["max_bytes"]) {
    auto text = proxy::scalarText(item, r.file, "max_bytes");
    if (!text) {
      return text.error();
    }
    auto bytes = proxy::parseSize(*text);
    if (!bytes || *bytes < 1024 || *bytes > kMaxBodyBytes) {
      return r.at(item, "max_bytes: expected a size from 1KiB to 16MiB");
    }
    out.spec.fetch.max_body_bytes = static_cast<std::size_t>(*bytes);
  }
  if (const YAML::Node item = section["unavailable_status"]) {
    auto text = proxy::scalarText(item, r.file, "unavailable_status");
    if (!text) {
      return text.error();
    }
    if (*text != "401" && *text != "503") {
      return r.at(item, "unavailable_status: expected 401 or 503");
    }
    out.unavailable_status = *text == "401" ? 401 : 503;
  }
  return std::nullopt;
}

std::string resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) {
    return path;
  }
  return base_dir + "/" + path;
}

}  // namespace

ConfigCheck readRemoteKeySettings(const YAML::Node& node, std::string_view file,
                                  const std::string& provider,
                                  const std::optional<std::string>& issuer,
                                  const std::string& base_dir, RemoteKeySettings& out) {
  const Reader r{file, "provider '" + provider + "'"};
  out = RemoteKeySettings{};
  out.spec.provider = provider;
  if (!node.IsMap()) {
    return std::nullopt;
  }

  if (const YAML::Node item = node["allow_insecure"]) {
    auto value = readFlag(r, item, "allow_insecure");
    if (!value) {
      return value.error();
    }
    out.spec.fetch.allow_insecure = *value;
  }
  if (const YAML::Node item = node["ca_file"]) {
    auto path = readText(r, item, "ca_file");
    if (!path) {
      return path.error();
    }
    out.spec.fetch.ca_file = resolve(base_dir, *path);
    if (::access(out.spec.fetch.ca_file.c_str(), R_OK) != 0) {
      return r.at(item, "ca_file: cannot read '" + out.spec.fetch.ca_file + "'");
    }
  }

  // The sources: discovery on the issuer first, then the JWKS URL.
  if (const YAML::Node item = node["discovery"]) {
    auto value = readFlag(r, item, "discovery");
    if (!value) {
      return value.error();
    }
    if (*value) {
      if (!issuer) {
        return r.at(item, "discovery: true needs the provider's issuer");
      }
      if (auto failed =
              checkUrl(r, item, "issuer (for discovery)", *issuer, out.spec.fetch.allow_insecure)) {
        return failed;
      }
      out.spec.sources.push_back({jwks::SourceKind::Discovery, *issuer});
    }
  }
  if (const YAML::Node item = node["jwks_uri"]) {
    auto url = readText(r, item, "jwks_uri");
    if (!url) {
      return url.error();
    }
    if (auto failed = checkUrl(r, item, "jwks_uri", *url, out.spec.fetch.allow_insecure)) {
      return failed;
    }
    out.spec.sources.push_back({jwks::SourceKind::JwksUri, *url});
  }

  if (const YAML::Node item = node["remote_keys"]) {
    if (out.spec.sources.empty()) {
      return r.at(item, "remote_keys: needs jwks_uri or discovery: true");
    }
    if (auto failed = readTuning(r, item, out)) {
      return failed;
    }
  }
  if (out.spec.sources.empty() && (node["ca_file"] || node["allow_insecure"])) {
    return r.at(node, "ca_file and allow_insecure apply to jwks_uri or discovery only");
  }
  return std::nullopt;
}

}  // namespace jwtgate::auth

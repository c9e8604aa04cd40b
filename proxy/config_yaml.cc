// The proxy's configuration section, read from a yaml-cpp document.
#include "proxy/config_yaml.h"

#include <charconv>
#include <limits>

#include "proxy/config_values.h"
#include "proxy/http_headers.h"
#include "verifier/claims.h"

namespace jwtgate::proxy {
namespace {

constexpr std::string_view kListen = "listen";
constexpr std::string_view kUpstream = "upstream";
constexpr std::string_view kWorkers = "workers";
constexpr std::string_view kTrustForwarded = "trust_forwarded";
constexpr std::string_view kLimits = "limits";
constexpr std::string_view kTimeouts = "timeouts";
constexpr std::string_view kAccessLog = "access_log";

// Bounds that keep a typo from turning into an unusable or unsafe proxy.
constexpr uint64_t kMinHeaderBytes = 1024;
constexpr uint64_t kMaxHeaderBytes = 1024 * 1024;
constexpr uint64_t kMaxHeaderCount = 10'000;
constexpr uint64_t kMaxConnections = 10'000'000;
constexpr uint64_t kMaxIdleUpstream = 100'000;
// A line is at most a few KiB (the target is cut at 2 KiB); below 64 KiB a burst would drop
// lines needlessly, beyond 1 GiB per worker is a typo.
constexpr uint64_t kMinLogBuffer = 64 * 1024;
constexpr uint64_t kMaxLogBuffer = uint64_t{1} << 30;

int lineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : 0;
}

// Reads one scalar of a section with `parse`, which returns Result<T, std::string>.
template <typename T, typename Parse>
ConfigCheck readValue(const YAML::Node& node, std::string_view file, std::string_view key,
                      Parse parse, T* out) {
  auto text = scalarText(node, file, key);
  if (!text) {
    return text.error();
  }
  auto value = parse(*text);
  if (!value) {
    return configErrorAt(node, file, std::string(key) + ": " + value.error());
  }
  *out = *value;
  return std::nullopt;
}

Result<uint64_t, std::string> parseCount(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return makeError("expected a whole number, got '" + std::string(text) + "'");
  }
  return value;
}

Result<bool, std::string> parseBool(std::string_view text) {
  if (text == "true") {
    return true;
  }
  if (text == "false") {
    return false;
  }
  return makeError("expected true or false, got '" + std::string(text) + "'");
}

// Checks a number already read against [low, high].
ConfigCheck checkRange(const YAML::Node& node, std::string_view file, std::string_view key,
                       uint64_t value, uint64_t low, uint64_t high) {
  if (value < low || value > high) {
    return configErrorAt(node, file,
                         std::string(key) + ": must be from " + std::to_string(low) + " to " +
                             std::to_string(high) + ", got " + std::to_string(value));
  }
  return std::nullopt;
}

ConfigCheck readListen(const YAML::Node& node, std::string_view file, ProxyConfig* config) {
  std::vector<YAML::Node> items;
  if (node.IsSequence()) {
    for (const YAML::Node& item : node) {
      items.push_back(item);
    }
    if (items.empty()) {
      return configErrorAt(node, file, "listen: the list is empty");
    }
  } else {
    items.push_back(node);
  }
  for (const YAML::Node& item : items) {
    ListenAddress address;
    if (auto failed = readValue(item, file, kListen, parseListenAddress, &address)) {
      return failed;
    }
    config->listen.push_back(std::move(address));
  }
  return std::nullopt;
}

// A list of protocol names (tokens, no version), stored in lower case; [] allows none.
ConfigCheck readUpgradeProtocols(const YAML::Node& node, std::string_view file,
                                 std::vector<std::string>* protocols) {
  constexpr std::string_view kKey = "upgrade_protocols";
  if (!node.IsSequence()) {
    return configErrorAt(node, file, std::string(kKey) + ": expected a list of protocol names");
  }
  protocols->clear();
  for (const YAML::Node& item : node) {
    auto text = scalarText(item, file, kKey);
    if (!text) {
      return text.error();
    }
    if (!isValidFieldName(*text)) {
      return configErrorAt(item, file,
                           std::string(kKey) + ": '" + *text + "' is not a protocol name");
    }
    std::string name = std::move(text).value();
    for (char& c : name) {
      c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    }
    protocols->push_back(std::move(name));
  }
  return std::nullopt;
}

ConfigCheck readLimits(const YAML::Node& node, std::string_view file, Limits* limits) {
  if (auto failed = checkMappingKeys(node,
                                     {"max_header_bytes", "max_header_count", "max_body_bytes",
                                      "max_connections", "max_idle_upstream", "upgrade_protocols"},
                                     file, kLimits)) {
    return failed;
  }
  if (node.IsNull()) {
    return std::nullopt;
  }
  uint64_t value = 0;
  if (const YAML::Node item = node["max_header_bytes"]) {
    if (auto failed = readValue(item, file, "max_header_bytes", parseSize, &value)) {
      return failed;
    }
    if (auto failed =
            checkRange(item, file, "max_header_bytes", value, kMinHeaderBytes, kMaxHeaderBytes)) {
      return failed;
    }
    limits->max_header_bytes = static_cast<size_t>(value);
  }
  if (const YAML::Node item = node["max_header_count"]) {
    if (auto failed = readValue(item, file, "max_header_count", parseCount, &value)) {
      return failed;
    }
    if (auto failed = checkRange(item, file, "max_header_count", value, 1, kMaxHeaderCount)) {
      return failed;
    }
    limits->max_header_count = static_cast<uint32_t>(value);
  }
  if (const YAML::Node item = node["max_body_bytes"]) {
    if (auto failed = readValue(item, file, "max_body_bytes", parseSize, &value)) {
      return failed;
    }
    limits->max_body_bytes = value;
  }
  if (const YAML::Node item = node["max_connections"]) {
    if (auto failed = readValue(item, file, "max_connections", parseCount, &value)) {
      return failed;
    }
    if (auto failed = checkRange(item, file, "max_connections", value, 1, kMaxConnections)) {
      return failed;
    }
    limits->max_connections = static_cast<uint32_t>(value);
  }
  if (const YAML::Node item = node["max_idle_upstream"]) {
    if (auto failed = readValue(item, file, "max_idle_upstream", parseCount, &value)) {
      return failed;
    }
    if (auto failed = checkRange(item, file, "max_idle_upstream", value, 0, kMaxIdleUpstream)) {
      return failed;
    }
    limits->max_idle_upstream = static_cast<uint32_t>(value);
  }
  if (const YAML::Node item = node["upgrade_protocols"]) {
    if (auto failed = readUpgradeProtocols(item, file, &limits->upgrade_protocols)) {
      return failed;
    }
  }
  return std::nullopt;
}

ConfigCheck readTimeouts(const YAML::Node& node, std::string_view file, Timeouts* timeouts) {
  struct Field {
    std::string_view key;
    uint64_t* target;
  };
  const Field fields[] = {
      {"request_header", &timeouts->request_header_ms},
      {"client_idle", &timeouts->client_idle_ms},
      {"upstream_connect", &timeouts->upstream_connect_ms},
      {"upstream_response", &timeouts->upstream_response_ms},
      {"drain", &timeouts->drain_ms},
      {"shutdown_grace", &timeouts->shutdown_grace_ms},
  };
  if (auto failed = checkMappingKeys(node,
                                     {"request_header", "client_idle", "upstream_connect",
                                      "upstream_response", "drain", "shutdown_grace"},
                                     file, kTimeouts)) {
    return failed;
  }
  if (node.IsNull()) {
    return std::nullopt;
  }

  // NOTE: libuv timers take 64-bit milliseconds; a day is a generous upper bound that keeps
  // sums of timeouts far from overflow.
  constexpr uint64_t kMaxTimeoutMs = 24ull * 3600 * 1000;
  for (const Field& field : fields) {
    const YAML::Node item = node[std::string(field.key)];
    if (!item) {
      continue;
    }
    if (auto failed = readValue(item, file, field.key, parseDuration, field.target)) {
      return failed;
    }
    if (auto failed = checkRange(item, file, field.key, *field.target, 0, kMaxTimeoutMs)) {
      return failed;
    }
  }
  return std::nullopt;
}

// A claim path as the auth section writes them ("sub", "address.email").
ConfigCheck readClaimPathText(const YAML::Node& node, std::string_view file, std::string_view key,
                              bool allow_empty, std::string* out) {
  auto text = scalarText(node, file, key);
  if (!text) {
    return text.error();
  }
  if (text->empty() && allow_empty) {
    out->clear();
    return std::nullopt;
  }
  auto path = verifier::ClaimPath::parse(*text);
  if (!path) {
    return configErrorAt(
        node, file, std::string(key) + ": invalid claim path '" + *text + "': " + path.error());
  }
  *out = std::move(text).value();
  return std::nullopt;
}

ConfigCheck readSecretClaims(const YAML::Node& node, std::string_view file,
                             std::vector<std::string>* claims) {
  constexpr std::string_view kKey = "secret_claims";
  if (!node.IsSequence()) {
    return configErrorAt(node, file, std::string(kKey) + ": expected a list of claim paths");
  }
  claims->clear();
  for (const YAML::Node& item : node) {
    std::string path;
    if (auto failed = readClaimPathText(item, file, kKey, /*allow_empty=*/false, &path)) {
      return failed;
    }
    claims->push_back(std::move(path));
  }
  return std::nullopt;
}

ConfigCheck readAccessLog(const YAML::Node& node, std::string_view file,
                          AccessLogSettings* settings) {
  if (auto failed = checkMappingKeys(node, {"output", "subject_claim", "secret_claims", "buffer"},
                                     file, kAccessLog)) {
    return failed;
  }
  if (node.IsNull()) {
    return std::nullopt;
  }
  if (const YAML::Node item = node["output"]) {
    if (auto failed = readValue(item, file, "output", parseLogOutput, &settings->output)) {
      return failed;
    }
  }
  if (const YAML::Node item = node["subject_claim"]) {
    // An explicit null (`subject_claim:`) or "" logs no subject.
    if (item.IsNull()) {
      settings->subject_claim.clear();
    } else if (auto failed = readClaimPathText(item, file, "subject_claim", /*allow_empty=*/true,
                                               &settings->subject_claim)) {
      return failed;
    }
  }
  if (const YAML::Node item = node["secret_claims"]) {
    if (auto failed = readSecretClaims(item, file, &settings->secret_claims)) {
      return failed;
    }
  }
  if (const YAML::Node item = node["buffer"]) {
    uint64_t bytes = 0;
    if (auto failed = readValue(item, file, "buffer", parseSize, &bytes)) {
      return failed;
    }
    if (auto failed = checkRange(item, file, "buffer", bytes, kMinLogBuffer, kMaxLogBuffer)) {
      return failed;
    }
    settings->buffer_bytes = static_cast<size_t>(bytes);
  }
  return std::nullopt;
}

ConfigCheck readProxyKeys(const YAML::Node& root, std::string_view file, ProxyConfig* config) {
  const YAML::Node listen = root[std::string(kListen)];
  if (!listen) {
    return ConfigError{std::string(file), 0, "missing required key 'listen'"};
  }
  if (auto failed = readListen(listen, file, config)) {
    return failed;
  }
  const YAML::Node upstream = root[std::string(kUpstream)];
  if (!upstream) {
    return ConfigError{std::string(file), 0, "missing required key 'upstream'"};
  }
  if (auto failed = readValue(upstream, file, kUpstream, parseUpstreamAddress, &config->upstream)) {
    return failed;
  }
  if (const YAML::Node workers = root[std::string(kWorkers)]) {
    if (auto failed = readValue(workers, file, kWorkers, parseWorkers, &config->workers)) {
      return failed;
    }
  }
  if (const YAML::Node trust = root[std::string(kTrustForwarded)]) {
    if (auto failed =
            readValue(trust, file, kTrustForwarded, parseBool, &config->trust_forwarded)) {
      return failed;
    }
  }
  if (const YAML::Node limits = root[std::string(kLimits)]) {
    if (auto failed = readLimits(limits, file, &config->limits)) {
      return failed;
    }
  }
  if (const YAML::Node timeouts = root[std::string(kTimeouts)]) {
    if (auto failed = readTimeouts(timeouts, file, &config->timeouts)) {
      return failed;
    }
  }
  if (const YAML::Node access_log = root[std::string(kAccessLog)]) {
    if (auto failed = readAccessLog(access_log, file, &config->access_log)) {
      return failed;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string ConfigError::toString() const {
  if (line > 0) {
    return file + ":" + std::to_string(line) + ": " + message;
  }
  return file + ": " + message;
}

ConfigError configErrorAt(const YAML::Node& node, std::string_view file, std::string message) {
  return ConfigError{std::string(file), lineOf(node), std::move(message)};
}

ConfigCheck checkMappingKeys(const YAML::Node& node,
                             std::initializer_list<std::string_view> allowed, std::string_view file,
                             std::string_view where) {
  if (node.IsNull()) {
    return std::nullopt;
  }
  if (!node.IsMap()) {
    return configErrorAt(node, file, std::string(where) + ": expected a mapping of keys");
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: the iterator yields temporaries
    if (!key.IsScalar()) {
      return configErrorAt(key, file, std::string(where) + ": keys must be plain names");
    }
    bool known = false;
    for (std::string_view name : allowed) {
      known = known || key.Scalar() == name;
    }
    std::string context = where.empty() ? std::string() : " in " + std::string(where);
    if (!known) {
      return configErrorAt(key, file, "unknown key '" + key.Scalar() + "'" + context);
    }

    // yaml-cpp keeps both copies of a repeated key and reads the first: refuse it instead.
    for (auto earlier = node.begin(); earlier != it; ++earlier) {
      if (earlier->first.IsScalar() && earlier->first.Scalar() == key.Scalar()) {
        return configErrorAt(key, file, "duplicate key '" + key.Scalar() + "'" + context);
      }
    }
  }
  return std::nullopt;
}

Result<std::string, ConfigError> scalarText(const YAML::Node& node, std::string_view file,
                                            std::string_view key) {
  if (!node.IsScalar()) {
    return makeError(configErrorAt(node, file, std::string(key) + ": expected a single value"));
  }
  return node.Scalar();
}

const std::vector<std::string_view>& proxyTopLevelKeys() {
  static const std::vector<std::string_view> keys = {
      kListen, kUpstream, kWorkers, kTrustForwarded, kLimits, kTimeouts, kAccessLog};
  return keys;
}

Result<ProxyConfig, ConfigError> parseProxySettings(const YAML::Node& root, std::string_view file) {
  ProxyConfig config;
  try {
    if (!root.IsMap()) {
      return makeError(configErrorAt(root, file, "expected a mapping of settings"));
    }
    if (auto failed = readProxyKeys(root, file, &config)) {
      return makeError(std::move(*failed));
    }
  } catch (const YAML::Exception& error) {
    int line = error.mark.line >= 0 ? error.mark.line + 1 : 0;
    return makeError(ConfigError{std::string(file), line, error.msg});
  }
  return config;
}

}  // namespace jwtgate::proxy

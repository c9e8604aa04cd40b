// YAML -> AuthConfig. Configuration time only: this is the one place of the auth layer that
// may throw (yaml-cpp does), and every exception stops here as a ConfigError.
#include "auth/auth_config_yaml.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "auth/local_file.h"
#include "auth/remote_keys_config.h"
#include "auth/token_cache.h"
#include "proxy/config_values.h"
#include "proxy/http_headers.h"
#include "verifier/algorithm.h"
#include "verifier/json_document.h"
#include "verifier/key_set.h"

namespace jwtgate::auth {

namespace {

using proxy::ConfigCheck;
using proxy::ConfigError;

template <typename T>
using Parsed = Result<T, ConfigError>;

constexpr std::string_view kAuthKey = "auth";
constexpr std::string_view kProvidersKey = "providers";
constexpr std::string_view kRoutesKey = "routes";

constexpr std::string_view kNoRoutesMessage =
    "no routes: every request would be forwarded unchecked; add routes, or set `auth: off` "
    "to run jwtgate as a plain reverse proxy";

// Bounds that keep a typo from turning into an unusable or unsafe setting.
constexpr std::int64_t kMaxLeewaySeconds = 3600;
constexpr std::int64_t kMaxLifetimeSeconds = 366LL * 24 * 3600;
constexpr std::int64_t kMaxCacheAgeSeconds = 24 * 3600;
constexpr std::uint64_t kMinTokenBytes = 64;
constexpr std::uint64_t kMaxTokenBytes = 1024 * 1024;
constexpr std::uint64_t kMaxTokenSources = 255;
constexpr std::size_t kMaxNameLength = 64;

// What every reader needs: the file name for errors and the directory for key files.
struct Context {
  std::string_view file;
  std::string base_dir;

  ConfigError at(const YAML::Node& node, std::string message) const {
    return proxy::configErrorAt(node, file, std::move(message));
  }
};

std::string directoryOf(std::string_view file) {
  const std::size_t slash = file.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(file.substr(0, slash + 1));
}

std::string resolvePath(const Context& ctx, const std::string& path) {
  return path.starts_with('/') ? path : ctx.base_dir + path;
}

// ---- scalars ----

Parsed<std::string> readString(const Context& ctx, const YAML::Node& node, std::string_view key,
                               bool allow_empty = false) {
  auto text = proxy::scalarText(node, ctx.file, key);
  if (!text) {
    return text;
  }
  if (!allow_empty && text->empty()) {
    return makeError(ctx.at(node, std::string(key) + ": must not be empty"));
  }
  return text;
}

Parsed<bool> readBool(const Context& ctx, const YAML::Node& node, std::string_view key) {
  auto text = proxy::scalarText(node, ctx.file, key);
  if (!text) {
    return makeError(text.error());
  }
  if (*text == "true") {
    return true;
  }
  if (*text == "false") {
    return false;
  }
  return makeError(
      ctx.at(node, std::string(key) + ": expected true or false, got '" + *text + "'"));
}

Parsed<std::uint64_t> readNumber(const Context& ctx, const YAML::Node& node, std::string_view key,
                                 bool size, std::uint64_t low, std::uint64_t high) {
  auto text = proxy::scalarText(node, ctx.file, key);
  if (!text) {
    return makeError(text.error());
  }
  std::uint64_t value = 0;
  if (size) {
    auto parsed = proxy::parseSize(*text);
    if (!parsed) {
      return makeError(ctx.at(node, std::string(key) + ": " + parsed.error()));
    }
    value = *parsed;
  } else {
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (text->empty() || ec != std::errc() || end != text->data() + text->size()) {
      return makeError(
          ctx.at(node, std::string(key) + ": expected a whole number, got '" + *text + "'"));
    }
  }
  if (value < low || value > high) {
    return makeError(ctx.at(node, std::string(key) + ": must be from " + std::to_string(low) +
                                      " to " + std::to_string(high) + ", got " +
                                      std::to_string(value)));
  }
  return value;
}

// A duration in whole seconds within [low, high].
Parsed<std::int64_t> readSeconds(const Context& ctx, const YAML::Node& node, std::string_view key,
                                 std::int64_t low, std::int64_t high) {
  auto text = proxy::scalarText(node, ctx.file, key);
  if (!text) {
    return makeError(text.error());
  }
  auto millis = proxy::parseDuration(*text);
  if (!millis) {
    return makeError(ctx.at(node, std::string(key) + ": " + millis.error()));
  }
  if (*millis % 1000 != 0) {
    return makeError(
        ctx.at(node, std::string(key) + ": must be whole seconds, got '" + *text + "'"));
  }
  const auto seconds = static_cast<std::int64_t>(*millis / 1000);
  if (seconds < low || seconds > high) {
    return makeError(ctx.at(node, std::string(key) + ": must be from " + std::to_string(low) +
                                      "s to " + std::to_string(high) + "s, got '" + *text + "'"));
  }
  return seconds;
}

// A list of non-empty strings; a single scalar counts as a list of one when allowed.
Parsed<std::vector<std::string>> readStringList(const Context& ctx, const YAML::Node& node,
                                                std::string_view key, bool allow_scalar = true) {
  std::vector<std::string> values;
  if (node.IsScalar() && allow_scalar) {
    auto value = readString(ctx, node, key);
    if (!value) {
      return makeError(value.error());
    }
    values.push_back(std::move(value).value());
    return values;
  }
  if (!node.IsSequence()) {
    return makeError(ctx.at(node, std::string(key) + ": expected a list"));
  }
  for (const YAML::Node& item : node) {
    auto value = readString(ctx, item, key);
    if (!value) {
      return makeError(value.error());
    }
    values.push_back(std::move(value).value());
  }
  if (values.empty()) {
    return makeError(ctx.at(node, std::string(key) + ": the list is empty"));
  }
  return values;
}

// Names of providers and routes appear in logs and headers: short visible ASCII without the
// separators of the info header.
bool isPlainName(std::string_view name, bool allow_brackets) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [&](char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      return true;
    }
    if (allow_brackets && (c == '[' || c == ']' || c == '/' || c == ':')) {
      return true;
    }
    return c == '-' || c == '_' || c == '.';
  });
}

// ---- claims ----

bool isPlainScalar(const YAML::Node& node) { return node.Tag() == "?"; }

// A required value written in YAML: quoted text is always a string; plain true/false are
// booleans, plain numbers are integers or doubles, anything else plain is a string.
Parsed<verifier::ClaimExpectation> readExpectation(const Context& ctx, const YAML::Node& node,
                                                   std::string_view key) {
  if (node.IsNull()) {
    return verifier::ClaimExpectation{};  // Presence only.
  }
  if (!node.IsScalar()) {
    return makeError(ctx.at(node, std::string(key) + ": expected a value or a list of values"));
  }
  const std::string& text = node.Scalar();
  if (!isPlainScalar(node)) {
    return verifier::ClaimExpectation{text};
  }
  if (text == "true" || text == "false") {
    return verifier::ClaimExpectation{text == "true"};
  }
  std::int64_t integer = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), integer);
  if (!text.empty() && ec == std::errc() && end == text.data() + text.size()) {
    return verifier::ClaimExpectation{integer};
  }
  char* stop = nullptr;
  const double number = std::strtod(text.c_str(), &stop);
  const bool numeric = !text.empty() && stop == text.c_str() + text.size() &&
                       std::isfinite(number) && text.find_first_of("xXnN") == std::string::npos;
  if (numeric) {
    return verifier::ClaimExpectation{number};
  }
  return verifier::ClaimExpectation{text};
}

Parsed<verifier::ClaimPath> readClaimPath(const Context& ctx, const YAML::Node& node,
                                          std::string_view key) {
  auto text = readString(ctx, node, key);
  if (!text) {
    return makeError(text.error());
  }
  auto path = verifier::ClaimPath::parse(*text);
  if (!path) {
    return makeError(
        ctx.at(node, std::string(key) + ": invalid claim path '" + *text + "': " + path.error()));
  }
  return std::move(path).value();
}

// `{path: value, path: [value, value], path: ~}`: every entry must hold.
ConfigCheck readClaimRequirements(const Context& ctx, const YAML::Node& node, std::string_view key,
                                  std::vector<verifier::ClaimRequirement>& out) {
  if (!node.IsMap()) {
    return ctx.at(node, std::string(key) + ": expected a mapping of claim paths to values");
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    // Copies: the iterator yields temporaries.
    const YAML::Node name = it->first;
    const YAML::Node value_node = it->second;
    auto path = readClaimPath(ctx, name, key);
    if (!path) {
      return path.error();
    }
    std::vector<YAML::Node> values;
    if (value_node.IsSequence()) {
      for (const YAML::Node& value : value_node) {
        values.push_back(value);
      }
      if (values.empty()) {
        return ctx.at(value_node, std::string(key) + ": the list of values is empty");
      }
    } else {
      values.push_back(value_node);
    }
    for (const YAML::Node& value : values) {
      auto expected = readExpectation(ctx, value, key);
      if (!expected) {
        return expected.error();
      }
      out.push_back({*path, std::move(expected).value()});
    }
  }
  return std::nullopt;
}

// ---- keys ----

// Inline JWKS written as YAML: converted to JSON text for KeySet::fromJwks.
void appendJsonString(std::string& out, std::string_view text) {
  constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

bool isJsonNumber(std::string_view text) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      ++i;
    }
    return i > start;
  };
  if (i < text.size() && text[i] == '-') {
    ++i;
  }
  if (i < text.size() && text[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits()) {
      return false;
    }
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
      ++i;
    }
    if (!digits()) {
      return false;
    }
  }
  return i == text.size();
}

void appendJson(const YAML::Node& node, std::string& out) {
  if (node.IsMap()) {
    out.push_back('{');
    bool first = true;
    for (auto it = node.begin(); it != node.end(); ++it) {
      out.append(first ? "" : ",");
      first = false;
      const YAML::Node name = it->first;
      const YAML::Node value = it->second;
      appendJsonString(out, name.Scalar());
      out.push_back(':');
      appendJson(value, out);
    }
    out.push_back('}');
  } else if (node.IsSequence()) {
    out.push_back('[');
    bool first = true;
    for (const YAML::Node& item : node) {
      out.append(first ? "" : ",");
      first = false;
      appendJson(item, out);
    }
    out.push_back(']');
  } else if (node.IsNull()) {
    out.append("null");
  } else {
    const std::string& text = node.Scalar();
    const bool literal =
        isPlainScalar(node) && (text == "true" || text == "false" || isJsonNumber(text));
    if (literal) {
      out.append(text);
    } else {
      appendJsonString(out, text);
    }
  }
}

// A key file: a regular file of at most kMaxKeyFileBytes (auth/local_file.h).
Parsed<std::string> readKeyFile(const Context& ctx, const YAML::Node& node,
                                const std::string& path) {
  auto text = readLocalFile(path, kMaxKeyFileBytes);
  if (!text) {
    return makeError(ctx.at(node, "cannot read key file '" + path + "': " + text.error()));
  }
  return std::move(text).value();
}

// ---- remote keys: the text of a local key source, kept so that the key service can build
// the local keys afresh for every merge with fetched ones (KeySet::merge consumes a set) ----
struct LocalKeyText {
  std::string text;
  bool pem = false;
  verifier::PemKeyOptions options;
};

// A digest of the local key texts (and their options): a reload compares it to keep the
// remote-key state of an unchanged provider. The texts themselves (secrets) are not kept.
std::string localKeysIdentity(const std::vector<LocalKeyText>& texts) {
  std::string material;
  const auto add = [&material](std::string_view part) {
    material.append(std::to_string(part.size())).push_back(':');
    material.append(part);
  };
  for (const LocalKeyText& text : texts) {
    add(text.pem ? "pem" : "jwks");
    add(text.options.kid.value_or(""));
    add(text.options.alg ? verifier::toString(*text.options.alg) : "");
    add(text.text);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(material.data(), material.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    // Never equal to another load's: the provider then counts as changed (a refetch).
    static std::atomic<std::uint64_t> undigested{0};
    OPENSSL_cleanse(material.data(), material.size());
    return "undigested:" + std::to_string(undigested.fetch_add(1));
  }
  OPENSSL_cleanse(material.data(), material.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}
// ---- end remote keys ----

// One `keys` entry: {file: PATH} | {jwks: TEXT} | {inline: {keys: [...]}} |
// {pem: PATH, kid: ID, alg: ALG}. `keep`, when given, receives the source's text.
Parsed<verifier::KeySet> readKeySource(const Context& ctx, const YAML::Node& node,
                                       std::vector<std::string>& descriptions,
                                       LocalKeyText* keep = nullptr) {
  if (auto failed = proxy::checkMappingKeys(node, {"file", "jwks", "inline", "pem", "kid", "alg"},
                                            ctx.file, "keys")) {
    return makeError(std::move(*failed));
  }
  if (!node.IsMap()) {
    return makeError(ctx.at(node,
                            "keys: expected {file: ...}, {jwks: ...}, {inline: ...} or "
                            "{pem: ...}"));
  }
  int kinds = 0;
  for (const char* kind : {"file", "jwks", "inline", "pem"}) {
    kinds += node[kind] ? 1 : 0;
  }
  if (kinds != 1) {
    return makeError(ctx.at(node, "keys: each entry needs exactly one of file, jwks, inline, pem"));
  }
  if (!node["pem"] && (node["kid"] || node["alg"])) {
    return makeError(ctx.at(node, "keys: kid and alg apply to pem keys only"));
  }

  Result<verifier::KeySet, verifier::KeyLoadError> loaded =
      makeError(verifier::KeyLoadError{"no key source"});
  YAML::Node where = node;
  if (const YAML::Node file = node["file"]) {
    auto path = readString(ctx, file, "file");
    if (!path) {
      return makeError(path.error());
    }
    const std::string resolved = resolvePath(ctx, *path);
    auto text = readKeyFile(ctx, file, resolved);
    if (!text) {
      return makeError(text.error());
    }
    where = file;
    descriptions.push_back("file " + resolved);
    loaded = verifier::KeySet::fromJwks(*text);
    if (keep != nullptr) {
      *keep = {*text, false, {}};
    }
  } else if (const YAML::Node jwks = node["jwks"]) {
    auto text = readString(ctx, jwks, "jwks");
    if (!text) {
      return makeError(text.error());
    }
    where = jwks;
    descriptions.push_back("inline JWKS");
    loaded = verifier::KeySet::fromJwks(*text);
    if (keep != nullptr) {
      *keep = {*text, false, {}};
    }
  } else if (const YAML::Node inline_keys = node["inline"]) {
    if (!inline_keys.IsMap()) {
      return makeError(ctx.at(inline_keys, "inline: expected a JWKS or a JWK as a mapping"));
    }
    std::string json;
    appendJson(inline_keys, json);
    where = inline_keys;
    descriptions.push_back("inline JWKS");
    loaded = verifier::KeySet::fromJwks(json);
    if (keep != nullptr) {
      *keep = {json, false, {}};
    }
  } else {
    const YAML::Node pem = node["pem"];
    auto path = readString(ctx, pem, "pem");
    if (!path) {
      return makeError(path.error());
    }
    verifier::PemKeyOptions options;
    if (const YAML::Node kid = node["kid"]) {
      auto text = readString(ctx, kid, "kid");
      if (!text) {
        return makeError(text.error());
      }
      options.kid = std::move(text).value();
    }
    if (const YAML::Node alg = node["alg"]) {
      auto text = readString(ctx, alg, "alg");
      if (!text) {
        return makeError(text.error());
      }
      options.alg = verifier::parseAlgorithm(*text);
      if (!options.alg) {
        return makeError(ctx.at(alg, "alg: unknown algorithm '" + *text + "'"));
      }
    }
    const std::string resolved = resolvePath(ctx, *path);
    auto text = readKeyFile(ctx, pem, resolved);
    if (!text) {
      return makeError(text.error());
    }
    where = pem;
    descriptions.push_back("pem " + resolved);
    loaded = verifier::KeySet::fromPem(*text, options);
    if (keep != nullptr) {
      *keep = {*text, true, options};
    }
  }
  if (!loaded) {
    return makeError(ctx.at(where, "keys: " + loaded.error().message));
  }
  return std::move(loaded).value();
}

ConfigCheck readKeys(const Context& ctx, const YAML::Node& node, Provider& provider,
                     std::vector<LocalKeyText>* keep = nullptr) {
  std::vector<YAML::Node> entries;
  if (node.IsSequence()) {
    for (const YAML::Node& entry : node) {
      entries.push_back(entry);
    }
    if (entries.empty()) {
      return ctx.at(node, "keys: the list is empty");
    }
  } else {
    entries.push_back(node);
  }
  auto keys = std::make_shared<verifier::KeySet>();
  std::size_t skipped = 0;
  for (const YAML::Node& entry : entries) {
    LocalKeyText text;
    auto set = readKeySource(ctx, entry, provider.key_sources, keep ? &text : nullptr);
    if (keep != nullptr) {
      keep->push_back(std::move(text));
    }
    if (!set) {
      return set.error();
    }
    skipped += set->skipped();
    keys->merge(std::move(set).value());
  }
  if (keys->size() == 0) {
    return ctx.at(node, "keys: no usable verification key (" + std::to_string(skipped) +
                            " skipped: not for signatures or of an unsupported type)");
  }
  provider.keys.publish(std::move(keys));
  return std::nullopt;
}

// The algorithms some key of `keys` can verify with: the default when none are configured,
// so that the keys, never a token, decide.
verifier::AlgorithmSet algorithmsOfKeys(const verifier::KeySet& keys) {
  verifier::AlgorithmSet set;
  for (std::size_t i = 0; i < verifier::kAlgorithmCount; ++i) {
    const auto alg = static_cast<verifier::Algorithm>(i);
    for (const auto& key : keys.keys()) {
      if (key->fits(alg)) {
        set.add(alg);
      }
    }
  }
  return set;
}

// ---- token locations ----

bool isCookieName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), proxy::isTokenChar);
}

Parsed<TokenSource> readTokenSource(const Context& ctx, const YAML::Node& node) {
  if (auto failed = proxy::checkMappingKeys(node, {"header", "scheme", "prefix", "cookie", "query"},
                                            ctx.file, "token_from")) {
    return makeError(std::move(*failed));
  }
  if (!node.IsMap()) {
    return makeError(ctx.at(node,
                            "token_from: expected {header: ...}, {cookie: ...} or "
                            "{query: ...}"));
  }
  const int kinds = (node["header"] ? 1 : 0) + (node["cookie"] ? 1 : 0) + (node["query"] ? 1 : 0);
  if (kinds != 1) {
    return makeError(ctx.at(node,
                            "token_from: each entry needs exactly one of header, cookie, "
                            "query"));
  }
  if (!node["header"] && (node["scheme"] || node["prefix"])) {
    return makeError(ctx.at(node, "token_from: scheme and prefix apply to headers only"));
  }
  if (node["scheme"] && node["prefix"]) {
    return makeError(ctx.at(node, "token_from: use either scheme or prefix, not both"));
  }

  if (const YAML::Node cookie = node["cookie"]) {
    auto name = readString(ctx, cookie, "cookie");
    if (!name) {
      return makeError(name.error());
    }
    if (!isCookieName(*name)) {
      return makeError(ctx.at(cookie, "cookie: '" + *name + "' is not a valid cookie name"));
    }
    return TokenSource::cookie(std::move(name).value());
  }
  if (const YAML::Node query = node["query"]) {
    auto name = readString(ctx, query, "query");
    if (!name) {
      return makeError(name.error());
    }
    return TokenSource::query(std::move(name).value());
  }
  const YAML::Node header = node["header"];
  auto name = readString(ctx, header, "header");
  if (!name) {
    return makeError(name.error());
  }
  if (!proxy::isValidFieldName(*name) || proxy::classifyHeader(*name) != proxy::HeaderKind::Other ||
      IdentityHeaderSet::canonical(*name) == "cookie") {
    return makeError(ctx.at(header, "header: '" + *name + "' cannot hold a token"));
  }
  TokenSource source = TokenSource::header(std::move(name).value(), "");
  if (const YAML::Node scheme = node["scheme"]) {
    auto text = readString(ctx, scheme, "scheme");
    if (!text) {
      return makeError(text.error());
    }
    if (!std::all_of(text->begin(), text->end(), proxy::isTokenChar)) {
      return makeError(ctx.at(scheme, "scheme: '" + *text + "' is not an auth scheme name"));
    }
    source.scheme = std::move(text).value();
  }
  if (const YAML::Node prefix = node["prefix"]) {
    auto text = readString(ctx, prefix, "prefix");
    if (!text) {
      return makeError(text.error());
    }
    source.prefix = std::move(text).value();
  }
  return source;
}

bool sameLocation(const TokenSource& a, const TokenSource& b) {
  if (a.location != b.location) {
    return false;
  }
  return a.location == TokenLocation::Header ? proxy::equalsIgnoreCase(a.name, b.name)
                                             : a.name == b.name;
}

ConfigCheck readTokenFrom(const Context& ctx, const YAML::Node& node,
                          std::vector<TokenSource>& out) {
  if (!node.IsSequence() || node.size() == 0) {
    return ctx.at(node, "token_from: expected a non-empty list of locations");
  }
  if (node.size() > kMaxTokenSources) {
    return ctx.at(node, "token_from: at most " + std::to_string(kMaxTokenSources) + " locations");
  }
  out.clear();
  for (const YAML::Node& item : node) {
    auto source = readTokenSource(ctx, item);
    if (!source) {
      return source.error();
    }
    for (const TokenSource& earlier : out) {
      if (sameLocation(earlier, *source)) {
        return ctx.at(item, "token_from: location '" + source->name + "' is listed twice");
      }
    }
    out.push_back(std::move(source).value());
  }
  return std::nullopt;
}

// ---- providers ----

ConfigCheck readClaimsToHeaders(const Context& ctx, const YAML::Node& node, Provider& provider) {
  if (!node.IsMap()) {
    return ctx.at(node, "claims_to_headers: expected a mapping of header names to claim paths");
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    auto name = readString(ctx, key, "claims_to_headers");
    if (!name) {
      return name.error();
    }
    if (!proxy::isValidFieldName(*name)) {
      return ctx.at(key, "claims_to_headers: '" + *name + "' is not a valid header name");
    }
    auto claim = readClaimPath(ctx, value, "claims_to_headers");
    if (!claim) {
      return claim.error();
    }
    provider.claims_to_headers.push_back({std::move(name).value(), std::move(claim).value()});
  }
  return std::nullopt;
}

ConfigCheck readAlgorithms(const Context& ctx, const YAML::Node& node, verifier::Policy& policy) {
  auto names = readStringList(ctx, node, "algorithms");
  if (!names) {
    return names.error();
  }
  std::size_t index = 0;
  for (const std::string& name : *names) {
    const YAML::Node item = node.IsSequence() ? node[index] : node;
    ++index;
    const auto alg = verifier::parseAlgorithm(name);
    if (!alg) {
      return ctx.at(item, name == "none" ? std::string("algorithms: 'none' is never accepted")
                                         : "algorithms: unknown algorithm '" + name + "'");
    }
    policy.algorithms.add(*alg);
  }
  return std::nullopt;
}

// The policy keys of a provider (everything the verifier checks).
ConfigCheck readPolicy(const Context& ctx, const YAML::Node& node, verifier::Policy& policy) {
  if (const YAML::Node item = node["issuer"]) {
    auto text = readString(ctx, item, "issuer");
    if (!text) {
      return text.error();
    }
    policy.issuer = std::move(text).value();
  }
  if (const YAML::Node item = node["audiences"]) {
    auto list = readStringList(ctx, item, "audiences");
    if (!list) {
      return list.error();
    }
    policy.audiences = std::move(list).value();
  }
  if (const YAML::Node item = node["algorithms"]) {
    if (auto failed = readAlgorithms(ctx, item, policy)) {
      return failed;
    }
  }
  if (const YAML::Node item = node["leeway"]) {
    auto seconds = readSeconds(ctx, item, "leeway", 0, kMaxLeewaySeconds);
    if (!seconds) {
      return seconds.error();
    }
    policy.leeway_seconds = *seconds;
  }
  if (const YAML::Node item = node["max_lifetime"]) {
    auto seconds = readSeconds(ctx, item, "max_lifetime", 1, kMaxLifetimeSeconds);
    if (!seconds) {
      return seconds.error();
    }
    policy.max_lifetime_seconds = *seconds;
  }
  if (const YAML::Node item = node["type"]) {
    auto text = readString(ctx, item, "type");
    if (!text) {
      return text.error();
    }
    policy.required_type = std::move(text).value();
  }
  if (const YAML::Node item = node["require_exp"]) {
    auto value = readBool(ctx, item, "require_exp");
    if (!value) {
      return value.error();
    }
    policy.require_expiration = *value;
  }
  if (const YAML::Node item = node["max_token_bytes"]) {
    auto value = readNumber(ctx, item, "max_token_bytes", true, kMinTokenBytes, kMaxTokenBytes);
    if (!value) {
      return value.error();
    }
    policy.max_token_bytes = static_cast<std::size_t>(*value);
  }
  if (const YAML::Node item = node["max_json_depth"]) {
    auto value = readNumber(ctx, item, "max_json_depth", false, 1, verifier::kMaxJsonDepthCap);
    if (!value) {
      return value.error();
    }
    policy.max_json_depth = static_cast<std::size_t>(*value);
  }
  if (const YAML::Node item = node["required_claims"]) {
    if (auto failed = readClaimRequirements(ctx, item, "required_claims", policy.required_claims)) {
      return failed;
    }
  }
  return std::nullopt;
}

// What a provider does with the request beyond verifying: locations, headers, the token.
ConfigCheck readForwarding(const Context& ctx, const YAML::Node& node, Provider& provider) {
  provider.token_from = {TokenSource::bearerHeader()};
  if (const YAML::Node item = node["token_from"]) {
    if (auto failed = readTokenFrom(ctx, item, provider.token_from)) {
      return failed;
    }
  }
  if (const YAML::Node item = node["claims_to_headers"]) {
    if (auto failed = readClaimsToHeaders(ctx, item, provider)) {
      return failed;
    }
  }
  if (const YAML::Node item = node["forward_payload_header"]) {
    auto text = readString(ctx, item, "forward_payload_header");
    if (!text) {
      return text.error();
    }
    provider.forward_payload_header = std::move(text).value();
  }
  if (const YAML::Node item = node["keep_token"]) {
    auto value = readBool(ctx, item, "keep_token");
    if (!value) {
      return value.error();
    }
    provider.keep_token = *value;
  }
  return std::nullopt;
}

ConfigCheck readProvider(const Context& ctx, const YAML::Node& key, const YAML::Node& node,
                         Provider& provider) {
  provider.name = key.Scalar();
  if (!isPlainName(provider.name, false)) {
    return ctx.at(
        key, "provider name '" + provider.name + "' must be 1-64 letters, digits, '-', '_' or '.'");
  }
  const std::string where = "provider '" + provider.name + "'";
  if (auto failed = proxy::checkMappingKeys(
          node,
          {"issuer", "audiences", "keys", "algorithms", "leeway", "max_lifetime", "type",
           "require_exp", "max_token_bytes", "max_json_depth", "required_claims", "token_from",
           "claims_to_headers", "forward_payload_header", "keep_token",
           // remote keys (auth/remote_keys_config.h):
           kRemoteKeyProviderKeys[0], kRemoteKeyProviderKeys[1], kRemoteKeyProviderKeys[2],
           kRemoteKeyProviderKeys[3], kRemoteKeyProviderKeys[4]},
          ctx.file, where)) {
    return failed;
  }
  if (auto failed = readPolicy(ctx, node, provider.policy)) {
    return failed;
  }
  // ---- remote keys (docs/remote-keys.md): jwks_uri and discovery need no local keys ----
  RemoteKeySettings remote;
  if (auto failed = readRemoteKeySettings(node, ctx.file, provider.name, provider.policy.issuer,
                                          ctx.base_dir, remote)) {
    return failed;
  }
  const YAML::Node keys = node.IsMap() ? node["keys"] : YAML::Node();
  if (!keys && !remote.configured()) {
    return ctx.at(node.IsMap() ? node : key,
                  where + ": 'keys' is required (or jwks_uri, or discovery: true)");
  }
  std::vector<LocalKeyText> local_texts;
  if (keys) {
    if (auto failed = readKeys(ctx, keys, provider, remote.configured() ? &local_texts : nullptr)) {
      return failed;
    }
  }
  if (remote.configured()) {
    if (!local_texts.empty()) {
      remote.spec.local_keys_identity = localKeysIdentity(local_texts);
      remote.spec.local_keys =
          [texts = std::move(local_texts)]() -> Result<verifier::KeySet, verifier::KeyLoadError> {
        verifier::KeySet merged;
        for (const LocalKeyText& text : texts) {
          auto set = text.pem ? verifier::KeySet::fromPem(text.text, text.options)
                              : verifier::KeySet::fromJwks(text.text);
          if (!set) {
            return makeError(set.error());
          }
          merged.merge(std::move(set).value());
        }
        return merged;
      };
    }
    provider.remote_keys = std::move(remote.spec);
    provider.unavailable_status = remote.unavailable_status;
  }
  if (provider.policy.algorithms.empty()) {
    if (const auto local = provider.keys.load()) {
      provider.policy.algorithms = algorithmsOfKeys(*local);
    }
    // Keys fetched later decide nothing: the asymmetric algorithms, never HMAC with a
    // secret that a key server would have published.
    if (!provider.remote_keys.sources.empty()) {
      for (std::size_t i = 0; i < verifier::kAlgorithmCount; ++i) {
        const auto alg = static_cast<verifier::Algorithm>(i);
        if (verifier::keyTypeFor(alg) != verifier::KeyType::Oct) {
          provider.policy.algorithms.add(alg);
        }
      }
    }
  }
  // ---- end remote keys ----
  return readForwarding(ctx, node, provider);
}

ConfigCheck readProviders(const Context& ctx, const YAML::Node& node, AuthConfig& config) {
  if (node.IsNull()) {
    return std::nullopt;
  }
  if (!node.IsMap()) {
    return ctx.at(node, "providers: expected a mapping of provider names to settings");
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node name = it->first;
    const YAML::Node settings = it->second;
    if (!name.IsScalar()) {
      return ctx.at(name, "providers: names must be plain text");
    }
    if (config.findProvider(name.Scalar())) {
      return ctx.at(name, "providers: '" + name.Scalar() + "' is defined twice");
    }
    auto provider = std::make_shared<Provider>();
    if (auto failed = readProvider(ctx, name, settings, *provider)) {
      return failed;
    }
    config.providers.push_back(std::move(provider));
  }
  return std::nullopt;
}

// ---- the auth section ----

bool isRealmText(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7F && c != '"' && c != '\\';
  });
}

Parsed<AuthMode> readMode(const Context& ctx, const YAML::Node& node) {
  auto text = readString(ctx, node, "mode");
  if (!text) {
    return makeError(text.error());
  }
  if (*text == "enforce") {
    return AuthMode::Enforce;
  }
  if (*text == "report") {
    return AuthMode::Report;
  }
  return makeError(ctx.at(node, "mode: expected enforce or report, got '" + *text + "'"));
}

ConfigCheck readCache(const Context& ctx, const YAML::Node& node, CacheSettings& cache) {
  if (auto failed = proxy::checkMappingKeys(node, {"max_entries", "max_bytes", "max_age"}, ctx.file,
                                            "cache")) {
    return failed;
  }
  if (node.IsNull()) {
    return std::nullopt;
  }
  if (const YAML::Node item = node["max_entries"]) {
    auto value = readNumber(ctx, item, "max_entries", false, 0, TokenCache<int>::kMaxEntries);
    if (!value) {
      return value.error();
    }
    cache.max_entries = static_cast<std::size_t>(*value);
  }
  if (const YAML::Node item = node["max_bytes"]) {
    auto value = readNumber(ctx, item, "max_bytes", true, 0, std::uint64_t{1} << 40);
    if (!value) {
      return value.error();
    }
    cache.max_bytes = static_cast<std::size_t>(*value);
  }
  if (const YAML::Node item = node["max_age"]) {
    auto seconds = readSeconds(ctx, item, "max_age", 1, kMaxCacheAgeSeconds);
    if (!seconds) {
      return seconds.error();
    }
    cache.max_age_seconds = *seconds;
  }
  return std::nullopt;
}

ConfigCheck readPaths(const Context& ctx, const YAML::Node& node, PathOptions& paths) {
  if (auto failed = proxy::checkMappingKeys(node, {"merge_slashes", "refuse_path_parameters"},
                                            ctx.file, "paths")) {
    return failed;
  }
  if (node.IsNull()) {
    return std::nullopt;
  }
  for (auto [key, target] : {std::pair{"merge_slashes", &paths.merge_slashes},
                             std::pair{"refuse_path_parameters", &paths.refuse_path_parameters}}) {
    if (const YAML::Node item = node[key]) {
      auto value = readBool(ctx, item, key);
      if (!value) {
        return value.error();
      }
      *target = *value;
    }
  }
  return std::nullopt;
}

ConfigCheck readHeaderName(const Context& ctx, const YAML::Node& node, std::string_view key,
                           std::string& out) {
  auto text = readString(ctx, node, key);
  if (!text) {
    return text.error();
  }
  if (!proxy::isValidFieldName(*text)) {
    return ctx.at(node, std::string(key) + ": '" + *text + "' is not a valid header name");
  }
  out = std::move(text).value();
  return std::nullopt;
}

ConfigCheck readSettings(const Context& ctx, const YAML::Node& node, AuthSettings& settings) {
  if (node.IsScalar()) {
    return ctx.at(node,
                  "auth: expected a mapping of settings, or `off` (got '" + node.Scalar() + "')");
  }
  if (auto failed =
          proxy::checkMappingKeys(node,
                                  {"realm", "error_descriptions", "mode", "no_route", "cache",
                                   "identity_info_header", "report_header", "paths"},
                                  ctx.file, "auth")) {
    return failed;
  }
  if (node.IsNull()) {
    return std::nullopt;
  }
  if (const YAML::Node item = node["realm"]) {
    auto text = readString(ctx, item, "realm");
    if (!text) {
      return text.error();
    }
    if (!isRealmText(*text)) {
      return ctx.at(item, "realm: printable ASCII without quotes or backslashes only");
    }
    settings.realm = std::move(text).value();
  }
  if (const YAML::Node item = node["error_descriptions"]) {
    auto value = readBool(ctx, item, "error_descriptions");
    if (!value) {
      return value.error();
    }
    settings.error_descriptions = *value;
  }
  if (const YAML::Node item = node["mode"]) {
    auto mode = readMode(ctx, item);
    if (!mode) {
      return mode.error();
    }
    settings.mode = *mode;
  }
  if (const YAML::Node item = node["no_route"]) {
    auto text = readString(ctx, item, "no_route");
    if (!text) {
      return text.error();
    }
    if (*text != "404" && *text != "403") {
      return ctx.at(item, "no_route: expected 404 or 403, got '" + *text + "'");
    }
    settings.no_route = *text == "404" ? NoRouteStatus::NotFound : NoRouteStatus::Forbidden;
  }
  if (const YAML::Node item = node["cache"]) {
    if (auto failed = readCache(ctx, item, settings.cache)) {
      return failed;
    }
  }
  if (const YAML::Node item = node["identity_info_header"]) {
    if (auto failed =
            readHeaderName(ctx, item, "identity_info_header", settings.identity_info_header)) {
      return failed;
    }
  }
  if (const YAML::Node item = node["report_header"]) {
    if (auto failed = readHeaderName(ctx, item, "report_header", settings.report_header)) {
      return failed;
    }
  }
  if (const YAML::Node item = node["paths"]) {
    return readPaths(ctx, item, settings.paths);
  }
  return std::nullopt;
}

// ---- routes ----

ConfigCheck readMatch(const Context& ctx, const YAML::Node& node, RouteSpec& spec) {
  if (auto failed = proxy::checkMappingKeys(
          node, {"path", "prefix", "regex", "methods", "host", "ignore_case"}, ctx.file, "match")) {
    return failed;
  }
  if (!node.IsMap()) {
    return ctx.at(node, "match: expected a mapping");
  }
  const int kinds = (node["path"] ? 1 : 0) + (node["prefix"] ? 1 : 0) + (node["regex"] ? 1 : 0);
  if (kinds != 1) {
    return ctx.at(node, "match: needs exactly one of path, prefix, regex");
  }
  for (auto [key, kind] :
       {std::pair{"path", PathMatchKind::Exact}, std::pair{"prefix", PathMatchKind::Prefix},
        std::pair{"regex", PathMatchKind::Regex}}) {
    if (const YAML::Node item = node[key]) {
      auto text = readString(ctx, item, key);
      if (!text) {
        return text.error();
      }
      spec.path.kind = kind;
      spec.path.value = std::move(text).value();
    }
  }
  if (const YAML::Node item = node["methods"]) {
    auto methods = readStringList(ctx, item, "methods");
    if (!methods) {
      return methods.error();
    }
    spec.methods = std::move(methods).value();
  }
  if (const YAML::Node item = node["host"]) {
    auto host = readString(ctx, item, "host");
    if (!host) {
      return host.error();
    }
    spec.host = std::move(host).value();
  }
  if (const YAML::Node item = node["ignore_case"]) {
    auto value = readBool(ctx, item, "ignore_case");
    if (!value) {
      return value.error();
    }
    spec.path.ignore_case = *value;
  }
  return std::nullopt;
}

// `provider: NAME`, `any: [NAMES]` or `all: [NAMES]`, each name checked against the
// providers so that the error points at the name.
ConfigCheck readProviderRule(const Context& ctx, const YAML::Node& node, const AuthConfig& config,
                             RouteSpec& spec) {
  const int kinds = (node["provider"] ? 1 : 0) + (node["any"] ? 1 : 0) + (node["all"] ? 1 : 0);
  if (kinds != 1) {
    return ctx.at(node, "require: needs exactly one of provider, any, all");
  }
  YAML::Node list;
  if (const YAML::Node item = node["provider"]) {
    spec.provider_rule = ProviderRule::One;
    auto name = readString(ctx, item, "provider");
    if (!name) {
      return name.error();
    }
    list = item;
  } else {
    spec.provider_rule = node["any"] ? ProviderRule::Any : ProviderRule::All;
    list = node["any"] ? node["any"] : node["all"];
  }
  std::vector<YAML::Node> items;
  if (list.IsSequence()) {
    for (const YAML::Node& item : list) {
      items.push_back(item);
    }
  } else {
    items.push_back(list);
  }
  if (items.empty()) {
    return ctx.at(list, "require: the provider list is empty");
  }
  for (const YAML::Node& item : items) {
    auto name = readString(ctx, item, "provider");
    if (!name) {
      return name.error();
    }
    if (!config.findProvider(*name)) {
      return ctx.at(item, "require: provider '" + *name + "' is not defined in providers");
    }
    spec.providers.push_back(std::move(name).value());
  }
  return std::nullopt;
}

ConfigCheck readGrantList(const Context& ctx, const YAML::Node& node, const char* key,
                          std::vector<std::string>& out) {
  if (const YAML::Node item = node[key]) {
    auto list = readStringList(ctx, item, key);
    if (!list) {
      return list.error();
    }
    out = std::move(list).value();
  }
  return std::nullopt;
}

ConfigCheck readClaimPathList(const Context& ctx, const YAML::Node& node, const char* key,
                              std::vector<std::string>& out) {
  if (auto failed = readGrantList(ctx, node, key, out)) {
    return failed;
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto path = verifier::ClaimPath::parse(out[i]);
    if (!path) {
      const YAML::Node item = node[key].IsSequence() ? node[key][i] : node[key];
      return ctx.at(item,
                    std::string(key) + ": invalid claim path '" + out[i] + "': " + path.error());
    }
  }
  return std::nullopt;
}

ConfigCheck readRequire(const Context& ctx, const YAML::Node& node, const AuthConfig& config,
                        RouteSpec& spec) {
  if (auto failed = proxy::checkMappingKeys(
          node,
          {"provider", "any", "all", "scopes_any", "scopes_all", "roles_any", "roles_all",
           "scope_claims", "roles_claims", "claims", "allow_missing"},
          ctx.file, "require")) {
    return failed;
  }
  if (!node.IsMap()) {
    return ctx.at(node, "require: expected a mapping");
  }
  if (auto failed = readProviderRule(ctx, node, config, spec)) {
    return failed;
  }
  GrantSpec& grants = spec.grants;
  for (auto [key, list] :
       {std::pair{"scopes_any", &grants.scopes_any}, std::pair{"scopes_all", &grants.scopes_all},
        std::pair{"roles_any", &grants.roles_any}, std::pair{"roles_all", &grants.roles_all}}) {
    if (auto failed = readGrantList(ctx, node, key, *list)) {
      return failed;
    }
  }
  if (auto failed = readClaimPathList(ctx, node, "scope_claims", grants.scope_claims)) {
    return failed;
  }
  if (auto failed = readClaimPathList(ctx, node, "roles_claims", grants.roles_claims)) {
    return failed;
  }
  if (const YAML::Node item = node["claims"]) {
    if (auto failed = readClaimRequirements(ctx, item, "claims", spec.claims)) {
      return failed;
    }
  }
  if (const YAML::Node item = node["allow_missing"]) {
    auto value = readBool(ctx, item, "allow_missing");
    if (!value) {
      return value.error();
    }
    spec.allow_missing = *value;
  }
  return std::nullopt;
}

ConfigCheck readRoute(const Context& ctx, const YAML::Node& node, std::size_t index,
                      const AuthConfig& config, RouteSpec& spec) {
  spec.name = "routes[" + std::to_string(index) + "]";
  if (auto failed = proxy::checkMappingKeys(node, {"name", "match", "auth", "require", "mode"},
                                            ctx.file, spec.name)) {
    return failed;
  }
  if (!node.IsMap()) {
    return ctx.at(node, spec.name + ": expected a mapping with match and require (or auth)");
  }
  if (const YAML::Node item = node["name"]) {
    auto name = readString(ctx, item, "name");
    if (!name) {
      return name.error();
    }
    if (!isPlainName(*name, true)) {
      return ctx.at(
          item, "name: '" + *name + "' must be 1-64 letters, digits or '-', '_', '.', '/', ':'");
    }
    spec.name = std::move(name).value();
  }
  const YAML::Node match = node["match"];
  if (!match) {
    return ctx.at(node, spec.name + ": 'match' is required");
  }
  if (auto failed = readMatch(ctx, match, spec)) {
    return failed;
  }

  // Exactly one of `auth: none` and `require`.
  const YAML::Node auth = node["auth"];
  const YAML::Node require = node["require"];
  if (auth && require) {
    return ctx.at(auth, spec.name + ": use either 'auth: none' or 'require', not both");
  }
  if (!auth && !require) {
    return ctx.at(node, spec.name + ": needs 'require' (or 'auth: none' for an open route)");
  }
  spec.mode = config.settings.mode;
  if (auth) {
    auto text = readString(ctx, auth, "auth");
    if (!text) {
      return text.error();
    }
    if (*text != "none") {
      return ctx.at(auth, "auth: the only value is 'none' (use 'require' otherwise)");
    }
    if (node["mode"]) {
      return ctx.at(node["mode"], spec.name + ": 'mode' does not apply to 'auth: none'");
    }
    spec.auth_none = true;
    return std::nullopt;
  }
  if (auto failed = readRequire(ctx, require, config, spec)) {
    return failed;
  }
  if (const YAML::Node item = node["mode"]) {
    auto mode = readMode(ctx, item);
    if (!mode) {
      return mode.error();
    }
    spec.mode = *mode;
  }
  return std::nullopt;
}

ConfigCheck readRoutes(const Context& ctx, const YAML::Node& node, AuthConfig& config,
                       std::vector<YAML::Node>& route_nodes) {
  if (!node.IsSequence() || node.size() == 0) {
    return ctx.at(node, "routes: expected a non-empty list of routes");
  }
  std::vector<RouteSpec> specs;
  for (const YAML::Node& item : node) {
    RouteSpec spec;
    if (auto failed = readRoute(ctx, item, specs.size(), config, spec)) {
      return failed;
    }
    for (const RouteSpec& earlier : specs) {
      if (earlier.name == spec.name) {
        return ctx.at(item, "routes: the name '" + spec.name + "' is used twice");
      }
    }
    specs.push_back(std::move(spec));
    route_nodes.push_back(item);
  }
  RouteTable::BuildFailure failure;
  auto table = RouteTable::build(specs, config.providerNames(), config.settings.no_route, &failure);
  if (!table) {
    // At the part of the route that is wrong (`match` or `require`), else at the route.
    const YAML::Node route = route_nodes[std::min(failure.route, route_nodes.size() - 1)];
    const char* part = failure.part == RouteTable::BuildFailure::Part::Match ? "match" : "require";
    const YAML::Node where = route[part];
    return ctx.at(where ? where : route, table.error());
  }
  config.routes = std::move(table).value();
  return std::nullopt;
}

// Places a model error at the line of the part it is about.
ConfigError locate(const Context& ctx, const AuthModelError& error, const YAML::Node& root,
                   const std::vector<YAML::Node>& route_nodes) {
  using Scope = AuthModelError::Scope;
  if (error.scope == Scope::Route && error.index < route_nodes.size()) {
    return ctx.at(route_nodes[error.index], error.message);
  }
  if (error.scope == Scope::Provider) {
    const YAML::Node providers = root[std::string(kProvidersKey)];
    std::size_t index = 0;
    for (auto it = providers.begin(); it != providers.end(); ++it, ++index) {
      if (index == error.index) {
        const YAML::Node name = it->first;
        return ctx.at(name, "provider '" + name.Scalar() + "': " + error.message);
      }
    }
  }
  const YAML::Node auth = root[std::string(kAuthKey)];
  return auth ? ctx.at(auth, "auth: " + error.message)
              : ConfigError{std::string(ctx.file), 0, error.message};
}

// `auth: off`: the one scalar the auth section takes (any other is refused by readSettings).
bool isAuthOff(const YAML::Node& auth) { return auth && auth.IsScalar() && auth.Scalar() == "off"; }

Parsed<std::shared_ptr<const AuthConfig>> readSections(const Context& ctx, const YAML::Node& root) {
  const YAML::Node auth = root[std::string(kAuthKey)];
  const YAML::Node providers = root[std::string(kProvidersKey)];
  const YAML::Node routes = root[std::string(kRoutesKey)];

  // A plain reverse proxy only when the file says so: `auth: off`, and nothing that would
  // look like authentication beside it.
  if (isAuthOff(auth)) {
    for (const YAML::Node& section : {providers, routes}) {
      if (section) {
        return makeError(ctx.at(section,
                                "`auth: off` forwards every request unchecked; "
                                "remove it to use providers and routes"));
      }
    }
    return std::shared_ptr<const AuthConfig>();
  }

  // Fail closed: a file that forgot its routes must not start a proxy that checks nothing.
  if (!auth && !providers && !routes) {
    return makeError(ConfigError{std::string(ctx.file), 0, std::string(kNoRoutesMessage)});
  }
  auto config = std::make_shared<AuthConfig>();
  if (auth) {
    if (auto failed = readSettings(ctx, auth, config->settings)) {
      return makeError(std::move(*failed));
    }
  }
  if (!routes) {
    return makeError(ConfigError{std::string(ctx.file), 0,
                                 "missing required key 'routes' (the auth and providers "
                                 "sections need routes that use them)"});
  }
  if (providers) {
    if (auto failed = readProviders(ctx, providers, *config)) {
      return makeError(std::move(*failed));
    }
  }
  std::vector<YAML::Node> route_nodes;
  if (auto failed = readRoutes(ctx, routes, *config, route_nodes)) {
    return makeError(std::move(*failed));
  }
  if (auto failed = finishAuthConfig(*config)) {
    return makeError(locate(ctx, *failed, root, route_nodes));
  }
  return std::shared_ptr<const AuthConfig>(std::move(config));
}

}  // namespace

const std::vector<std::string_view>& authTopLevelKeys() {
  static const std::vector<std::string_view> keys = {kAuthKey, kProvidersKey, kRoutesKey};
  return keys;
}

Result<std::shared_ptr<const AuthConfig>, proxy::ConfigError> parseAuthSections(
    const YAML::Node& root, std::string_view file) {
  const Context ctx{file, directoryOf(file)};
  try {
    if (!root.IsMap()) {
      return makeError(ctx.at(root, "expected a mapping of settings"));
    }
    return readSections(ctx, root);
  } catch (const YAML::Exception& error) {
    const int line = error.mark.line >= 0 ? error.mark.line + 1 : 0;
    return makeError(ConfigError{std::string(file), line, error.msg});
  }
}

}  // namespace jwtgate::auth

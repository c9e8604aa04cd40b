// OpenID configuration documents: fetched from the issuer, checked, reduced to jwks_uri.
#include "jwks/discovery.h"

#include <optional>
#include <vector>

#include "verifier/json_document.h"

namespace jwtgate::jwks {
namespace {

// A configuration has no deep structure; anything deeper is refused.
constexpr std::size_t kMaxDiscoveryDepth = 8;

// The string value of the root member `name`: nullopt when absent, "" with *is_string false
// when present but not a string.
std::optional<std::string_view> rootString(const verifier::JsonDocument& document,
                                           std::string_view name, bool* is_string) {
  const verifier::JsonNode& root = document.nodes[0];
  for (std::uint32_t i = 1; i < root.next; i = document.nodes[i].next) {
    const verifier::JsonNode& node = document.nodes[i];
    if (document.text.at(node.key_offset, node.key_length) != name) {
      continue;
    }
    *is_string = node.kind == verifier::JsonKind::String;
    if (!*is_string) {
      return std::string_view();
    }
    return document.text.at(node.text_offset, node.text_length);
  }
  return std::nullopt;
}

}  // namespace

bool hasUrlScheme(std::string_view url, std::string_view scheme) {
  if (url.size() <= scheme.size()) {
    return false;
  }
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = url[i];
    c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (c != scheme[i]) {
      return false;
    }
  }
  return true;
}

std::string discoveryUrl(std::string_view issuer) {
  if (!issuer.empty() && issuer.back() == '/') {
    issuer.remove_suffix(1);
  }
  std::string url(issuer);
  url += "/.well-known/openid-configuration";
  return url;
}

Result<std::string, std::string> jwksUriFromDiscovery(std::string_view document,
                                                      std::string_view expected_issuer,
                                                      bool allow_insecure) {
  // The reader needs padding after the text.
  std::string padded(document);
  padded.append(verifier::jsonPadding(), '\0');
  std::vector<verifier::JsonNode> nodes;
  std::string arena;
  verifier::JsonReader reader;
  if (document.size() > UINT32_MAX ||
      reader.read(padded.data(), document.size(), kMaxDiscoveryDepth, nodes, arena)) {
    return makeError(std::string("the discovery document is not a strict JSON object"));
  }
  verifier::JsonDocument view{
      nodes.data(),
      static_cast<std::uint32_t>(nodes.size()),
      {padded.data(), static_cast<std::uint32_t>(document.size()), arena.data()}};

  // Discovery section 4.3: the issuer in the document must be the one asked for, exactly.
  bool is_string = false;
  std::optional<std::string_view> issuer = rootString(view, "issuer", &is_string);
  if (!issuer || !is_string) {
    return makeError(std::string("the discovery document has no issuer string"));
  }
  if (*issuer != expected_issuer) {
    return makeError(
        std::string("the discovery document names another issuer than the "
                    "configured one"));
  }

  std::optional<std::string_view> jwks_uri = rootString(view, "jwks_uri", &is_string);
  if (!jwks_uri || !is_string || jwks_uri->empty()) {
    return makeError(std::string("the discovery document has no jwks_uri string"));
  }
  if (!hasUrlScheme(*jwks_uri, "https://") &&
      !(allow_insecure && hasUrlScheme(*jwks_uri, "http://"))) {
    return makeError(std::string(allow_insecure ? "jwks_uri is not an http(s) URL"
                                                : "jwks_uri is not an https URL"));
  }
  return std::string(*jwks_uri);
}

}  // namespace jwtgate::jwks

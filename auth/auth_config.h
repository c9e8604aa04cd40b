// The authentication model read from the configuration: global settings, the providers and
// the route table, plus the cross-checks that need all three. Immutable once built; shared
// by every worker through std::shared_ptr<const AuthConfig>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/identity_headers.h"
#include "auth/path_normalizer.h"
#include "auth/provider.h"
#include "auth/route_table.h"

namespace jwtgate::auth {

inline constexpr std::size_t kDefaultCacheEntries = 10000;
inline constexpr std::size_t kDefaultCacheBytes = 16 * 1024 * 1024;
inline constexpr std::int64_t kDefaultCacheMaxAgeSeconds = 300;
inline constexpr std::string_view kDefaultRealm = "jwtgate";
inline constexpr std::string_view kDefaultReportHeader = "X-Jwtgate-Report";

// The per-worker verified-token cache.
struct CacheSettings {
  std::size_t max_entries = kDefaultCacheEntries;  // 0 turns the cache off.
  std::size_t max_bytes = kDefaultCacheBytes;      // Tokens plus what is kept per entry.
  // An entry is dropped after this long even when its token is still valid, so that a key
  // removed by a later key refresh (or a policy change) takes effect within this delay.
  std::int64_t max_age_seconds = kDefaultCacheMaxAgeSeconds;
};

// The `auth` section.
struct AuthSettings {
  std::string realm{kDefaultRealm};   // The WWW-Authenticate realm.
  bool error_descriptions = true;     // false: refusals carry no error_description.
  AuthMode mode = AuthMode::Enforce;  // The default of every route without its own mode.
  NoRouteStatus no_route = NoRouteStatus::NotFound;
  CacheSettings cache;
  // When set: "<route>; provider=<name>" (or just "<route>") on every forwarded request.
  std::string identity_info_header;
  // Set on requests that report mode forwards although they would have been refused.
  std::string report_header{kDefaultReportHeader};
  PathOptions paths;
  // The claim the access log shows as "subject" (empty: none), and claim paths whose values
  // never appear in any log line (the subject included). Filled by the app from the
  // access_log section, so that they reload with the rest of auth.
  std::string log_subject_claim = "sub";
  std::vector<std::string> secret_claims;
};

// Where a model error belongs, so that the YAML loader can name the line.
struct AuthModelError {
  enum class Scope : std::uint8_t { Settings, Provider, Route };
  Scope scope = Scope::Settings;
  std::size_t index = 0;  // Provider or route position.
  std::string message;
};

class AuthConfig {
 public:
  AuthSettings settings;
  // Position = ProviderIndex. shared_ptr so that a key refresher can hold one provider.
  std::vector<std::shared_ptr<Provider>> providers;
  RouteTable routes;
  // Every header name jwtgate sets itself; incoming copies (in any spelling) are removed.
  IdentityHeaderSet reserved_headers;

  // The provider named `name`, if any.
  std::optional<ProviderIndex> findProvider(std::string_view name) const;

  // The names of the providers, in order (for RouteTable::build).
  std::vector<std::string> providerNames() const;

  // "N providers, M routes".
  std::string summary() const;
};

// Checks what involves more than one part and builds reserved_headers. Run once settings,
// providers and routes are filled. Fails when
//  - a header jwtgate sets is not a valid field name, is one the proxy owns (Host,
//    Content-Length, hop-by-hop fields, X-Forwarded-*) or carries credentials (Authorization,
//    Cookie), or is a location some provider reads tokens from;
//  - one provider sets the same header twice (in any spelling), or two providers that a
//    route with `all` combines set the same header;
//  - the info or report header is also a provider's header, or they are the same.
std::optional<AuthModelError> finishAuthConfig(AuthConfig& config);

}  // namespace jwtgate::auth

// Route rules: which requests a route covers (path, methods, host) and what authentication it
// demands. Built once at config load; matching allocates nothing (except inside std::regex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "verifier/claims.h"
#include "verifier/result.h"

namespace jwtgate::auth {

// Index of a provider in the configuration's provider list, resolved at load.
using ProviderIndex = std::uint16_t;

enum class PathMatchKind : std::uint8_t {
  Exact,   // The normalised path equals the value.
  Prefix,  // The normalised path starts with the value (see segment_aware).
  Regex,   // ECMAScript regex without back-references, anchored at both ends.
};

// One route's selection of paths, written in config form; compiled by RouteTable::build.
struct PathMatchSpec {
  PathMatchKind kind = PathMatchKind::Prefix;
  std::string value;
  // Prefix only: "/api" matches "/api" and "/api/x" but not "/apix". A value ending in '/'
  // is already segment-shaped and matches what starts with it.
  bool segment_aware = true;
  // Compare ASCII letters case-insensitively, for upstreams that treat "/ADMIN" as "/admin"
  // (IIS, case-insensitive file systems).
  // NOTE: off by default (RFC 3986 paths are case-sensitive); such upstreams need it on their
  // protected routes, or "/ADMIN" reaches the resource past a rule on "/admin". Windows-style
  // trailing-dot and 8.3-name aliases are not handled.
  bool ignore_case = false;
};

enum class ProviderRule : std::uint8_t {
  One,  // Exactly the one provider listed.
  Any,  // A token from any listed provider is enough (tried in order).
  All,  // Every listed provider must yield a valid token.
};

enum class AuthMode : std::uint8_t {
  Enforce,  // Refuse requests that fail the requirement.
  Report,   // Forward them anyway, marked, and count the would-be refusal.
};

// Scopes and roles as written in config: *_any needs at least one of its list, *_all needs
// every one. Empty lists require nothing.
struct GrantSpec {
  std::vector<std::string> scopes_any;
  std::vector<std::string> scopes_all;
  std::vector<std::string> roles_any;
  std::vector<std::string> roles_all;
  // Claim paths (verifier::ClaimPath syntax) overriding where scopes and roles are read.
  // Empty: scopes from "scope" and "scp", roles from kDefaultRolesClaim.
  // TODO(provider-defaults): a provider-level default source should sit between the two.
  std::vector<std::string> scope_claims;
  std::vector<std::string> roles_claims;
};

inline constexpr std::string_view kDefaultRolesClaim = "roles";

// What a route demands of the request's credentials, in the verifier's own terms so that an
// auth filter can run verifier::checkScopes / checkClaims on a (cached) token directly.
struct Requirement {
  ProviderRule provider_rule = ProviderRule::One;
  std::vector<ProviderIndex> providers;  // Resolved indices, never empty.
  // Every entry must be Ok (verifier::checkScopes); empty entries are not stored.
  std::vector<verifier::ScopeRequirement> grants;
  // grants[0, scope_grants) are about scopes, the rest about roles (for refusal reasons).
  std::size_t scope_grants = 0;
  // The scopes to name in a 403 challenge (scopes_all, then scopes_any).
  std::vector<std::string> challenge_scopes;
  // Claims that must be present or hold a value (verifier::checkClaims).
  std::vector<verifier::ClaimRequirement> claims;
  // A request with no credential at all is forwarded without identity; a credential that is
  // present must still be valid.
  bool allow_missing = false;
  AuthMode mode = AuthMode::Enforce;
};

// A route in config form: provider names are resolved and regexes compiled by build().
struct RouteSpec {
  std::string name;  // For logs, metrics and the route info header.
  PathMatchSpec path;
  std::vector<std::string> methods;  // Empty: any method. Case-sensitive (RFC 9110 9.1).
  std::string host;                  // Empty: any host. "name" or "name:port".
  bool auth_none = false;            // true: no authentication at all on this route.
  ProviderRule provider_rule = ProviderRule::One;
  std::vector<std::string> providers;
  GrantSpec grants;
  std::vector<verifier::ClaimRequirement> claims;
  bool allow_missing = false;
  AuthMode mode = AuthMode::Enforce;
};

// A compiled route. requirement is empty for "auth: none".
struct Route {
  std::string name;
  PathMatchKind kind = PathMatchKind::Prefix;
  std::string value;
  bool segment_aware = true;
  bool ignore_case = false;
  std::optional<std::regex> regex;
  std::vector<std::string> methods;
  std::string host;  // Lower-cased, without a trailing dot.
  std::string port;  // Empty: any port.
  std::optional<Requirement> requirement;
};

// What happens to a request no route covers.
enum class NoRouteStatus : std::uint8_t {
  NotFound,   // 404 {"error":"no_route"} (the default: does not confirm the path exists).
  Forbidden,  // 403 {"error":"no_route"}.
};

struct RouteMatch {
  const Route* route = nullptr;  // nullptr: no route (or error); lives as long as the table.
  // The path could not be evaluated against a regex route (too long, or the engine gave
  // up): refuse with 400 rather than fall through to a later, possibly weaker, route.
  bool error = false;
};

class RouteTable {
 public:
  // NOTE: std::regex is compiled in libstdc++'s polynomial (NFA) mode, which refuses
  // back-references at load. A regex route only ever sees paths up to this length, to bound
  // the work; longer ones are a match error.
  // TODO(regex-engine): std::regex is slow (about 150 ns per regex route for a short path,
  // 20x a prefix route) and allocates on every evaluation; fine for a handful of regex
  // routes, a small dedicated matcher (or RE2, not packaged for this build) would fix both.
  static constexpr std::size_t kMaxRegexInput = 4096;

  // Where build() failed, so that a config loader can point at the line.
  struct BuildFailure {
    enum class Part : std::uint8_t {
      Match,        // The path, methods or host.
      Requirement,  // Providers, scopes, roles, claims.
    };
    std::size_t route = 0;
    Part part = Part::Match;
  };

  // Resolves provider names against `provider_names` (position = ProviderIndex) and compiles
  // regexes. On failure returns a message naming the route and the problem, and fills
  // `*failure` when given.
  static Result<RouteTable, std::string> build(std::span<const RouteSpec> specs,
                                               std::span<const std::string> provider_names,
                                               NoRouteStatus no_route = NoRouteStatus::NotFound,
                                               BuildFailure* failure = nullptr);

  // The first route covering the request. `path` must already be normalised; `host` is the
  // Host header value (may be empty). Never throws; allocates only in std::regex.
  RouteMatch match(std::string_view method, std::string_view host, std::string_view path) const;

  NoRouteStatus noRouteStatus() const { return no_route_; }
  std::span<const Route> routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
  NoRouteStatus no_route_ = NoRouteStatus::NotFound;
};

// Splits a Host header value into lower-case-comparable name and port ("[::1]:80" keeps the
// brackets in the name). Views into `host`.
struct HostParts {
  std::string_view name;
  std::string_view port;
};
HostParts splitHost(std::string_view host);

}  // namespace jwtgate::auth

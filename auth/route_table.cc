// Route compilation (config load, may allocate and report errors) and matching (request path).
#include "auth/route_table.h"

#include <algorithm>
#include <exception>

#include "auth/ascii.h"
#include "auth/path_normalizer.h"

namespace jwtgate::auth {

namespace {

// RFC 9110 section 5.6.2 tchar, for method names.
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 6750 section 3 scope-token: %x21 / %x23-5B / %x5D-7E, so it can go into a challenge.
bool isScopeToken(std::string_view scope) {
  if (scope.empty()) {
    return false;
  }
  return std::all_of(scope.begin(), scope.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == 0x21 || (u >= 0x23 && u <= 0x5B) || (u >= 0x5D && u <= 0x7E);
  });
}

std::string_view stripTrailingDot(std::string_view name) {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  return name;
}

// NOTE: libstdc++'s default matcher backtracks: it recurses once per input character (a long
// path overflows the stack) and can take exponential time ("(a*)*b"). Its __polynomial mode
// runs a Thompson NFA instead: linear in the input, bounded stack, and back-references are
// refused when the route is loaded.
#if defined(__GLIBCXX__)
constexpr auto kRegexFlags =
    std::regex::ECMAScript | std::regex::optimize | std::regex_constants::__polynomial;
#else
constexpr auto kRegexFlags = std::regex::ECMAScript | std::regex::optimize;
#endif

using BuildError = Err<std::string>;

BuildError routeError(const RouteSpec& spec, std::size_t index, std::string_view problem) {
  std::string message = "route " + std::to_string(index);
  if (!spec.name.empty()) {
    message += " (" + spec.name + ")";
  }
  message += ": ";
  message += problem;
  return makeError(std::move(message));
}

// Compiles the path selector; the error is the problem text.
std::optional<std::string> compilePath(const PathMatchSpec& spec, Route& route) {
  route.kind = spec.kind;
  route.value = spec.value;
  route.segment_aware = spec.segment_aware;
  route.ignore_case = spec.ignore_case;
  if (spec.kind == PathMatchKind::Regex) {
    try {
      route.regex.emplace(spec.value,
                          spec.ignore_case ? kRegexFlags | std::regex::icase : kRegexFlags);
    } catch (const std::regex_error& e) {
      return std::string("invalid path regex: ") + e.what();
    }
    return std::nullopt;
  }

  // A literal must be in normal form, or no normalised request path could ever equal it.
  std::string normal;
  const auto normalised = normalizeTarget(spec.value, normal);
  if (!normalised.ok() || normalised->has_query || normalised->path != spec.value) {
    return "path \"" + spec.value + "\" is not a normalised absolute path";
  }
  return std::nullopt;
}

std::optional<std::string> compileMethodsAndHost(const RouteSpec& spec, Route& route) {
  for (const std::string& method : spec.methods) {
    if (method.empty() || !std::all_of(method.begin(), method.end(), isTokenChar)) {
      return "invalid method \"" + method + "\"";
    }
    std::string upper = method;
    std::transform(upper.begin(), upper.end(), upper.begin(), upperAscii);
    route.methods.push_back(std::move(upper));
  }

  const HostParts host = splitHost(spec.host);
  route.host.assign(stripTrailingDot(host.name));
  std::transform(route.host.begin(), route.host.end(), route.host.begin(), lowerAscii);
  route.port.assign(host.port);
  if (!spec.host.empty() && route.host.empty()) {
    return "invalid host \"" + spec.host + "\"";
  }
  return std::nullopt;
}

// Parses claim paths for a scope or role source list; the error is the problem text.
std::optional<std::string> parseSources(const std::vector<std::string>& specs,
                                        std::vector<verifier::ClaimPath>& out) {
  for (const std::string& spec : specs) {
    auto path = verifier::ClaimPath::parse(spec);
    if (!path.ok()) {
      return "invalid claim path \"" + spec + "\": " + path.error();
    }
    out.push_back(std::move(path).value());
  }
  return std::nullopt;
}

// Adds one verifier::ScopeRequirement when `required` is not empty.
std::optional<std::string> addGrant(const std::vector<std::string>& required,
                                    verifier::ScopeMatch match,
                                    const std::vector<verifier::ClaimPath>& sources, bool scopes,
                                    Requirement& requirement) {
  if (required.empty()) {
    return std::nullopt;
  }
  for (const std::string& value : required) {
    // Scopes go into the 403 challenge, so they must be RFC 6750 scope-tokens.
    if (value.empty() || (scopes && !isScopeToken(value))) {
      return std::string(scopes ? "invalid scope \"" : "invalid role \"") + value + "\"";
    }
  }
  verifier::ScopeRequirement grant;
  grant.sources = sources;
  grant.required = required;
  grant.match = match;
  requirement.grants.push_back(std::move(grant));
  return std::nullopt;
}

std::optional<std::string> compileGrants(const GrantSpec& spec, Requirement& requirement) {
  std::vector<verifier::ClaimPath> scope_sources;
  std::vector<verifier::ClaimPath> role_sources;
  if (auto problem = parseSources(spec.scope_claims, scope_sources)) {
    return problem;
  }
  if (spec.roles_claims.empty()) {
    role_sources.push_back(verifier::ClaimPath::parse(kDefaultRolesClaim).value());
  } else if (auto problem = parseSources(spec.roles_claims, role_sources)) {
    return problem;
  }

  // Each non-empty list becomes one check; all of them must pass.
  using verifier::ScopeMatch;
  struct GrantList {
    const std::vector<std::string>* values;
    ScopeMatch match;
    bool scopes;
  };
  const GrantList lists[] = {{&spec.scopes_all, ScopeMatch::AllOf, true},
                             {&spec.scopes_any, ScopeMatch::AnyOf, true},
                             {&spec.roles_all, ScopeMatch::AllOf, false},
                             {&spec.roles_any, ScopeMatch::AnyOf, false}};
  for (const GrantList& list : lists) {
    const auto& sources = list.scopes ? scope_sources : role_sources;
    if (auto problem = addGrant(*list.values, list.match, sources, list.scopes, requirement)) {
      return problem;
    }
    if (list.scopes) {
      requirement.scope_grants = requirement.grants.size();
    }
  }
  requirement.challenge_scopes = spec.scopes_all;
  requirement.challenge_scopes.insert(requirement.challenge_scopes.end(), spec.scopes_any.begin(),
                                      spec.scopes_any.end());
  return std::nullopt;
}

// Resolves the auth requirement; the error is the problem text.
std::optional<std::string> compileRequirement(const RouteSpec& spec,
                                              std::span<const std::string> provider_names,
                                              Route& route) {
  if (spec.auth_none) {
    if (!spec.providers.empty()) {
      return "\"auth: none\" cannot name providers";
    }
    return std::nullopt;
  }
  if (spec.providers.empty()) {
    return "no provider (use \"auth: none\" for an open route)";
  }
  if (spec.provider_rule == ProviderRule::One && spec.providers.size() != 1) {
    return "a single-provider rule names exactly one provider";
  }

  Requirement requirement;
  for (const std::string& name : spec.providers) {
    const auto found = std::find(provider_names.begin(), provider_names.end(), name);
    if (found == provider_names.end()) {
      return "unknown provider \"" + name + "\"";
    }
    const auto index = static_cast<ProviderIndex>(found - provider_names.begin());
    if (std::find(requirement.providers.begin(), requirement.providers.end(), index) !=
        requirement.providers.end()) {
      return "provider \"" + name + "\" listed twice";
    }
    requirement.providers.push_back(index);
  }
  if (auto problem = compileGrants(spec.grants, requirement)) {
    return problem;
  }
  requirement.provider_rule = spec.provider_rule;
  requirement.claims = spec.claims;
  requirement.allow_missing = spec.allow_missing;
  requirement.mode = spec.mode;
  route.requirement = std::move(requirement);
  return std::nullopt;
}

bool methodMatches(const Route& route, std::string_view method) {
  if (route.methods.empty()) {
    return true;
  }
  return std::find(route.methods.begin(), route.methods.end(), method) != route.methods.end();
}

bool hostMatches(const Route& route, std::string_view host) {
  if (route.host.empty()) {
    return true;
  }
  const HostParts parts = splitHost(host);
  if (!equalsIgnoreCase(stripTrailingDot(parts.name), route.host)) {
    return false;
  }
  return route.port.empty() || parts.port == route.port;
}

bool sameLiteral(const Route& route, std::string_view a, std::string_view b) {
  return route.ignore_case ? equalsIgnoreCase(a, b) : a == b;
}

bool literalMatches(const Route& route, std::string_view path) {
  if (route.kind == PathMatchKind::Exact) {
    return sameLiteral(route, path, route.value);
  }
  if (path.size() < route.value.size() ||
      !sameLiteral(route, path.substr(0, route.value.size()), route.value)) {
    return false;
  }
  if (!route.segment_aware || route.value.ends_with('/') || path.size() == route.value.size()) {
    return true;
  }
  return path[route.value.size()] == '/';
}

}  // namespace

HostParts splitHost(std::string_view host) {
  // An IPv6 literal keeps its brackets; its port follows "]:".
  if (host.starts_with('[')) {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) {
      return {host, {}};
    }
    const std::string_view rest = host.substr(close + 1);
    return {host.substr(0, close + 1), rest.starts_with(':') ? rest.substr(1) : rest};
  }
  const std::size_t colon = host.rfind(':');
  if (colon == std::string_view::npos) {
    return {host, {}};
  }
  return {host.substr(0, colon), host.substr(colon + 1)};
}

Result<RouteTable, std::string> RouteTable::build(std::span<const RouteSpec> specs,
                                                  std::span<const std::string> provider_names,
                                                  NoRouteStatus no_route, BuildFailure* failure) {
  if (provider_names.size() > 0xFFFF) {
    return makeError(std::string("too many providers"));
  }
  RouteTable table;
  table.no_route_ = no_route;
  table.routes_.reserve(specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const RouteSpec& spec = specs[i];
    Route route;
    route.name = spec.name;
    BuildFailure::Part part = BuildFailure::Part::Match;
    std::optional<std::string> problem = compilePath(spec.path, route);
    if (!problem) {
      problem = compileMethodsAndHost(spec, route);
    }
    if (!problem) {
      part = BuildFailure::Part::Requirement;
      problem = compileRequirement(spec, provider_names, route);
    }
    if (problem) {
      if (failure != nullptr) {
        *failure = {i, part};
      }
      return routeError(spec, i, *problem);
    }
    table.routes_.push_back(std::move(route));
  }
  return table;
}

RouteMatch RouteTable::match(std::string_view method, std::string_view host,
                             std::string_view path) const {
  for (const Route& route : routes_) {
    if (!methodMatches(route, method) || !hostMatches(route, host)) {
      continue;
    }
    if (route.kind != PathMatchKind::Regex) {
      if (literalMatches(route, path)) {
        return {&route, false};
      }
      continue;
    }

    // A regex that cannot be evaluated refuses the request: falling through could reach a
    // later route with weaker requirements.
    if (path.size() > kMaxRegexInput) {
      return {nullptr, true};
    }
    try {
      if (std::regex_match(path.begin(), path.end(), *route.regex)) {
        return {&route, false};
      }
    } catch (const std::exception&) {
      return {nullptr, true};
    }
  }
  return {nullptr, false};
}

}  // namespace jwtgate::auth

// Cross-checks of the authentication model and the set of headers jwtgate reserves.
#include "auth/auth_config.h"

#include <algorithm>

#include "proxy/http_headers.h"

namespace jwtgate::auth {

namespace {

using Scope = AuthModelError::Scope;

AuthModelError modelError(Scope scope, std::size_t index, std::string message) {
  return AuthModelError{scope, index, std::move(message)};
}

// Why `name` cannot be a header jwtgate sets, or nullopt when it can.
std::optional<std::string> reservedNameProblem(std::string_view name) {
  if (!proxy::isValidFieldName(name)) {
    return "\"" + std::string(name) + "\" is not a valid header name";
  }
  if (proxy::classifyHeader(name) != proxy::HeaderKind::Other) {
    return "header \"" + std::string(name) + "\" is managed by the proxy itself";
  }
  // Names that carry credentials are never identity headers: stripping them would drop the
  // client's credentials, setting them would forge new ones.
  const std::string canonical = IdentityHeaderSet::canonical(name);
  if (canonical == "authorization" || canonical == "cookie" || canonical == "proxy-authorization") {
    return "header \"" + std::string(name) + "\" carries credentials";
  }
  return std::nullopt;
}

// The headers one provider sets, in configuration order.
std::vector<std::string> providerHeaders(const Provider& provider) {
  std::vector<std::string> names;
  for (const ClaimHeader& header : provider.claims_to_headers) {
    names.push_back(header.name);
  }
  if (!provider.forward_payload_header.empty()) {
    names.push_back(provider.forward_payload_header);
  }
  return names;
}

bool sameHeader(std::string_view a, std::string_view b) {
  return IdentityHeaderSet::canonical(a) == IdentityHeaderSet::canonical(b);
}

std::optional<AuthModelError> checkProvider(const AuthConfig& config, std::size_t index) {
  const std::vector<std::string> names = providerHeaders(*config.providers[index]);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (auto problem = reservedNameProblem(names[i])) {
      return modelError(Scope::Provider, index, *problem);
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (sameHeader(names[i], names[j])) {
        return modelError(Scope::Provider, index,
                          "header \"" + names[i] + "\" is set twice (as \"" + names[j] + "\")");
      }
    }
    const std::string& info = config.settings.identity_info_header;
    if ((!info.empty() && sameHeader(names[i], info)) ||
        sameHeader(names[i], config.settings.report_header)) {
      return modelError(Scope::Provider, index,
                        "header \"" + names[i] + "\" is also the info or report header");
    }
  }
  return std::nullopt;
}

// A token location must survive the stripping of reserved headers.
std::optional<AuthModelError> checkTokenLocations(const AuthConfig& config) {
  for (std::size_t p = 0; p < config.providers.size(); ++p) {
    for (const TokenSource& source : config.providers[p]->token_from) {
      if (source.location == TokenLocation::Header &&
          config.reserved_headers.isIdentityHeader(source.name)) {
        return modelError(
            Scope::Provider, p,
            "token_from header \"" + source.name + "\" is also a header jwtgate sets");
      }
    }
  }
  return std::nullopt;
}

// A route that combines several providers (`all`) gets every provider's headers: the
// providers must not set the same one.
std::optional<AuthModelError> checkCombinedRoutes(const AuthConfig& config) {
  const auto routes = config.routes.routes();
  for (std::size_t r = 0; r < routes.size(); ++r) {
    const auto& requirement = routes[r].requirement;
    if (!requirement || requirement->provider_rule != ProviderRule::All) {
      continue;
    }
    std::vector<std::string> seen;
    for (ProviderIndex index : requirement->providers) {
      for (const std::string& name : providerHeaders(*config.providers[index])) {
        const bool clash = std::any_of(seen.begin(), seen.end(), [&](const std::string& other) {
          return sameHeader(other, name);
        });
        if (clash) {
          return modelError(Scope::Route, r,
                            "providers combined with `all` both set header \"" + name + "\"");
        }
        seen.push_back(name);
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ProviderIndex> AuthConfig::findProvider(std::string_view name) const {
  for (std::size_t i = 0; i < providers.size(); ++i) {
    if (providers[i]->name == name) {
      return static_cast<ProviderIndex>(i);
    }
  }
  return std::nullopt;
}

std::vector<std::string> AuthConfig::providerNames() const {
  std::vector<std::string> names;
  names.reserve(providers.size());
  for (const auto& provider : providers) {
    names.push_back(provider->name);
  }
  return names;
}

std::string AuthConfig::summary() const {
  const std::size_t route_count = routes.routes().size();
  return std::to_string(providers.size()) +
         (providers.size() == 1 ? " provider, " : " providers, ") + std::to_string(route_count) +
         (route_count == 1 ? " route" : " routes");
}

std::optional<AuthModelError> finishAuthConfig(AuthConfig& config) {
  // The global headers.
  std::vector<std::string> reserved;
  for (const std::string* name :
       {&config.settings.identity_info_header, &config.settings.report_header}) {
    if (name->empty()) {
      continue;
    }
    if (auto problem = reservedNameProblem(*name)) {
      return modelError(Scope::Settings, 0, *problem);
    }
    reserved.push_back(*name);
  }
  if (reserved.size() == 2 && sameHeader(reserved[0], reserved[1])) {
    return modelError(Scope::Settings, 0, "the info and report headers are the same");
  }

  // Each provider's headers.
  for (std::size_t p = 0; p < config.providers.size(); ++p) {
    if (auto failed = checkProvider(config, p)) {
      return failed;
    }
    for (std::string& name : providerHeaders(*config.providers[p])) {
      reserved.push_back(std::move(name));
    }
  }

  auto set = IdentityHeaderSet::build(reserved);
  if (!set.ok()) {
    return modelError(Scope::Settings, 0, set.error());
  }
  config.reserved_headers = std::move(set).value();
  if (auto failed = checkTokenLocations(config)) {
    return failed;
  }
  return checkCombinedRoutes(config);
}

}  // namespace jwtgate::auth

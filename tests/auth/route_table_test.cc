#include "auth/route_table.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "auth/path_normalizer.h"
#include "verifier/claims.h"
#include "verifier/json_document.h"

namespace jwtgate::auth {
namespace {

const std::vector<std::string> kProviders = {"corp", "partners", "legacy"};

RouteSpec route(std::string name, PathMatchKind kind, std::string value) {
  RouteSpec spec;
  spec.name = std::move(name);
  spec.path.kind = kind;
  spec.path.value = std::move(value);
  spec.providers = {"corp"};
  return spec;
}

RouteSpec openRoute(std::string name, PathMatchKind kind, std::string value) {
  RouteSpec spec = route(std::move(name), kind, std::move(value));
  spec.providers.clear();
  spec.auth_none = true;
  return spec;
}

RouteTable buildTable(const std::vector<RouteSpec>& specs) {
  auto table = RouteTable::build(specs, kProviders);
  if (!table.ok()) {
    FAIL("build failed: " << table.error());
  }
  return std::move(table).value();
}

// The name of the matched route, "<none>" or "<error>".
std::string matchName(const RouteTable& table, std::string_view method, std::string_view host,
                      std::string_view path) {
  const RouteMatch match = table.match(method, host, path);
  if (match.error) {
    return "<error>";
  }
  return match.route == nullptr ? "<none>" : match.route->name;
}

struct MatchCase {
  std::string_view method;
  std::string_view host;
  std::string_view path;
  std::string_view expected;
};

void checkCases(const RouteTable& table, std::initializer_list<MatchCase> cases) {
  for (const MatchCase& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.host);
    CAPTURE(c.path);
    CHECK(matchName(table, c.method, c.host, c.path) == c.expected);
  }
}

TEST_SUITE("auth/route_table") {
  TEST_CASE("exact, prefix and segment-aware prefix routes match as documented") {
    std::vector<RouteSpec> specs = {
        route("health", PathMatchKind::Exact, "/healthz"),
        route("api", PathMatchKind::Prefix, "/api"),
        route("raw", PathMatchKind::Prefix, "/raw"),
        route("admin", PathMatchKind::Prefix, "/admin/"),
    };
    specs[2].path.segment_aware = false;
    const RouteTable table = buildTable(specs);
    checkCases(table, {
                          {"GET", "", "/healthz", "health"},
                          {"GET", "", "/healthz/", "<none>"},
                          {"GET", "", "/healthzz", "<none>"},
                          {"GET", "", "/api", "api"},
                          {"GET", "", "/api/", "api"},
                          {"GET", "", "/api/x/y", "api"},
                          {"GET", "", "/apix", "<none>"},
                          {"GET", "", "/ap", "<none>"},
                          {"GET", "", "/raw", "raw"},
                          {"GET", "", "/rawx", "raw"},
                          {"GET", "", "/admin/", "admin"},
                          {"GET", "", "/admin/users", "admin"},
                          {"GET", "", "/admin", "<none>"},
                          {"GET", "", "/", "<none>"},
                      });
  }

  TEST_CASE("case-insensitive routes catch every capitalisation; others are exact") {
    std::vector<RouteSpec> specs = {
        route("admin", PathMatchKind::Prefix, "/admin"),
        route("login", PathMatchKind::Exact, "/Login"),
        route("files", PathMatchKind::Regex, "/files/[a-z]+\\.pdf"),
        route("strict", PathMatchKind::Prefix, "/strict"),
    };
    for (std::size_t i = 0; i < 3; ++i) {
      specs[i].path.ignore_case = true;
    }
    const RouteTable table = buildTable(specs);
    checkCases(table, {
                          {"GET", "", "/admin", "admin"},
                          {"GET", "", "/ADMIN/x", "admin"},
                          {"GET", "", "/aDmIn", "admin"},
                          {"GET", "", "/ADMINX", "<none>"},
                          {"GET", "", "/login", "login"},
                          {"GET", "", "/LOGIN", "login"},
                          {"GET", "", "/FILES/A.PDF", "files"},
                          {"GET", "", "/strict", "strict"},
                          {"GET", "", "/STRICT", "<none>"},
                      });
  }

  TEST_CASE("first matching route wins") {
    const RouteTable table = buildTable({
        openRoute("public-docs", PathMatchKind::Prefix, "/api/docs"),
        route("api", PathMatchKind::Prefix, "/api"),
        openRoute("catch-all", PathMatchKind::Prefix, "/"),
    });
    checkCases(table, {
                          {"GET", "", "/api/docs/index.html", "public-docs"},
                          {"GET", "", "/api/users", "api"},
                          {"GET", "", "/other", "catch-all"},
                      });
    const RouteMatch match = table.match("GET", "", "/api/docs");
    REQUIRE(match.route != nullptr);
    CHECK_FALSE(match.route->requirement.has_value());
    const RouteMatch api = table.match("GET", "", "/api/x");
    REQUIRE(api.route != nullptr);
    REQUIRE(api.route->requirement.has_value());
    CHECK(api.route->requirement->providers == std::vector<ProviderIndex>{0});
  }

  TEST_CASE("regex routes are anchored full matches") {
    const RouteTable table = buildTable({
        route("user", PathMatchKind::Regex, "/users/[0-9]+/profile"),
        route("files", PathMatchKind::Regex, "/files/.*\\.pdf"),
    });
    checkCases(table, {
                          {"GET", "", "/users/42/profile", "user"},
                          {"GET", "", "/users/42/profile/x", "<none>"},
                          {"GET", "", "/x/users/42/profile", "<none>"},
                          {"GET", "", "/users/abc/profile", "<none>"},
                          {"GET", "", "/files/a/b.pdf", "files"},
                          {"GET", "", "/files/a.pdfx", "<none>"},
                      });
  }

  TEST_CASE("a path too long for the regex engine is an error, not a fall-through") {
    const RouteTable table = buildTable({
        route("guarded", PathMatchKind::Regex, "/g/.*"),
        openRoute("open", PathMatchKind::Prefix, "/"),
    });
    const std::string long_path = "/g/" + std::string(RouteTable::kMaxRegexInput, 'a');
    CHECK(matchName(table, "GET", "", long_path) == "<error>");
    CHECK(matchName(table, "GET", "", "/g/short") == "guarded");
    CHECK(matchName(table, "GET", "", "/h/" + std::string(RouteTable::kMaxRegexInput, 'a')) ==
          "<error>");
  }

  TEST_CASE("a pathological regex on a long path finishes and neither recurses nor backtracks") {
    const RouteTable table = buildTable({
        route("nested", PathMatchKind::Regex, "/(a*)*b"),
        route("alternation", PathMatchKind::Regex, "/(a|b)*c"),
        route("segments", PathMatchKind::Regex, "/([a-z]+/?)*"),
    });
    const std::string path = "/" + std::string(RouteTable::kMaxRegexInput - 2, 'a');
    CHECK(matchName(table, "GET", "", path) == "segments");
    CHECK(matchName(table, "GET", "", path + "c") == "alternation");
    CHECK(matchName(table, "GET", "", path + "b") == "nested");
    CHECK(matchName(table, "GET", "", path + "-") == "<none>");
    CHECK(matchName(table, "GET", "", "/aab") == "nested");
    CHECK(matchName(table, "GET", "", "/abac") == "alternation");
  }

  TEST_CASE("a regex with a back-reference is refused at load") {
    const std::vector<RouteSpec> specs = {route("r", PathMatchKind::Regex, "/(a)\\1")};
    const auto table = RouteTable::build(specs, kProviders);
    REQUIRE_FALSE(table.ok());
    CHECK(table.error().find("regex") != std::string::npos);
  }

  TEST_CASE("methods restrict a route; names are case-sensitive, config is upper-cased") {
    std::vector<RouteSpec> specs = {
        route("write", PathMatchKind::Prefix, "/api"),
        openRoute("read", PathMatchKind::Prefix, "/api"),
    };
    specs[0].methods = {"post", "PUT", "DELETE"};
    const RouteTable table = buildTable(specs);
    checkCases(table, {
                          {"POST", "", "/api/x", "write"},
                          {"PUT", "", "/api/x", "write"},
                          {"DELETE", "", "/api/x", "write"},
                          {"GET", "", "/api/x", "read"},
                          {"post", "", "/api/x", "read"},
                          {"PATCH", "", "/api/x", "read"},
                      });
  }

  TEST_CASE("host rules compare case-insensitively and ignore the port unless given") {
    std::vector<RouteSpec> specs = {
        route("admin-8443", PathMatchKind::Prefix, "/"),
        route("admin", PathMatchKind::Prefix, "/"),
        route("v6", PathMatchKind::Prefix, "/"),
    };
    specs[0].host = "admin.example.com:8443";
    specs[1].host = "Admin.Example.com";
    specs[2].host = "[::1]";
    const RouteTable table = buildTable(specs);
    checkCases(table, {
                          {"GET", "admin.example.com:8443", "/", "admin-8443"},
                          {"GET", "ADMIN.EXAMPLE.COM:8443", "/", "admin-8443"},
                          {"GET", "admin.example.com", "/", "admin"},
                          {"GET", "admin.example.com:80", "/", "admin"},
                          {"GET", "admin.example.com.", "/", "admin"},
                          {"GET", "admin.example.com.evil", "/", "<none>"},
                          {"GET", "evil-admin.example.com", "/", "<none>"},
                          {"GET", "", "/", "<none>"},
                          {"GET", "[::1]:8080", "/", "v6"},
                          {"GET", "[::1]", "/", "v6"},
                          {"GET", "[::2]", "/", "<none>"},
                      });
  }

  TEST_CASE("a request no route covers matches nothing; the refusal status is a config choice") {
    const std::vector<RouteSpec> specs = {route("api", PathMatchKind::Prefix, "/api")};
    const auto not_found = RouteTable::build(specs, kProviders);
    REQUIRE(not_found.ok());
    CHECK(not_found->noRouteStatus() == NoRouteStatus::NotFound);
    CHECK(not_found->match("GET", "", "/other").route == nullptr);
    CHECK_FALSE(not_found->match("GET", "", "/other").error);
    const auto forbidden = RouteTable::build(specs, kProviders, NoRouteStatus::Forbidden);
    REQUIRE(forbidden.ok());
    CHECK(forbidden->noRouteStatus() == NoRouteStatus::Forbidden);
  }

  TEST_CASE("path tricks normalised first cannot slip past an admin rule") {
    const RouteTable table = buildTable({
        route("admin", PathMatchKind::Prefix, "/admin"),
        openRoute("public", PathMatchKind::Prefix, "/"),
    });
    std::string buffer;
    for (std::string_view target :
         {"/admin", "/public/../admin/x", "/%61dmin/", "/public/%2e%2e/admin/", "/./admin",
          "//admin", "/public/.%2E/admin?x", "/%61%64%6d%69%6e"}) {
      CAPTURE(target);
      const auto normal = normalizeTarget(target, buffer);
      REQUIRE(normal.ok());
      CHECK(matchName(table, "GET", "", normal->path) == "admin");
    }
  }

  TEST_CASE("requirements resolve provider names to indices and keep their options") {
    RouteSpec spec = route("both", PathMatchKind::Prefix, "/x");
    spec.provider_rule = ProviderRule::Any;
    spec.providers = {"legacy", "corp"};
    spec.grants.scopes_all = {"read", "write"};
    spec.grants.scopes_any = {"beta"};
    spec.claims.push_back({verifier::ClaimPath::parse("org.tenant").value(), std::string("a")});
    spec.allow_missing = true;
    spec.mode = AuthMode::Report;
    const RouteTable table = buildTable({spec});
    const RouteMatch match = table.match("GET", "", "/x");
    REQUIRE(match.route != nullptr);
    REQUIRE(match.route->requirement.has_value());
    const Requirement& requirement = *match.route->requirement;
    CHECK(requirement.provider_rule == ProviderRule::Any);
    CHECK(requirement.providers == std::vector<ProviderIndex>{2, 0});
    CHECK(requirement.grants.size() == 2);
    CHECK(requirement.challenge_scopes == std::vector<std::string>{"read", "write", "beta"});
    REQUIRE(requirement.claims.size() == 1);
    CHECK(requirement.claims[0].path.toString() == "org.tenant");
    CHECK(requirement.allow_missing);
    CHECK(requirement.mode == AuthMode::Report);
  }

  TEST_CASE("compiled grants decide scopes and roles the way the route says") {
    RouteSpec spec = route("grants", PathMatchKind::Prefix, "/x");
    spec.grants.scopes_all = {"read", "write"};
    spec.grants.scopes_any = {"a", "b"};
    spec.grants.roles_any = {"admin", "ops"};
    spec.grants.scope_claims = {"scp"};
    spec.grants.roles_claims = {"realm_access.roles"};
    const RouteTable table = buildTable({spec});
    const Requirement& requirement = *table.routes()[0].requirement;
    REQUIRE(requirement.grants.size() == 3);

    struct GrantCase {
      std::string_view payload;
      bool allowed;
    };
    const GrantCase cases[] = {
        {R"({"scp":"read write a","realm_access":{"roles":["ops"]}})", true},
        {R"({"scp":["write","read","b"],"realm_access":{"roles":["x","admin"]}})", true},
        {R"({"scp":"read write","realm_access":{"roles":["ops"]}})", false},
        {R"({"scp":"read a","realm_access":{"roles":["ops"]}})", false},
        {R"({"scp":"read write a","realm_access":{"roles":["user"]}})", false},
        {R"({"scope":"read write a","realm_access":{"roles":["ops"]}})", false},
        {R"({"scp":"read write a","roles":["ops"]})", false},
    };
    verifier::JsonReader reader;
    for (const GrantCase& c : cases) {
      CAPTURE(c.payload);
      std::string input(c.payload);
      input.append(verifier::jsonPadding(), ' ');
      std::vector<verifier::JsonNode> nodes;
      std::string arena;
      REQUIRE_FALSE(reader.read(input.data(), c.payload.size(), 8, nodes, arena).has_value());
      const verifier::JsonDocument document{
          nodes.data(),
          static_cast<std::uint32_t>(nodes.size()),
          {input.data(), static_cast<std::uint32_t>(c.payload.size()), arena.data()}};
      const verifier::ClaimsView claims(document);
      bool allowed = true;
      for (const verifier::ScopeRequirement& grant : requirement.grants) {
        allowed = allowed && verifier::checkScopes(claims, grant) == verifier::Status::Ok;
      }
      CHECK(allowed == c.allowed);
    }
  }

  TEST_CASE("invalid route configuration is refused with a message naming the route") {
    struct BadCase {
      std::string_view what;
      RouteSpec spec;
      std::string_view message_part;
    };
    std::vector<BadCase> cases;
    cases.push_back({"unknown provider", route("r", PathMatchKind::Prefix, "/a"), "unknown"});
    cases.back().spec.providers = {"nobody"};
    cases.push_back({"no provider", route("r", PathMatchKind::Prefix, "/a"), "no provider"});
    cases.back().spec.providers.clear();
    cases.push_back({"one rule with two", route("r", PathMatchKind::Prefix, "/a"), "exactly"});
    cases.back().spec.providers = {"corp", "legacy"};
    cases.push_back({"twice", route("r", PathMatchKind::Prefix, "/a"), "twice"});
    cases.back().spec.provider_rule = ProviderRule::All;
    cases.back().spec.providers = {"corp", "corp"};
    cases.push_back({"none with providers", route("r", PathMatchKind::Prefix, "/a"), "none"});
    cases.back().spec.auth_none = true;
    cases.push_back({"bad regex", route("r", PathMatchKind::Regex, "/a(["), "regex"});
    cases.push_back({"relative", route("r", PathMatchKind::Prefix, "api"), "normalised"});
    cases.push_back({"dots", route("r", PathMatchKind::Exact, "/a/../b"), "normalised"});
    cases.push_back({"escape", route("r", PathMatchKind::Prefix, "/%61"), "normalised"});
    cases.push_back({"query", route("r", PathMatchKind::Prefix, "/a?b"), "normalised"});
    cases.push_back({"method", route("r", PathMatchKind::Prefix, "/a"), "method"});
    cases.back().spec.methods = {"GE T"};
    cases.push_back({"scope", route("r", PathMatchKind::Prefix, "/a"), "scope"});
    cases.back().spec.grants.scopes_any = {"has\"quote"};
    cases.push_back({"role", route("r", PathMatchKind::Prefix, "/a"), "role"});
    cases.back().spec.grants.roles_all = {""};
    cases.push_back({"claim path", route("r", PathMatchKind::Prefix, "/a"), "claim path"});
    cases.back().spec.grants.scope_claims = {"a..b"};
    for (const BadCase& c : cases) {
      CAPTURE(c.what);
      const std::vector<RouteSpec> specs = {route("ok", PathMatchKind::Prefix, "/ok"), c.spec};
      const auto table = RouteTable::build(specs, kProviders);
      REQUIRE_FALSE(table.ok());
      CAPTURE(table.error());
      CHECK(table.error().find("route 1 (r)") == 0);
      CHECK(table.error().find(c.message_part) != std::string::npos);
    }
  }

  TEST_CASE("host headers split into name and port") {
    struct HostCase {
      std::string_view host;
      std::string_view name;
      std::string_view port;
    };
    const HostCase cases[] = {
        {"example.com", "example.com", ""},
        {"example.com:80", "example.com", "80"},
        {"[::1]:8080", "[::1]", "8080"},
        {"[::1]", "[::1]", ""},
        {"", "", ""},
        {"[::1", "[::1", ""},
    };
    for (const HostCase& c : cases) {
      CAPTURE(c.host);
      const HostParts parts = splitHost(c.host);
      CHECK(parts.name == c.name);
      CHECK(parts.port == c.port);
    }
  }
}

}  // namespace
}  // namespace jwtgate::auth

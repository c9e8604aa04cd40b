#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/auth_config_yaml.h"
#include "auth/local_file.h"
#include "support/test_signer.h"
#include "support/token_minter.h"

namespace jwtgate::auth {
namespace {

using testing::TempFile;
using testing::TestSigner;
using verifier::Algorithm;

const TestSigner& rsaSigner() { return TestSigner::shared(Algorithm::RS256); }

// A JWKS file with the shared RS256 key (kid k1), for every config of this suite.
const TempFile& jwksFile() {
  static const TempFile file(rsaSigner().jwks("k1"));
  return file;
}

// Replaces every "$JWKS" in `text` with the path of the test JWKS file.
std::string withKeys(std::string text) {
  for (std::size_t at = text.find("$JWKS"); at != std::string::npos; at = text.find("$JWKS")) {
    text.replace(at, 5, jwksFile().path());
  }
  return text;
}

Result<std::shared_ptr<const AuthConfig>, proxy::ConfigError> parse(const std::string& text) {
  return parseAuthSections(YAML::Load(withKeys(text)), "test.yaml");
}

std::shared_ptr<const AuthConfig> parseOk(const std::string& text) {
  auto config = parse(text);
  if (!config) {
    FAIL("config refused: " << config.error().toString());
  }
  return std::move(config).value();
}

// A new empty directory under TMPDIR (or /tmp); the caller removes it.
std::string temporaryDirectory() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/jwtgate-test-XXXXXX";
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

const std::string kMinimal =
    "providers:\n"
    "  corp:\n"
    "    keys: {file: $JWKS}\n"
    "routes:\n"
    "  - match: {prefix: /}\n"
    "    require: {provider: corp}\n";

TEST_SUITE("auth/auth_config") {
  TEST_CASE("a file without auth, providers or routes is refused: it would check nothing") {
    auto config = parseAuthSections(YAML::Load("listen: 127.0.0.1:0\n"), "test.yaml");
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().file == "test.yaml");
    CHECK(config.error().message.find("no routes: every request would be forwarded unchecked") !=
          std::string::npos);
    CHECK(config.error().message.find("`auth: off`") != std::string::npos);
  }

  TEST_CASE("auth: off, alone, asks for a plain reverse proxy") {
    for (const char* text : {"auth: off\n", "auth: \"off\"\n"}) {
      CAPTURE(text);
      auto config = parseAuthSections(YAML::Load(text), "test.yaml");
      REQUIRE(config.ok());
      CHECK(*config == nullptr);
    }
  }

  TEST_CASE("auth: off beside providers or routes, or another scalar for auth, is refused") {
    struct Row {
      std::string text;
      int line;
      std::string message;
    };
    const std::vector<Row> rows = {
        {"auth: off\n" + kMinimal, 3, "`auth: off` forwards every request unchecked"},
        {"auth: off\nroutes:\n  - match: {prefix: /}\n    auth: none\n", 3,
         "`auth: off` forwards every request unchecked"},
        {"auth: false\n", 1, "auth: expected a mapping of settings, or `off` (got 'false')"},
        {"auth: on\n" + kMinimal, 1, "auth: expected a mapping of settings, or `off`"},
        {"auth: OFF\n", 1, "auth: expected a mapping of settings, or `off`"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.text);
      auto config = parse(row.text);
      REQUIRE_FALSE(config.ok());
      CHECK(config.error().line == row.line);
      CHECK(config.error().message.find(row.message) != std::string::npos);
    }
  }

  TEST_CASE("every setting left out takes its documented default") {
    const auto config = parseOk(kMinimal);
    const AuthSettings& settings = config->settings;
    CHECK(settings.realm == "jwtgate");
    CHECK(settings.error_descriptions);
    CHECK(settings.mode == AuthMode::Enforce);
    CHECK(settings.no_route == NoRouteStatus::NotFound);
    CHECK(settings.cache.max_entries == 10000);
    CHECK(settings.cache.max_bytes == 16u * 1024 * 1024);
    CHECK(settings.cache.max_age_seconds == 300);
    CHECK(settings.identity_info_header.empty());
    CHECK(settings.report_header == "X-Jwtgate-Report");
    CHECK(settings.paths.merge_slashes);
    CHECK(settings.paths.refuse_path_parameters);

    REQUIRE(config->providers.size() == 1);
    const Provider& corp = *config->providers[0];
    CHECK(corp.name == "corp");
    CHECK_FALSE(corp.policy.issuer.has_value());
    CHECK(corp.policy.audiences.empty());
    CHECK(corp.policy.leeway_seconds == 60);
    CHECK(corp.policy.require_expiration);
    CHECK_FALSE(corp.policy.max_lifetime_seconds.has_value());
    CHECK_FALSE(corp.policy.required_type.has_value());
    CHECK(corp.policy.max_token_bytes == 8192);
    CHECK(corp.policy.max_json_depth == 16);
    CHECK(corp.policy.required_claims.empty());
    // Without `algorithms`, what the keys fit: an RSA key without "alg" fits RS* and PS*.
    CHECK(corp.policy.algorithms.contains(Algorithm::RS256));
    CHECK(corp.policy.algorithms.contains(Algorithm::PS512));
    CHECK_FALSE(corp.policy.algorithms.contains(Algorithm::ES256));
    CHECK_FALSE(corp.policy.algorithms.contains(Algorithm::HS256));
    REQUIRE(corp.token_from.size() == 1);
    CHECK(corp.token_from[0].location == TokenLocation::Header);
    CHECK(corp.token_from[0].name == "Authorization");
    CHECK(corp.token_from[0].scheme == "Bearer");
    CHECK(corp.claims_to_headers.empty());
    CHECK(corp.forward_payload_header.empty());
    CHECK(corp.keep_token);
    REQUIRE(corp.keys.load() != nullptr);
    CHECK(corp.keys.load()->size() == 1);

    const auto routes = config->routes.routes();
    REQUIRE(routes.size() == 1);
    CHECK(routes[0].name == "routes[0]");
    REQUIRE(routes[0].requirement.has_value());
    CHECK(routes[0].requirement->mode == AuthMode::Enforce);
    CHECK_FALSE(routes[0].requirement->allow_missing);
    CHECK(config->summary() == "1 provider, 1 route");
    // The report header is always reserved.
    CHECK(config->reserved_headers.isIdentityHeader("x_jwtgate_report"));
  }

  TEST_CASE("every key of every section is read") {
    const TempFile pem(TestSigner::shared(Algorithm::ES256).publicPem());
    const std::string text =
        "auth:\n"
        "  realm: orders-api\n"
        "  error_descriptions: false\n"
        "  mode: report\n"
        "  no_route: 403\n"
        "  cache: {max_entries: 50, max_bytes: 1MiB, max_age: 2m}\n"
        "  identity_info_header: X-Jwtgate-Route\n"
        "  report_header: X-Auth-Report\n"
        "  paths: {merge_slashes: false, refuse_path_parameters: false}\n"
        "providers:\n"
        "  corp:\n"
        "    issuer: https://id.example.com/\n"
        "    audiences: [api://orders, api://other]\n"
        "    keys:\n"
        "      - {file: $JWKS}\n"
        "      - {pem: " +
        pem.path() +
        ", kid: ec1, alg: ES256}\n"
        "    algorithms: [RS256, ES256]\n"
        "    leeway: 30s\n"
        "    max_lifetime: 24h\n"
        "    type: at+jwt\n"
        "    require_exp: false\n"
        "    max_token_bytes: 4KiB\n"
        "    max_json_depth: 8\n"
        "    required_claims: {tenant: acme, \"realm_access.roles\": admin, level: 3,\n"
        "                      ratio: 1.5, active: true, code: '42', present: ~, any: [a, b]}\n"
        "    token_from:\n"
        "      - {header: Authorization, scheme: Bearer}\n"
        "      - {cookie: access_token}\n"
        "      - {query: access_token}\n"
        "      - {header: X-Api-Token, prefix: \"Token \"}\n"
        "      - {header: X-Raw-Token}\n"
        "    claims_to_headers: {X-User-Id: sub, X-Tenant: org.tenant}\n"
        "    forward_payload_header: X-Jwt-Payload\n"
        "    keep_token: false\n"
        "  partner:\n"
        "    keys: {inline: {keys: [" +
        rsaSigner().publicJwk("p1") +
        "]}}\n"
        "routes:\n"
        "  - name: health\n"
        "    match: {path: /healthz}\n"
        "    auth: none\n"
        "  - match: {prefix: /admin/, methods: [POST, DELETE], ignore_case: true}\n"
        "    require: {provider: corp, scopes_all: [orders:admin], scopes_any: [a, b],\n"
        "              roles_all: [r1], roles_any: [r2], scope_claims: [scp],\n"
        "              roles_claims: [\"realm_access.roles\"]}\n"
        "    mode: enforce\n"
        "  - match: {regex: '^/v[0-9]+/orders$', host: api.example.com}\n"
        "    require: {all: [corp, partner], claims: {tenant: acme}, allow_missing: true}\n";
    const auto config = parseOk(text);
    const AuthSettings& settings = config->settings;
    CHECK(settings.realm == "orders-api");
    CHECK_FALSE(settings.error_descriptions);
    CHECK(settings.mode == AuthMode::Report);
    CHECK(settings.no_route == NoRouteStatus::Forbidden);
    CHECK(settings.cache.max_entries == 50);
    CHECK(settings.cache.max_bytes == 1024 * 1024);
    CHECK(settings.cache.max_age_seconds == 120);
    CHECK(settings.identity_info_header == "X-Jwtgate-Route");
    CHECK(settings.report_header == "X-Auth-Report");
    CHECK_FALSE(settings.paths.merge_slashes);
    CHECK_FALSE(settings.paths.refuse_path_parameters);

    REQUIRE(config->providers.size() == 2);
    const Provider& corp = *config->providers[0];
    CHECK(corp.policy.issuer == "https://id.example.com/");
    CHECK(corp.policy.audiences == std::vector<std::string>{"api://orders", "api://other"});
    CHECK(corp.keys.load()->size() == 2);
    CHECK(corp.key_sources.size() == 2);
    CHECK(corp.policy.algorithms.contains(Algorithm::RS256));
    CHECK(corp.policy.algorithms.contains(Algorithm::ES256));
    CHECK_FALSE(corp.policy.algorithms.contains(Algorithm::PS256));
    CHECK(corp.policy.leeway_seconds == 30);
    CHECK(corp.policy.max_lifetime_seconds == 86400);
    CHECK(corp.policy.required_type == "at+jwt");
    CHECK_FALSE(corp.policy.require_expiration);
    CHECK(corp.policy.max_token_bytes == 4096);
    CHECK(corp.policy.max_json_depth == 8);

    // Typed expectations: quoted text stays a string, ~ asks for presence only, a list
    // asks for every value.
    const auto& claims = corp.policy.required_claims;
    REQUIRE(claims.size() == 9);
    CHECK(claims[0].path.toString() == "tenant");
    CHECK(std::get<std::string>(claims[0].expected) == "acme");
    CHECK(claims[1].path.segments() == std::vector<std::string>{"realm_access", "roles"});
    CHECK(std::get<std::int64_t>(claims[2].expected) == 3);
    CHECK(std::get<double>(claims[3].expected) == doctest::Approx(1.5));
    CHECK(std::get<bool>(claims[4].expected));
    CHECK(std::get<std::string>(claims[5].expected) == "42");
    CHECK(std::holds_alternative<std::monostate>(claims[6].expected));
    CHECK(std::get<std::string>(claims[7].expected) == "a");
    CHECK(std::get<std::string>(claims[8].expected) == "b");

    REQUIRE(corp.token_from.size() == 5);
    CHECK(corp.token_from[1].location == TokenLocation::Cookie);
    CHECK(corp.token_from[1].name == "access_token");
    CHECK(corp.token_from[2].location == TokenLocation::Query);
    CHECK(corp.token_from[3].prefix == "Token ");
    CHECK(corp.token_from[3].scheme.empty());
    CHECK(corp.token_from[4].scheme.empty());
    CHECK(corp.token_from[4].prefix.empty());
    REQUIRE(corp.claims_to_headers.size() == 2);
    CHECK(corp.claims_to_headers[1].name == "X-Tenant");
    CHECK(corp.claims_to_headers[1].claim.segments() == std::vector<std::string>{"org", "tenant"});
    CHECK(corp.forward_payload_header == "X-Jwt-Payload");
    CHECK_FALSE(corp.keep_token);
    CHECK(config->providers[1]->keys.load()->size() == 1);

    const auto routes = config->routes.routes();
    REQUIRE(routes.size() == 3);
    CHECK(routes[0].name == "health");
    CHECK_FALSE(routes[0].requirement.has_value());
    CHECK(routes[1].ignore_case);
    CHECK(routes[1].methods == std::vector<std::string>{"POST", "DELETE"});
    REQUIRE(routes[1].requirement.has_value());
    CHECK(routes[1].requirement->mode == AuthMode::Enforce);
    CHECK(routes[1].requirement->grants.size() == 4);
    CHECK(routes[1].requirement->challenge_scopes ==
          std::vector<std::string>{"orders:admin", "a", "b"});
    REQUIRE(routes[2].requirement.has_value());
    CHECK(routes[2].requirement->provider_rule == ProviderRule::All);
    CHECK(routes[2].requirement->mode == AuthMode::Report);  // The global default.
    CHECK(routes[2].requirement->allow_missing);
    CHECK(routes[2].requirement->claims.size() == 1);
    CHECK(routes[2].host == "api.example.com");

    for (std::string_view name :
         {"X-User-Id", "x_tenant", "X-JWT-PAYLOAD", "x-jwtgate-route", "X-Auth-Report"}) {
      CAPTURE(name);
      CHECK(config->reserved_headers.isIdentityHeader(name));
    }
    CHECK_FALSE(config->reserved_headers.isIdentityHeader("X-Jwtgate-Report"));
  }

  TEST_CASE("a cache of 0 entries is accepted: it turns the cache off") {
    const auto config = parseOk("auth: {cache: {max_entries: 0}}\n" + kMinimal);
    CHECK(config->settings.cache.max_entries == 0);
  }

  TEST_CASE("every configuration error names its line") {
    const TempFile weak(TestSigner::generate(Algorithm::RS256, 1024).jwks("weak"));
    const TempFile encryption_only(R"({"keys":[{"kty":"RSA","use":"enc","kid":"e","n":")" +
                                   std::string(342, 'A') + R"(","e":"AQAB"}]})");
    struct Case {
      std::string_view what;
      std::string text;          // "<<" marks the line the error must name.
      std::string_view message;  // A part of the message.
    };
    const std::string provider = "providers:\n  corp:\n    keys: {file: $JWKS}\n";
    const std::string routes = "routes:\n  - match: {prefix: /}\n    require: {provider: corp}\n";
    const Case cases[] = {
        {"unknown key in auth", "auth:\n  realms: x  #<<\n" + provider + routes, "unknown key"},
        {"unknown key in a provider",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    isuer: x  #<<\n" + routes,
         "unknown key 'isuer'"},
        {"unknown key in a route",
         provider + "routes:\n  - match: {prefix: /}\n    require: {provider: corp}\n"
                    "    auht: none  #<<\n",
         "unknown key 'auht'"},
        {"unknown key in match",
         provider + "routes:\n  - match: {prefx: /}  #<<\n    require: {provider: corp}\n",
         "unknown key 'prefx'"},
        {"unknown key in require",
         provider +
             "routes:\n  - match: {prefix: /}\n    require: {provider: corp, scope: x}  #<<\n",
         "unknown key 'scope'"},
        {"a duration without unit",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    leeway: 60  #<<\n" + routes, "leeway"},
        {"a duration in milliseconds",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    leeway: 1500ms  #<<\n" + routes,
         "whole seconds"},
        {"a leeway beyond an hour",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    leeway: 2h  #<<\n" + routes,
         "must be from"},
        {"an unknown algorithm",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    algorithms:\n      - RS256\n"
         "      - RS999  #<<\n" +
             routes,
         "unknown algorithm 'RS999'"},
        {"the none algorithm",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    algorithms: [none]  #<<\n" + routes,
         "never accepted"},
        {"a provider used but not defined",
         provider + "routes:\n  - match: {prefix: /}\n    require:\n      any:\n        - corp\n"
                    "        - partner  #<<\n",
         "provider 'partner' is not defined"},
        {"a weak key", "providers:\n  corp:\n    keys: {file: " + weak.path() + "}  #<<\n" + routes,
         "2048"},
        {"an unreadable key file",
         "providers:\n  corp:\n    keys: {file: /nonexistent/jwks.json}  #<<\n" + routes,
         "cannot read key file"},
        {"keys without a usable key",
         "providers:\n  corp:\n    keys: {file: " + encryption_only.path() + "}  #<<\n" + routes,
         "no usable verification key"},
        {"a provider without keys", "providers:\n  corp:\n    issuer: x  #<<\n" + routes,
         "'keys' is required"},
        {"a key source with two kinds",
         "providers:\n  corp:\n    keys: {file: $JWKS, jwks: '{}'}  #<<\n" + routes,
         "exactly one of"},
        {"a route without match", provider + "routes:\n  - require: {provider: corp}  #<<\n",
         "'match' is required"},
        {"a route with auth none and require",
         provider + "routes:\n  - match: {prefix: /}\n    auth: none  #<<\n"
                    "    require: {provider: corp}\n",
         "not both"},
        {"a route with neither", provider + "routes:\n  - match: {prefix: /}  #<<\n",
         "needs 'require'"},
        {"auth other than none", provider + "routes:\n  - match: {prefix: /}\n    auth: jwt  #<<\n",
         "only value"},
        {"a bad regex",
         provider + "routes:\n  - match: {regex: '^/v[0-9+$'}  #<<\n"
                    "    require: {provider: corp}\n",
         "invalid path regex"},
        {"a prefix that is not a normalised path",
         provider + "routes:\n  - match: {prefix: /a/../b}  #<<\n    require: {provider: corp}\n",
         "not a normalised"},
        {"a claim path syntax error in claims_to_headers",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n"
         "    claims_to_headers: {X-A: 'a..b'}  #<<\n" +
             routes,
         "invalid claim path"},
        {"a claim path syntax error in required_claims",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n"
         "    required_claims: {'[\"x': 1}  #<<\n" +
             routes,
         "invalid claim path"},
        {"a claim path syntax error in a route",
         provider + "routes:\n  - match: {prefix: /}\n"
                    "    require: {provider: corp, claims: {'a.': x}}  #<<\n",
         "invalid claim path"},
        {"a claim path syntax error in roles_claims",
         provider + "routes:\n  - match: {prefix: /}\n"
                    "    require: {provider: corp, roles_claims: ['.r']}  #<<\n",
         "invalid claim path"},
        {"a bad mode", "auth:\n  mode: audit  #<<\n" + provider + routes, "enforce or report"},
        {"a bad no_route status", "auth:\n  no_route: 500  #<<\n" + provider + routes,
         "404 or 403"},
        {"a bad boolean",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    keep_token: yes  #<<\n" + routes,
         "true or false"},
        {"a token location with scheme and prefix",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    token_from:\n"
         "      - {header: X-T, scheme: Bearer, prefix: 'T '}  #<<\n" +
             routes,
         "not both"},
        {"a token location of two kinds",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    token_from:\n"
         "      - {header: X-T, cookie: t}  #<<\n" +
             routes,
         "exactly one of"},
        {"a token location listed twice",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    token_from:\n"
         "      - {cookie: t}\n      - {cookie: t}  #<<\n" +
             routes,
         "listed twice"},
        {"an identity header the proxy owns",
         "providers:\n  corp:  #<<\n    keys: {file: $JWKS}\n"
         "    claims_to_headers: {Host: sub}\n" +
             routes,
         "managed by the proxy"},
        {"an identity header set twice in another spelling",
         "providers:\n  corp:  #<<\n    keys: {file: $JWKS}\n"
         "    claims_to_headers: {X-User: sub, x_user: email}\n" +
             routes,
         "set twice"},
        {"a token location that is an identity header",
         "providers:\n  corp:  #<<\n    keys: {file: $JWKS}\n"
         "    token_from: [{header: X-Token}]\n  other:\n    keys: {file: $JWKS}\n"
         "    claims_to_headers: {X-Token: sub}\n" +
             routes,
         "also a header jwtgate sets"},
        {"providers combined with all that set the same header",
         "providers:\n  a:\n    keys: {file: $JWKS}\n    claims_to_headers: {X-User: sub}\n"
         "  b:\n    keys: {file: $JWKS}\n    claims_to_headers: {X-User: sub}\n"
         "routes:\n  - match: {prefix: /}  #<<\n    require: {all: [a, b]}\n",
         "both set header"},
        {"a provider listed twice in a route",
         provider + "routes:\n  - match: {prefix: /}\n    require: {any: [corp, corp]}  #<<\n",
         "listed twice"},
        {"a route name used twice",
         provider + "routes:\n  - name: r\n    match: {prefix: /a}\n    require: {provider: corp}\n"
                    "  - name: r  #<<\n    match: {prefix: /b}\n    require: {provider: corp}\n",
         "used twice"},
        {"an empty route list", provider + "routes: []  #<<\n", "non-empty list"},
        {"a max_token_bytes out of range",
         "providers:\n  corp:\n    keys: {file: $JWKS}\n    max_token_bytes: 10  #<<\n" + routes,
         "must be from"},
        {"a cache age of zero", "auth:\n  cache: {max_age: 0}  #<<\n" + provider + routes,
         "must be from"},
        {"a realm with a quote", "auth:\n  realm: 'a\"b'  #<<\n" + provider + routes, "realm"},
        {"mode on an open route",
         provider + "routes:\n  - match: {prefix: /}\n    auth: none\n    mode: report  #<<\n",
         "does not apply"},
        {"pem options on a JWKS source",
         "providers:\n  corp:\n    keys: {file: $JWKS, kid: k}  #<<\n" + routes, "pem keys only"},
        {"a scope that cannot go into a challenge",
         provider + "routes:\n  - match: {prefix: /}\n"
                    "    require: {provider: corp, scopes_all: ['a\"b']}  #<<\n",
         "invalid scope"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.what);
      const std::string text = withKeys(c.text);
      int expected_line = 0;
      std::size_t at = 0;
      for (int line = 1; at < text.size(); ++line) {
        const std::size_t end = text.find('\n', at);
        if (text.substr(at, end - at).find("#<<") != std::string::npos) {
          expected_line = line;
        }
        at = end == std::string::npos ? text.size() : end + 1;
      }
      REQUIRE(expected_line > 0);
      auto config = parse(c.text);
      REQUIRE_FALSE(config.ok());
      CAPTURE(config.error().toString());
      CHECK(config.error().file == "test.yaml");
      CHECK(config.error().line == expected_line);
      CHECK(config.error().message.find(c.message) != std::string::npos);
    }
  }

  TEST_CASE("providers without routes are refused") {
    auto config = parse("providers:\n  corp:\n    keys: {file: $JWKS}\n");
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().message.find("'routes'") != std::string::npos);
  }

  TEST_CASE("a key file that is not a regular file is refused without reading it") {
    const std::string dir = temporaryDirectory();
    const std::string fifo = dir + "/keys.fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    struct Row {
      std::string path;
      std::string what;
    };
    // A FIFO with no writer would block a plain open() forever; /dev/zero and /dev/urandom
    // would be read without end.
    const std::vector<Row> rows = {
        {"/dev/zero", "a device"},
        {"/dev/urandom", "a device"},
        {fifo, "a FIFO"},
        {dir, "a directory"},
    };
    for (const Row& row : rows) {
      for (const char* kind : {"file", "pem"}) {
        CAPTURE(row.path);
        CAPTURE(kind);
        auto config =
            parse(std::string("providers:\n  corp:\n    keys: {") + kind + ": " + row.path +
                  "}\nroutes:\n  - match: {prefix: /}\n"
                  "    require: {provider: corp}\n");
        REQUIRE_FALSE(config.ok());
        CHECK(config.error().line == 3);
        CHECK(config.error().message ==
              "cannot read key file '" + row.path + "': not a regular file (" + row.what + ")");
      }
    }
    ::unlink(fifo.c_str());
    ::rmdir(dir.c_str());
  }

  TEST_CASE("a key file of up to 1 MiB is read; a larger one is refused") {
    const std::string jwks = rsaSigner().jwks("k1");
    const std::string padding(kMaxKeyFileBytes - jwks.size(), ' ');
    const TempFile at_cap(jwks + padding);
    const TempFile over_cap(jwks + padding + " ");
    const auto configWith = [](const std::string& path) {
      return "providers:\n  corp:\n    keys: {file: " + path +
             "}\nroutes:\n  - match: {prefix: /}\n    require: {provider: corp}\n";
    };

    auto accepted = parse(configWith(at_cap.path()));
    REQUIRE_MESSAGE(accepted.ok(), (accepted.ok() ? "" : accepted.error().toString()));
    CHECK((*accepted)->providers[0]->keys.load()->size() == 1);

    auto refused = parse(configWith(over_cap.path()));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message == "cannot read key file '" + over_cap.path() +
                                         "': 1048577 bytes, larger than the 1 MiB limit");
  }

  TEST_CASE("a missing key file is refused with the system's reason") {
    auto config = parse(
        "providers:\n  corp:\n    keys: {pem: /nonexistent/key.pem}\n"
        "routes:\n  - match: {prefix: /}\n    require: {provider: corp}\n");
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().message ==
          "cannot read key file '/nonexistent/key.pem': No such file or directory");
  }

  TEST_CASE("relative key paths are read from the configuration file's directory") {
    const std::string dir = jwksFile().path().substr(0, jwksFile().path().rfind('/') + 1);
    const std::string name = jwksFile().path().substr(dir.size());
    const std::string text = "providers:\n  corp:\n    keys: {file: " + name + "}\n" +
                             "routes:\n  - match: {prefix: /}\n    require: {provider: corp}\n";
    auto config = parseAuthSections(YAML::Load(text), dir + "jwtgate.yaml");
    REQUIRE(config.ok());
    CHECK((*config)->providers[0]->key_sources[0] == "file " + jwksFile().path());
  }
}

}  // namespace
}  // namespace jwtgate::auth

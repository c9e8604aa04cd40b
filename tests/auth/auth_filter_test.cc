#include "auth/auth_filter.h"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/auth_config_yaml.h"
#include "proxy/http_headers.h"
#include "support/test_signer.h"
#include "support/token_minter.h"

namespace jwtgate::auth {
namespace {

using proxy::FilterVerdict;
using testing::base64UrlEncode;
using testing::kTestNow;
using testing::TempFile;
using testing::TestSigner;
using verifier::Algorithm;

// A request as the proxy would hand it over, recording the filter's edits with the
// proxy's own rules (valid names and values, framing fields untouchable).
class FakeRequest final : public FilterRequest {
 public:
  explicit FakeRequest(std::string target, std::string method = "GET")
      : method_(std::move(method)), target_(std::move(target)) {
    add("Host", "api.test");
  }

  FakeRequest& add(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    removed_.push_back(false);
    return *this;
  }
  FakeRequest& bearer(const std::string& token) { return add("Authorization", "Bearer " + token); }

  std::string_view method() const override { return method_; }
  std::string_view target() const override { return new_target_ ? *new_target_ : target_; }
  std::size_t headerCount() const override { return headers_.size(); }
  proxy::HeaderField header(std::size_t i) const override {
    return {headers_[i].first, headers_[i].second};
  }
  bool isRemoved(std::size_t i) const override { return removed_[i]; }
  bool removeHeader(std::size_t i) override {
    if (proxy::classifyHeader(headers_[i].first) != proxy::HeaderKind::Other) {
      return false;
    }
    removed_[i] = true;
    return true;
  }
  bool addHeader(std::string_view name, std::string_view value) override {
    if (!proxy::isValidFieldName(name) || !proxy::isValidFieldValue(value)) {
      return false;
    }
    added_.emplace_back(name, value);
    return true;
  }
  bool setTarget(std::string_view target) override {
    if (!proxy::isValidOriginTarget(target)) {
      return false;
    }
    new_target_ = std::string(target);
    return true;
  }
  proxy::LocalReply& respond(int status) override {
    reply_.clear();
    reply_.status = status;
    return reply_;
  }

  // What the upstream would receive: kept fields, then added ones.
  std::vector<std::pair<std::string, std::string>> forwarded() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (std::size_t i = 0; i < headers_.size(); ++i) {
      if (!removed_[i]) {
        out.push_back(headers_[i]);
      }
    }
    out.insert(out.end(), added_.begin(), added_.end());
    return out;
  }
  // The forwarded value of `name` (exact spelling), or nullopt.
  std::optional<std::string> forwardedHeader(std::string_view name) const {
    for (const auto& [key, value] : forwarded()) {
      if (key == name) {
        return value;
      }
    }
    return std::nullopt;
  }
  std::string forwardedTarget() const { return std::string(target()); }
  const proxy::LocalReply& reply() const { return reply_; }
  std::string replyHeader(std::string_view name) const {
    for (const auto& [key, value] : reply_.headers) {
      if (key == name) {
        return value;
      }
    }
    return {};
  }

 private:
  std::string method_;
  std::string target_;
  std::optional<std::string> new_target_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::vector<bool> removed_;
  std::vector<std::pair<std::string, std::string>> added_;
  proxy::LocalReply reply_;
};

const TestSigner& corpKey() { return TestSigner::shared(Algorithm::RS256); }
const TestSigner& partnerKey() { return TestSigner::shared(Algorithm::ES256); }

const TempFile& corpJwks() {
  static const TempFile file(corpKey().jwks("corp-1"));
  return file;
}
const TempFile& partnerJwks() {
  static const TempFile file(partnerKey().jwks("partner-1"));
  return file;
}

// The configuration the cases share; `extra_auth` goes into the auth section, `corp_extra`
// into provider corp.
std::string configText(const std::string& extra_auth = "", const std::string& corp_extra = "") {
  return "auth:\n"
         "  identity_info_header: X-Jwtgate-Route\n" +
         extra_auth +
         "providers:\n"
         "  corp:\n"
         "    issuer: https://id.example.com/\n"
         "    audiences: [api://orders]\n"
         "    keys: {file: " +
         corpJwks().path() +
         "}\n"
         "    leeway: 0s\n"
         "    claims_to_headers: {X-User-Id: sub, X-User-Email: email, X-Tenant: org.tenant}\n" +
         corp_extra +
         "  partner:\n"
         "    issuer: https://partner.example.com/\n"
         "    keys: {file: " +
         partnerJwks().path() +
         "}\n"
         "    token_from: [{header: X-Partner-Token}]\n"
         "    claims_to_headers: {X-Partner-Id: sub}\n"
         "routes:\n"
         "  - name: health\n"
         "    match: {path: /healthz}\n"
         "    auth: none\n"
         "  - name: admin\n"
         "    match: {prefix: /admin/}\n"
         "    require: {provider: corp, scopes_all: [orders:admin]}\n"
         "  - name: public\n"
         "    match: {prefix: /public/}\n"
         "    require: {any: [corp], allow_missing: true}\n"
         "  - name: tenant\n"
         "    match: {prefix: /tenant/}\n"
         "    require: {provider: corp, roles_any: [buyer], claims: {org.tenant: acme}}\n"
         "  - name: audit\n"
         "    match: {prefix: /audit/}\n"
         "    require: {provider: corp, scopes_all: [audit]}\n"
         "    mode: report\n"
         "  - name: both\n"
         "    match: {prefix: /both/}\n"
         "    require: {all: [corp, partner]}\n"
         "  - name: both-checked\n"
         "    match: {prefix: /both-checked/}\n"
         "    require: {all: [corp, partner], roles_any: [buyer]}\n"
         "  - name: either\n"
         "    match: {prefix: /either/}\n"
         "    require: {any: [corp, partner]}\n";
}

std::shared_ptr<const AuthConfig> loadConfig(const std::string& text) {
  auto config = parseAuthSections(YAML::Load(text), "test.yaml");
  if (!config) {
    FAIL("config refused: " << config.error().toString());
  }
  return std::move(config).value();
}

// A filter on a controllable clock.
struct Fixture {
  explicit Fixture(const std::string& text = configText())
      : config(loadConfig(text)), filter(config, [this] { return now; }) {}

  FilterVerdict run(FakeRequest& request) { return filter.decide(request); }

  std::int64_t now = kTestNow;
  std::shared_ptr<const AuthConfig> config;
  AuthFilter filter;
};

std::string corpPayload(const std::string& extra = "", std::int64_t exp = kTestNow + 600) {
  return R"({"iss":"https://id.example.com/","aud":"api://orders","sub":"alice",)"
         R"("email":"alice@example.com","iat":)" +
         std::to_string(kTestNow - 10) + R"(,"exp":)" + std::to_string(exp) + extra + "}";
}

std::string corpToken(const std::string& extra = "", std::int64_t exp = kTestNow + 600) {
  return corpKey().mintJwt(corpPayload(extra, exp), "corp-1");
}

std::string partnerToken(const std::string& sub = "svc-7") {
  return partnerKey().mintJwt(R"({"iss":"https://partner.example.com/","sub":")" + sub +
                                  R"(","exp":)" + std::to_string(kTestNow + 600) + "}",
                              "partner-1");
}

TEST_SUITE("auth/auth_filter") {
  TEST_CASE("an open route passes and loses every spoofed identity header") {
    Fixture fixture;
    FakeRequest request("/healthz");
    for (const char* name : {"X-User-Id", "x-user-id", "X_User_Id", "X-USER-ID", "x_tenant",
                             "X-Partner-Id", "X-Jwtgate-Route", "X-Jwtgate-Report"}) {
      request.add(name, "spoofed");
    }
    request.add("X-Other", "kept");
    REQUIRE(fixture.run(request) == FilterVerdict::Pass);
    for (const auto& [name, value] : request.forwarded()) {
      CAPTURE(name);
      CHECK(value != "spoofed");
    }
    CHECK(request.forwardedHeader("X-Other") == "kept");
    CHECK(request.forwardedHeader("X-Jwtgate-Route") == "health");
  }

  TEST_CASE("a request without a token gets a bare challenge") {
    Fixture fixture;
    FakeRequest request("/admin/x");
    REQUIRE(fixture.run(request) == FilterVerdict::Respond);
    CHECK(request.reply().status == 401);
    CHECK(request.replyHeader("WWW-Authenticate") == "Bearer realm=\"jwtgate\"");
    CHECK(request.reply().body == R"({"error":"missing_token"})");
    CHECK(fixture.filter.stats().refused == 1);
  }

  TEST_CASE("a valid token passes with its identity headers and is then served from the cache") {
    Fixture fixture;
    const std::string token = corpToken(R"(,"scope":"orders:admin read","org":{"tenant":"acme"})");
    for (int round = 0; round < 3; ++round) {
      CAPTURE(round);
      FakeRequest request("/admin/orders?id=7");
      request.bearer(token).add("X-User-Id", "mallory");
      REQUIRE(fixture.run(request) == FilterVerdict::Pass);
      CHECK(request.forwardedHeader("X-User-Id") == "alice");
      CHECK(request.forwardedHeader("X-User-Email") == "alice@example.com");
      CHECK(request.forwardedHeader("X-Tenant") == "acme");
      CHECK(request.forwardedHeader("X-Jwtgate-Route") == "admin; provider=corp");
      CHECK(request.forwardedHeader("Authorization") == "Bearer " + token);
      CHECK(request.forwardedTarget() == "/admin/orders?id=7");
    }
    CHECK(fixture.filter.stats().verifications == 1);
    CHECK(fixture.filter.stats().cache_hits == 2);
    CHECK(fixture.filter.cachedTokens() == 1);
  }

  TEST_CASE("a missing claim sets no header") {
    Fixture fixture;
    FakeRequest request("/admin/x");
    request.bearer(corpToken(R"(,"scope":"orders:admin")"));
    REQUIRE(fixture.run(request) == FilterVerdict::Pass);
    CHECK_FALSE(request.forwardedHeader("X-Tenant").has_value());
    CHECK(request.forwardedHeader("X-User-Id") == "alice");
  }

  TEST_CASE("a cached token that expires is refused afterwards") {
    Fixture fixture;
    const std::string token = corpToken(R"(,"scope":"orders:admin")", kTestNow + 5);
    FakeRequest first("/admin/x");
    first.bearer(token);
    REQUIRE(fixture.run(first) == FilterVerdict::Pass);
    fixture.now = kTestNow + 4;
    FakeRequest second("/admin/x");
    second.bearer(token);
    REQUIRE(fixture.run(second) == FilterVerdict::Pass);
    CHECK(fixture.filter.stats().cache_hits == 1);

    fixture.now = kTestNow + 5;
    FakeRequest third("/admin/x");
    third.bearer(token);
    REQUIRE(fixture.run(third) == FilterVerdict::Respond);
    CHECK(third.reply().status == 401);
    CHECK(third.replyHeader("WWW-Authenticate").find("error=\"invalid_token\"") !=
          std::string::npos);
    CHECK(third.reply().body.find("expired") != std::string::npos);
  }

  TEST_CASE("cache entries never outlive max_age, even for a long-lived token") {
    Fixture fixture(configText("  cache: {max_age: 10s}\n"));
    const std::string token = corpToken(R"(,"scope":"orders:admin")");
    for (std::int64_t offset : {0, 5, 10, 11}) {
      fixture.now = kTestNow + offset;
      FakeRequest request("/admin/x");
      request.bearer(token);
      REQUIRE(fixture.run(request) == FilterVerdict::Pass);
    }
    // 0: verified; 5: hit; 10: entry aged out, verified again; 11: hit.
    CHECK(fixture.filter.stats().verifications == 2);
    CHECK(fixture.filter.stats().cache_hits == 2);
  }

  TEST_CASE("new keys drop the provider's cached tokens") {
    Fixture fixture;
    const std::string token = corpToken(R"(,"scope":"orders:admin")");
    FakeRequest first("/admin/x");
    first.bearer(token);
    REQUIRE(fixture.run(first) == FilterVerdict::Pass);

    // The key the token was signed with disappears.
    auto other = verifier::KeySet::fromJwks(TestSigner::generate(Algorithm::RS256).jwks("new"));
    REQUIRE(other.ok());
    fixture.config->providers[0]->keys.publish(
        std::make_shared<const verifier::KeySet>(std::move(other).value()));
    FakeRequest second("/admin/x");
    second.bearer(token);
    REQUIRE(fixture.run(second) == FilterVerdict::Respond);
    CHECK(second.reply().status == 401);
    CHECK(fixture.filter.stats().cache_hits == 0);
  }

  TEST_CASE("a provider without keys answers 503") {
    Fixture fixture;
    fixture.config->providers[0]->keys.publish(nullptr);
    FakeRequest request("/admin/x");
    request.bearer(corpToken(R"(,"scope":"orders:admin")"));
    REQUIRE(fixture.run(request) == FilterVerdict::Respond);
    CHECK(request.reply().status == 503);
  }

  TEST_CASE("missing scopes are 403 insufficient_scope naming the scopes") {
    Fixture fixture;
    FakeRequest request("/admin/x");
    request.bearer(corpToken(R"(,"scope":"read")"));
    REQUIRE(fixture.run(request) == FilterVerdict::Respond);
    CHECK(request.reply().status == 403);
    const std::string challenge = request.replyHeader("WWW-Authenticate");
    CHECK(challenge.find("error=\"insufficient_scope\"") != std::string::npos);
    CHECK(challenge.find("scope=\"orders:admin\"") != std::string::npos);
  }

  TEST_CASE("route checks run on every request, also on a cached token") {
    Fixture fixture;
    const std::string token =
        corpToken(R"(,"scope":"read","roles":["buyer"],"org":{"tenant":"acme"})");
    FakeRequest tenant("/tenant/x");
    tenant.bearer(token);
    REQUIRE(fixture.run(tenant) == FilterVerdict::Pass);
    FakeRequest admin("/admin/x");
    admin.bearer(token);
    REQUIRE(fixture.run(admin) == FilterVerdict::Respond);
    CHECK(admin.reply().status == 403);
    CHECK(fixture.filter.stats().cache_hits == 1);
  }

  TEST_CASE("a route claim or role that does not hold is 403") {
    Fixture fixture;
    struct Row {
      const char* what;
      std::string extra;
      int status;
    };
    const Row rows[] = {
        {"tenant and role", R"(,"roles":["buyer"],"org":{"tenant":"acme"})", 0},
        {"other tenant", R"(,"roles":["buyer"],"org":{"tenant":"evil"})", 403},
        {"no tenant", R"(,"roles":["buyer"])", 403},
        {"no role", R"(,"roles":["seller"],"org":{"tenant":"acme"})", 403},
    };
    for (const Row& row : rows) {
      CAPTURE(row.what);
      FakeRequest request("/tenant/x");
      request.bearer(corpToken(row.extra));
      const FilterVerdict verdict = fixture.run(request);
      if (row.status == 0) {
        CHECK(verdict == FilterVerdict::Pass);
      } else {
        REQUIRE(verdict == FilterVerdict::Respond);
        CHECK(request.reply().status == row.status);
      }
    }
  }

  TEST_CASE("a claim with control characters refuses the request") {
    Fixture fixture;
    for (const char* email : {R"(a@x\r\nX-Evil: 1)", R"(a\u0000b)", R"(a\u001b[31m)",
                              R"(tab\there)", R"( leading)", R"(trailing )", R"(del\u007f)"}) {
      CAPTURE(email);
      const std::string token = corpKey().mintJwt(
          R"({"iss":"https://id.example.com/","aud":"api://orders","sub":"alice","exp":)" +
              std::to_string(kTestNow + 600) + R"(,"scope":"orders:admin","email":")" + email +
              "\"}",
          "corp-1");
      // Refused when verified, and again when the token comes from the cache.
      for (int round = 0; round < 2; ++round) {
        CAPTURE(round);
        FakeRequest request("/admin/x");
        request.bearer(token);
        REQUIRE(fixture.run(request) == FilterVerdict::Respond);
        CHECK(request.reply().status == 401);
        CHECK(request.replyHeader("WWW-Authenticate").find("invalid_token") != std::string::npos);
      }
    }
  }

  TEST_CASE("path tricks cannot dodge a prefix rule and the normalised path is forwarded") {
    Fixture fixture;
    struct Row {
      const char* target;
      int status;             // 0: passes.
      const char* forwarded;  // The target the upstream gets.
    };
    const Row rows[] = {
        {"/admin/../public/x", 0, "/public/x"},
        {"/%61dmin/x", 401, nullptr},
        {"/public/%2e%2e/admin/x", 401, nullptr},
        {"//admin/x", 401, nullptr},
        {"/public/./a/../b?q=%2F", 0, "/public/b?q=%2F"},
        {"/public/%2Fadmin", 400, nullptr},
        {"/public/..;/admin", 400, nullptr},
        {"/nothing", 404, nullptr},
    };
    for (const Row& row : rows) {
      CAPTURE(row.target);
      FakeRequest request(row.target);
      const FilterVerdict verdict = fixture.run(request);
      if (row.status == 0) {
        REQUIRE(verdict == FilterVerdict::Pass);
        CHECK(request.forwardedTarget() == row.forwarded);
      } else {
        REQUIRE(verdict == FilterVerdict::Respond);
        CHECK(request.reply().status == row.status);
      }
    }
  }

  TEST_CASE("no route answers 404 or 403 as configured") {
    Fixture forbidden(configText("  no_route: 403\n"));
    FakeRequest request("/nothing");
    REQUIRE(forbidden.run(request) == FilterVerdict::Respond);
    CHECK(request.reply().status == 403);
    CHECK(request.reply().body == R"({"error":"no_route"})");
  }

  TEST_CASE("ambiguous credentials are 400 invalid_request") {
    Fixture fixture;
    const std::string token = corpToken(R"(,"scope":"orders:admin")");
    FakeRequest twice("/admin/x");
    twice.bearer(token).bearer(token);
    REQUIRE(fixture.run(twice) == FilterVerdict::Respond);
    CHECK(twice.reply().status == 400);
    CHECK(twice.replyHeader("WWW-Authenticate").find("invalid_request") != std::string::npos);

    // Two providers of an `any` route each find a different credential.
    FakeRequest mixed("/either/x");
    mixed.bearer(token).add("X-Partner-Token", partnerToken());
    REQUIRE(fixture.run(mixed) == FilterVerdict::Respond);
    CHECK(mixed.reply().status == 400);
  }

  TEST_CASE("any: the provider that accepts the token is the identity") {
    Fixture fixture;
    FakeRequest partner("/either/x");
    partner.add("X-Partner-Token", partnerToken());
    REQUIRE(fixture.run(partner) == FilterVerdict::Pass);
    CHECK(partner.forwardedHeader("X-Partner-Id") == "svc-7");
    CHECK_FALSE(partner.forwardedHeader("X-User-Id").has_value());
    CHECK(partner.forwardedHeader("X-Jwtgate-Route") == "either; provider=partner");

    FakeRequest corp("/either/x");
    corp.bearer(corpToken());
    REQUIRE(fixture.run(corp) == FilterVerdict::Pass);
    CHECK(corp.forwardedHeader("X-User-Id") == "alice");
    CHECK(corp.forwardedHeader("X-Jwtgate-Route") == "either; provider=corp");
  }

  TEST_CASE("all: every provider needs its own valid credential") {
    Fixture fixture;
    FakeRequest both("/both/x");
    both.bearer(corpToken()).add("X-Partner-Token", partnerToken());
    REQUIRE(fixture.run(both) == FilterVerdict::Pass);
    CHECK(both.forwardedHeader("X-User-Id") == "alice");
    CHECK(both.forwardedHeader("X-Partner-Id") == "svc-7");
    CHECK(both.forwardedHeader("X-Jwtgate-Route") == "both; provider=corp,partner");

    FakeRequest one("/both/x");
    one.bearer(corpToken());
    REQUIRE(fixture.run(one) == FilterVerdict::Respond);
    CHECK(one.reply().status == 401);

    FakeRequest bad("/both/x");
    bad.bearer(corpToken()).add("X-Partner-Token", corpToken());
    REQUIRE(fixture.run(bad) == FilterVerdict::Respond);
    CHECK(bad.reply().status == 401);
  }

  TEST_CASE("all: the route's checks apply to the first listed provider's token") {
    Fixture fixture;
    FakeRequest buyer("/both-checked/x");
    buyer.bearer(corpToken(R"(,"roles":["buyer"])")).add("X-Partner-Token", partnerToken());
    REQUIRE(fixture.run(buyer) == FilterVerdict::Pass);

    FakeRequest seller("/both-checked/x");
    seller.bearer(corpToken(R"(,"roles":["seller"])")).add("X-Partner-Token", partnerToken());
    REQUIRE(fixture.run(seller) == FilterVerdict::Respond);
    CHECK(seller.reply().status == 403);
  }

  TEST_CASE("allow_missing passes a request without credentials, never a bad one") {
    Fixture fixture;
    FakeRequest none("/public/x");
    none.add("X-User-Id", "spoofed");
    REQUIRE(fixture.run(none) == FilterVerdict::Pass);
    CHECK_FALSE(none.forwardedHeader("X-User-Id").has_value());
    CHECK(none.forwardedHeader("X-Jwtgate-Route") == "public");
    CHECK(fixture.filter.stats().anonymous == 1);

    FakeRequest bad("/public/x");
    bad.bearer(corpToken() + "x");
    REQUIRE(fixture.run(bad) == FilterVerdict::Respond);
    CHECK(bad.reply().status == 401);
  }

  TEST_CASE("report mode forwards would-be refusals marked and without identity") {
    Fixture fixture;
    FakeRequest request("/audit/x");
    request.bearer(corpToken(R"(,"scope":"read")")).add("X-Jwtgate-Report", "spoofed");
    REQUIRE(fixture.run(request) == FilterVerdict::Pass);
    CHECK(request.forwardedHeader("X-Jwtgate-Report") == "insufficient_scope");
    CHECK_FALSE(request.forwardedHeader("X-User-Id").has_value());
    CHECK(request.forwardedHeader("X-Jwtgate-Route") == "audit");
    CHECK(fixture.filter.stats().reported == 1);
    CHECK(fixture.filter.stats().passed == 0);

    FakeRequest missing("/audit/x");
    REQUIRE(fixture.run(missing) == FilterVerdict::Pass);
    CHECK(missing.forwardedHeader("X-Jwtgate-Report") == "missing_token");

    FakeRequest good("/audit/x");
    good.bearer(corpToken(R"(,"scope":"audit")"));
    REQUIRE(fixture.run(good) == FilterVerdict::Pass);
    CHECK_FALSE(good.forwardedHeader("X-Jwtgate-Report").has_value());
    CHECK(good.forwardedHeader("X-User-Id") == "alice");
  }

  TEST_CASE("keep_token: false removes the credential from every location") {
    Fixture fixture(configText("",
                               "    keep_token: false\n"
                               "    token_from: [{header: Authorization, scheme: Bearer},\n"
                               "                 {cookie: at}, {query: access_token}]\n"));
    const std::string token = corpToken(R"(,"scope":"orders:admin")");

    FakeRequest header("/admin/x?a=1");
    header.bearer(token).add("Cookie", "theme=dark; lang=en");
    REQUIRE(fixture.run(header) == FilterVerdict::Pass);
    CHECK_FALSE(header.forwardedHeader("Authorization").has_value());
    CHECK(header.forwardedHeader("Cookie") == "theme=dark; lang=en");
    CHECK(header.forwardedTarget() == "/admin/x?a=1");

    FakeRequest cookie("/admin/x");
    cookie.add("Cookie", "theme=dark; at=" + token).add("Cookie", "lang=en");
    REQUIRE(fixture.run(cookie) == FilterVerdict::Pass);
    CHECK(cookie.forwardedHeader("Cookie") == "theme=dark; lang=en");

    FakeRequest query("/admin/x?a=1&access_token=" + token + "&b=2");
    REQUIRE(fixture.run(query) == FilterVerdict::Pass);
    CHECK(query.forwardedTarget() == "/admin/x?a=1&b=2");

    FakeRequest only("/admin/x?access_token=" + token);
    REQUIRE(fixture.run(only) == FilterVerdict::Pass);
    CHECK(only.forwardedTarget() == "/admin/x");
    CHECK(only.forwardedHeader("X-User-Id") == "alice");
  }

  TEST_CASE("forward_payload_header carries base64url of the verified payload") {
    Fixture fixture(configText("", "    forward_payload_header: X-Jwt-Payload\n"));
    const std::string payload = corpPayload(R"(,"scope":"orders:admin")");
    FakeRequest request("/admin/x");
    request.bearer(corpKey().mintJwt(payload, "corp-1")).add("x_jwt_payload", "spoofed");
    REQUIRE(fixture.run(request) == FilterVerdict::Pass);
    CHECK(request.forwardedHeader("X-Jwt-Payload") == base64UrlEncode(payload));
    CHECK_FALSE(request.forwardedHeader("x_jwt_payload").has_value());
  }

  TEST_CASE("descriptions can be turned off and the realm set") {
    Fixture fixture(configText("  error_descriptions: false\n  realm: orders\n"));
    FakeRequest request("/admin/x");
    request.bearer(corpToken(R"(,"scope":"read")"));
    REQUIRE(fixture.run(request) == FilterVerdict::Respond);
    CHECK(request.reply().status == 403);
    CHECK(request.replyHeader("WWW-Authenticate") ==
          R"(Bearer realm="orders", error="insufficient_scope", scope="orders:admin")");
    CHECK(request.reply().body == R"({"error":"insufficient_scope"})");
  }

  TEST_CASE("the cache can be turned off") {
    Fixture fixture(configText("  cache: {max_entries: 0}\n"));
    const std::string token = corpToken(R"(,"scope":"orders:admin")");
    for (int round = 0; round < 2; ++round) {
      FakeRequest request("/admin/x");
      request.bearer(token);
      REQUIRE(fixture.run(request) == FilterVerdict::Pass);
      CHECK(request.forwardedHeader("X-User-Id") == "alice");
    }
    CHECK(fixture.filter.stats().verifications == 2);
    CHECK(fixture.filter.cachedTokens() == 0);
  }

  TEST_CASE("a token of one provider is never accepted for another") {
    Fixture fixture;
    FakeRequest request("/admin/x");
    request.bearer(partnerToken());
    REQUIRE(fixture.run(request) == FilterVerdict::Respond);
    CHECK(request.reply().status == 401);
  }
}

}  // namespace
}  // namespace jwtgate::auth

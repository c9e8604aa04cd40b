// The auth filter's access-log notes and metrics, the filter group's reconfiguration, and
// RemoteKeys across reloads (against the loopback key server of the jwks tests).
#include "auth/auth_filter_group.h"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "auth/auth_config_yaml.h"
#include "auth/remote_keys.h"
#include "jwks/loopback_http_server.h"
#include "proxy/http_headers.h"
#include "support/test_signer.h"
#include "support/token_minter.h"

namespace jwtgate::auth {
namespace {

using proxy::FilterVerdict;
using testing::kTestNow;
using testing::TempFile;
using testing::TestSigner;
using verifier::Algorithm;

// Just enough of a request: an Authorization header, edits accepted, the note recorded.
class NotedRequest final : public FilterRequest {
 public:
  explicit NotedRequest(std::string target, std::string token = "") : target_(std::move(target)) {
    headers_.emplace_back("Host", "api.test");
    if (!token.empty()) {
      headers_.emplace_back("Authorization", "Bearer " + token);
    }
    removed_.assign(headers_.size(), false);
  }
  std::string_view method() const override { return "GET"; }
  std::string_view target() const override { return target_; }
  std::size_t headerCount() const override { return headers_.size(); }
  proxy::HeaderField header(std::size_t i) const override {
    return {headers_[i].first, headers_[i].second};
  }
  bool isRemoved(std::size_t i) const override { return removed_[i]; }
  bool removeHeader(std::size_t i) override {
    removed_[i] = true;
    return true;
  }
  bool addHeader(std::string_view name, std::string_view value) override {
    return proxy::isValidFieldName(name) && proxy::isValidFieldValue(value);
  }
  bool setTarget(std::string_view target) override {
    target_ = std::string(target);
    return true;
  }
  proxy::LocalReply& respond(int status) override {
    reply_.clear();
    reply_.status = status;
    return reply_;
  }
  void note(const proxy::FilterNote& note) override {
    ++notes;
    route = std::string(note.route);
    provider = std::string(note.provider);
    subject = std::string(note.subject);
    outcome = std::string(note.outcome);
    reason = std::string(note.reason);
  }

  int notes = 0;
  std::string route, provider, subject, outcome, reason;
  int status() const { return reply_.status; }

 private:
  std::string target_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::vector<bool> removed_;
  proxy::LocalReply reply_;
};

const TestSigner& corpKey() { return TestSigner::shared(Algorithm::RS256); }

const TempFile& corpJwks() {
  static const TempFile file(corpKey().jwks("corp-1"));
  return file;
}

std::string configText(const std::string& admin_require =
                           "    require: {provider: corp, scopes_all: [orders:admin]}\n") {
  return "providers:\n"
         "  corp:\n"
         "    issuer: https://id.example.com/\n"
         "    keys: {file: " +
         corpJwks().path() +
         "}\n"
         "    leeway: 0s\n"
         "routes:\n"
         "  - name: health\n"
         "    match: {path: /healthz}\n"
         "    auth: none\n"
         "  - name: admin\n"
         "    match: {prefix: /admin/}\n" +
         admin_require +
         "  - name: public\n"
         "    match: {prefix: /public/}\n"
         "    require: {any: [corp], allow_missing: true}\n"
         "  - name: tenant\n"
         "    match: {prefix: /tenant/}\n"
         "    require: {provider: corp, roles_any: [buyer], claims: {org.tenant: acme}}\n"
         "  - name: audit\n"
         "    match: {prefix: /audit/}\n"
         "    require: {provider: corp, scopes_all: [audit]}\n"
         "    mode: report\n";
}

// Loads `text` and applies the access-log settings the app would copy in.
std::shared_ptr<const AuthConfig> loadConfig(const std::string& text,
                                             std::string subject_claim = "sub",
                                             std::vector<std::string> secret_claims = {}) {
  auto loaded = parseAuthSections(YAML::Load(text), "test.yaml");
  if (!loaded) {
    FAIL("config refused: " << loaded.error().toString());
  }
  auto config = std::make_shared<AuthConfig>(**loaded);
  config->settings.log_subject_claim = std::move(subject_claim);
  config->settings.secret_claims = std::move(secret_claims);
  return config;
}

std::string corpToken(const std::string& extra = "", std::int64_t exp = kTestNow + 600,
                      const std::string& sub = "\"alice\"") {
  return corpKey().mintJwt(R"({"iss":"https://id.example.com/","sub":)" + sub +
                               R"(,"org":{"tenant":"acme","secret":"s3"},"exp":)" +
                               std::to_string(exp) + extra + "}",
                           "corp-1");
}

std::uint64_t requests(const AuthMetrics& metrics, std::string_view route, AuthOutcome outcome) {
  const std::uint32_t id = route.empty() ? noRouteLabel() : routeLabels().intern(route);
  return metrics.requests[id][static_cast<std::size_t>(outcome)].value();
}

std::uint64_t refusals(const AuthMetrics& metrics, RefusalReason reason) {
  return metrics.refusals[static_cast<std::size_t>(reason)].value();
}

TEST_SUITE("auth/auth_filter_group") {
  TEST_CASE("every decision is noted with route, provider, subject, outcome and reason") {
    AuthFilter filter(loadConfig(configText()), [] { return kTestNow; });

    NotedRequest allowed("/admin/x", corpToken(R"(,"scope":"orders:admin")"));
    REQUIRE(filter.decide(allowed) == FilterVerdict::Pass);
    CHECK(allowed.notes == 1);
    CHECK(allowed.route == "admin");
    CHECK(allowed.provider == "corp");
    CHECK(allowed.subject == "alice");
    CHECK(allowed.outcome == "allowed");
    CHECK(allowed.reason == "");

    NotedRequest expired("/admin/x", corpToken(R"(,"scope":"orders:admin")", kTestNow - 5));
    REQUIRE(filter.decide(expired) == FilterVerdict::Respond);
    CHECK(expired.route == "admin");
    CHECK(expired.provider == "corp");
    CHECK(expired.subject == "");
    CHECK(expired.outcome == "refused");
    CHECK(expired.reason == "expired");

    // A valid identity refused by a route check keeps its subject.
    NotedRequest scope("/admin/x", corpToken());
    REQUIRE(filter.decide(scope) == FilterVerdict::Respond);
    CHECK(scope.subject == "alice");
    CHECK(scope.reason == "scope");

    NotedRequest none("/nowhere");
    REQUIRE(filter.decide(none) == FilterVerdict::Respond);
    CHECK(none.route == "");
    CHECK(none.outcome == "no_route");
    CHECK(none.reason == "no_route");

    NotedRequest open("/healthz");
    REQUIRE(filter.decide(open) == FilterVerdict::Pass);
    CHECK(open.route == "health");
    CHECK(open.outcome == "open");
    CHECK(open.provider == "");

    NotedRequest anonymous("/public/x");
    REQUIRE(filter.decide(anonymous) == FilterVerdict::Pass);
    CHECK(anonymous.outcome == "anonymous");

    NotedRequest reported("/audit/x", corpToken());
    REQUIRE(filter.decide(reported) == FilterVerdict::Pass);
    CHECK(reported.outcome == "reported");
    CHECK(reported.reason == "scope");
    CHECK(reported.subject == "alice");
  }

  TEST_CASE("the subject is screened: secret claims, kinds, control characters, length") {
    struct Row {
      const char* claim;
      std::vector<std::string> secrets;
      std::string sub;  // JSON
      std::string expected;
    };
    const std::string long_sub(300, 'a');
    const Row rows[] = {
        {"sub", {}, "\"alice\"", "alice"},
        {"sub", {"sub"}, "\"alice\"", ""},
        {"sub", {"email", "sub"}, "\"alice\"", ""},
        {"org.tenant", {}, "\"alice\"", "acme"},
        {"org.tenant", {"org"}, "\"alice\"", ""},  // inside a secret claim
        {"org.secret", {"org.tenant"}, "\"alice\"", "s3"},
        {"", {}, "\"alice\"", ""},
        {"sub", {}, "42", "42"},
        {"sub", {}, "[\"a\"]", ""},
        {"sub", {}, "{\"x\":1}", ""},
        {"sub", {}, "\"al\\nice\"", ""},
        {"sub", {}, "\"al\\u007fice\"", ""},
        {"sub", {}, "\"" + long_sub + "\"", long_sub.substr(0, AuthFilter::kMaxLoggedSubject)},
    };
    for (const Row& row : rows) {
      CAPTURE(row.claim);
      CAPTURE(row.sub);
      AuthFilter filter(loadConfig(configText(), row.claim, row.secrets), [] { return kTestNow; });
      NotedRequest request("/admin/x",
                           corpToken(R"(,"scope":"orders:admin")", kTestNow + 600, row.sub));
      REQUIRE(filter.decide(request) == FilterVerdict::Pass);
      CHECK(request.subject == row.expected);
      // From the cache, the same.
      NotedRequest again("/admin/x",
                         corpToken(R"(,"scope":"orders:admin")", kTestNow + 600, row.sub));
      REQUIRE(filter.decide(again) == FilterVerdict::Pass);
      CHECK(again.subject == row.expected);
      CHECK(filter.stats().cache_hits == 1);
    }
  }

  TEST_CASE("a scripted mix of requests is counted exactly, by route, outcome and reason") {
    auto group = AuthFilterGroup::create(loadConfig(configText()), nullptr);
    AuthFilter filter(group, nullptr, [] { return kTestNow; });
    const std::string admin = corpToken(R"(,"scope":"orders:admin")");
    const auto run = [&filter](const std::string& target, const std::string& token = "") {
      NotedRequest request(target, token);
      return filter.decide(request);
    };
    CHECK(run("/admin/a", admin) == FilterVerdict::Pass);
    CHECK(run("/admin/b", admin) == FilterVerdict::Pass);  // cached
    CHECK(run("/admin/c") == FilterVerdict::Respond);      // missing token
    CHECK(run("/admin/d", corpToken("", kTestNow - 1)) == FilterVerdict::Respond);
    CHECK(run("/admin/e", corpToken()) == FilterVerdict::Respond);  // scope
    std::string forged = admin;
    forged[forged.size() - 10] = forged[forged.size() - 10] == 'A' ? 'B' : 'A';
    CHECK(run("/admin/f", forged) == FilterVerdict::Respond);        // bad signature
    CHECK(run("/admin/g", "abc") == FilterVerdict::Respond);         // malformed
    CHECK(run("/tenant/a", corpToken()) == FilterVerdict::Respond);  // no role (cached token)
    CHECK(run("/tenant/b", corpToken(R"(,"roles":["buyer"])")) == FilterVerdict::Pass);
    CHECK(run("/healthz") == FilterVerdict::Pass);
    CHECK(run("/public/x") == FilterVerdict::Pass);
    CHECK(run("/audit/x", corpToken()) == FilterVerdict::Pass);  // reported: scope (cached)
    CHECK(run("/nowhere") == FilterVerdict::Respond);
    CHECK(run("/admin%2Fx") == FilterVerdict::Respond);  // bad target

    const AuthMetrics& m = filter.metrics();
    CHECK(requests(m, "admin", AuthOutcome::Allowed) == 2);
    CHECK(requests(m, "admin", AuthOutcome::Refused) == 5);
    CHECK(requests(m, "tenant", AuthOutcome::Refused) == 1);
    CHECK(requests(m, "tenant", AuthOutcome::Allowed) == 1);
    CHECK(requests(m, "health", AuthOutcome::Open) == 1);
    CHECK(requests(m, "public", AuthOutcome::Anonymous) == 1);
    CHECK(requests(m, "audit", AuthOutcome::Reported) == 1);
    CHECK(requests(m, "", AuthOutcome::NoRoute) == 1);
    CHECK(requests(m, "", AuthOutcome::Refused) == 1);
    CHECK(refusals(m, RefusalReason::MissingToken) == 1);
    CHECK(refusals(m, RefusalReason::Expired) == 1);
    CHECK(refusals(m, RefusalReason::Scope) == 2);
    CHECK(refusals(m, RefusalReason::BadSignature) == 1);
    CHECK(refusals(m, RefusalReason::Malformed) == 1);
    CHECK(refusals(m, RefusalReason::Role) == 1);
    CHECK(refusals(m, RefusalReason::NoRoute) == 1);
    CHECK(refusals(m, RefusalReason::BadTarget) == 1);
    CHECK(refusals(m, RefusalReason::Claim) == 0);
    // Verifier runs: the admin token once, the expired, scope-less, forged and malformed
    // ones, the buyer's; cache hits: the admin token again, the scope-less token on the
    // tenant and audit routes.
    CHECK(m.cache_hits.value() == 3);
    CHECK(m.cache_misses.value() == 6);
    CHECK(m.verification.count() == 6);

    observe::MetricsText text;
    group->collectMetrics(text);
    const std::string rendered = text.take();
    CHECK(rendered.find("jwtgate_auth_requests_total{route=\"admin\",outcome=\"allowed\"} 2") !=
          std::string::npos);
    CHECK(rendered.find("jwtgate_auth_refusals_total{reason=\"scope\"} 2") != std::string::npos);
    CHECK(rendered.find("jwtgate_token_cache_hits_total 3") != std::string::npos);
    CHECK(rendered.find("jwtgate_verification_duration_seconds_count 6") != std::string::npos);
  }

  TEST_CASE("reconfigure swaps the rules for the next request and drops the cache") {
    auto group = AuthFilterGroup::create(loadConfig(configText()), nullptr);
    CHECK(group->generation() == 1);
    AuthFilter filter(group, nullptr, [] { return kTestNow; });
    CHECK(group->activeFilters() == 1);

    NotedRequest before("/admin/x", corpToken());
    REQUIRE(filter.decide(before) == FilterVerdict::Respond);
    CHECK(before.reason == "scope");
    CHECK(filter.cachedTokens() == 1);

    group->reconfigure(loadConfig(configText("    require: {provider: corp}\n")));
    CHECK(group->generation() == 2);
    CHECK(filter.cachedTokens() == 1);  // swapped at the next request, not before
    NotedRequest after("/admin/x", corpToken());
    REQUIRE(filter.decide(after) == FilterVerdict::Pass);
    CHECK(after.outcome == "allowed");
    CHECK(filter.stats().cache_hits == 0);  // the new config started with an empty cache
    CHECK(filter.cachedTokens() == 1);
    CHECK(&filter.config() == group->config().get());

    // Counters survive the swap and the filter's end.
    filter.close();
    CHECK(group->activeFilters() == 0);
    observe::MetricsText text;
    group->collectMetrics(text);
    const std::string rendered = text.take();
    CHECK(rendered.find("jwtgate_auth_requests_total{route=\"admin\",outcome=\"refused\"} 1") !=
          std::string::npos);
    CHECK(rendered.find("jwtgate_auth_requests_total{route=\"admin\",outcome=\"allowed\"} 1") !=
          std::string::npos);
  }

  TEST_CASE("a filter that is destroyed without close() unregisters too") {
    auto group = AuthFilterGroup::create(loadConfig(configText()), nullptr);
    {
      auto factory = group->factory();
      auto filter = factory(nullptr);
      CHECK(group->activeFilters() == 1);
    }
    CHECK(group->activeFilters() == 0);
  }
}

// ---- RemoteKeys across reloads ----

struct KeyServer {
  std::mutex mutex;
  int second_status = 500;
  testing::LoopbackHttpServer server{[this](const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex);
    const std::string jwks = corpKey().jwks(path == "/jwks" ? "remote-1" : "second-1");
    if (path == "/second" && second_status != 200) {
      return testing::HttpReply{second_status, {}, "no"};
    }
    return testing::HttpReply{200, {{"Cache-Control", "max-age=3600"}}, jwks};
  }};
  void setSecond(int status) {
    std::lock_guard<std::mutex> lock(mutex);
    second_status = status;
  }
};

std::string remoteProvider(const std::string& name, const std::string& url) {
  return "  " + name +
         ":\n"
         "    issuer: https://id.example.com/\n"
         "    jwks_uri: " +
         url +
         "\n"
         "    allow_insecure: true\n"
         "    remote_keys: {retry_initial: 50ms, retry_max: 100ms}\n";
}

std::string remoteConfig(const std::string& providers) {
  return "providers:\n" + providers +
         "  local:\n"
         "    issuer: https://id.example.com/\n"
         "    keys: {file: " +
         corpJwks().path() +
         "}\n"
         "routes:\n"
         "  - name: all\n"
         "    match: {prefix: /}\n"
         "    require: {provider: local}\n";
}

bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST_SUITE("auth/remote_keys") {
  TEST_CASE("update keeps an unchanged provider's keys, starts new ones and stops removed") {
    KeyServer keys;
    const std::string first = remoteProvider("remote", keys.server.url("/jwks"));
    const std::string second = remoteProvider("second", keys.server.url("/second"));

    // A config without remote providers first: the app may still create RemoteKeys.
    auto remote = RemoteKeys::create(loadConfig(remoteConfig("")));
    REQUIRE(remote.ok());
    RemoteKeys& rk = **remote;
    CHECK(rk.serviceCount() == 0);
    CHECK(rk.missingProviders().empty());

    auto with_first = loadConfig(remoteConfig(first));
    REQUIRE(rk.update(with_first).ok());
    CHECK(rk.serviceCount() == 1);
    std::string missing;
    REQUIRE(rk.waitUntilReady(std::chrono::seconds(10), &missing));
    CHECK(rk.missingProviders().empty());
    REQUIRE(with_first->providers[0]->keys.load() != nullptr);
    CHECK(keys.server.requests("/jwks") == 1);
    const auto service = rk.serviceFor(*with_first, 0);
    REQUIRE(service != nullptr);
    CHECK(rk.serviceFor(*with_first, 1) == nullptr);  // local

    // Reloaded with the same remote settings plus a new provider whose server fails.
    auto with_both = loadConfig(remoteConfig(first + second));
    REQUIRE(rk.update(with_both).ok());
    CHECK(rk.serviceCount() == 2);
    CHECK(rk.serviceFor(*with_both, 0) == service);            // the same service, kept
    REQUIRE(with_both->providers[0]->keys.load() != nullptr);  // published at once
    CHECK(with_both->providers[0]->keys.load() == with_first->providers[0]->keys.load());
    REQUIRE(eventually([&] { return keys.server.requests("/second") >= 1; }));
    REQUIRE(eventually([&] { return !rk.serviceFor(*with_both, 1)->keys(0).fetching(); }));
    CHECK(rk.missingProviders() == std::vector<std::string>{"second"});
    CHECK(keys.server.requests("/jwks") == 1);  // no refetch of the kept provider

    keys.setSecond(200);
    REQUIRE(eventually([&] { return rk.missingProviders().empty(); }));
    REQUIRE(with_both->providers[1]->keys.load() != nullptr);

    observe::MetricsText text;
    rk.collectMetrics(text);
    const std::string rendered = text.take();
    CHECK(rendered.find("jwtgate_key_fetches_total{provider=\"remote\",result=\"ok\"} 1") !=
          std::string::npos);
    CHECK(rendered.find("jwtgate_key_fetches_total{provider=\"second\",result=\"http_error\"}") !=
          std::string::npos);
    CHECK(rendered.find("jwtgate_keys_loaded{provider=\"local\"} 1") != std::string::npos);
    CHECK(rendered.find("jwtgate_keys_loaded{provider=\"remote\"} 1") != std::string::npos);
    CHECK(rendered.find("jwtgate_key_last_success_age_seconds{provider=\"remote\"}") !=
          std::string::npos);

    // A changed URL is a new provider (a fetch); a removed one stops.
    const std::string moved = remoteProvider("remote", keys.server.url("/jwks?v=2"));
    auto changed = loadConfig(remoteConfig(moved));
    REQUIRE(rk.update(changed).ok());
    CHECK(rk.serviceCount() == 1);
    CHECK(rk.serviceFor(*changed, 0) != service);
    REQUIRE(eventually([&] { return keys.server.requests("/jwks?v=2") == 1; }));
  }

  TEST_CASE("last success age is -1 before the first good fetch") {
    KeyServer keys;
    auto config = loadConfig(remoteConfig(remoteProvider("second", keys.server.url("/second"))));
    auto remote = RemoteKeys::create(config);
    REQUIRE(remote.ok());
    REQUIRE(eventually([&] { return keys.server.requests("/second") >= 1; }));
    observe::MetricsText text;
    (*remote)->collectMetrics(text);
    CHECK(text.take().find("jwtgate_key_last_success_age_seconds{provider=\"second\"} -1") !=
          std::string::npos);
    CHECK((*remote)->missingProviders() == std::vector<std::string>{"second"});
  }
}

}  // namespace
}  // namespace jwtgate::auth

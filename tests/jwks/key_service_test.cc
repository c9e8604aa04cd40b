// The key service against a loopback key server: first fetch, discovery, refresh failures
// with stale keys, the stale window running out, merging, refetch requests and shutdown.
#include "jwks/key_service.h"

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jwks/loopback_http_server.h"
#include "support/test_signer.h"

namespace jwtgate::jwks {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::HttpReply;
using testing::LoopbackHttpServer;
using testing::TestSigner;

// The enumerator's name as spelled in the source ("Fresh"), for readable checks.
std::string name(KeyAvailability availability) {
  switch (availability) {
    case KeyAvailability::Loading:
      return "Loading";
    case KeyAvailability::Fresh:
      return "Fresh";
    case KeyAvailability::Stale:
      return "Stale";
    case KeyAvailability::Unavailable:
      return "Unavailable";
    case KeyAvailability::Expired:
      return "Expired";
  }
  return "?";
}

// Collects log lines (from the control thread) for the test to read.
class LogCapture {
 public:
  LogSink sink() {
    return [this](LogLevel, std::string_view text) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.emplace_back(text);
    };
  }
  bool contains(std::string_view needle) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const std::string& line : lines_) {
      if (line.find(needle) != std::string::npos) {
        return true;
      }
    }
    return false;
  }
  std::string text() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (const std::string& line : lines_) {
      out += line + "\n";
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// Polls `done` for up to ten seconds (the service works on its own thread).
bool eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

std::string jwksWith(const std::vector<std::string>& kids) {
  std::string out = R"({"keys":[)";
  for (std::size_t i = 0; i < kids.size(); ++i) {
    out += (i == 0 ? "" : ",") +
           TestSigner::shared(verifier::Algorithm::ES256).publicJwk(kids[i], true);
  }
  return out + "]}";
}

bool hasKid(const std::shared_ptr<const verifier::KeySet>& keys, const std::string& kid) {
  if (!keys) {
    return false;
  }
  const verifier::Key* found[4];
  return keys->candidates(kid, found) > 0;
}

RemoteKeysSpec jwksSpec(const std::string& name, const std::string& url) {
  RemoteKeysSpec spec;
  spec.provider = name;
  spec.sources.push_back({SourceKind::JwksUri, url});
  spec.fetch.allow_insecure = true;
  spec.fetch.total_timeout = milliseconds(3000);
  spec.refresh.retry = {milliseconds(50), milliseconds(200)};
  return spec;
}

KeyServiceOptions optionsWith(LogCapture& log) {
  KeyServiceOptions options;
  options.log = log.sink();
  options.random = [] { return 0.5; };
  return options;
}

// A key server whose answer the test can switch.
struct SwitchableJwks {
  std::mutex mutex;
  HttpReply reply{200, {{"Cache-Control", "max-age=3600"}}, jwksWith({"k1"})};
  LoopbackHttpServer server{[this](const std::string&) {
    std::lock_guard<std::mutex> lock(mutex);
    return reply;
  }};

  void set(HttpReply next) {
    std::lock_guard<std::mutex> lock(mutex);
    reply = std::move(next);
  }
};

TEST_SUITE("jwks/key_service") {
  TEST_CASE("keys from a JWKS URI are published before the service reports ready") {
    SwitchableJwks keys_server;
    LogCapture log;
    std::atomic<int> published{0};
    auto service =
        KeyService::create({jwksSpec("main", keys_server.server.url("/jwks"))}, optionsWith(log));
    REQUIRE(service.ok());
    KeyService& keys = **service;
    CHECK(name(keys.keys(0).availability()) == "Loading");
    CHECK(keys.keys(0).fetching());
    CHECK(keys.keys(0).keys() == nullptr);
    keys.keys(0).setPublishListener(
        [&](const std::shared_ptr<const verifier::KeySet>& set) { published += set ? 1 : 100; });

    std::string error;
    REQUIRE(keys.start(&error));
    REQUIRE(keys.waitUntilReady(seconds(10)));
    CHECK(hasKid(keys.keys(0).keys(), "k1"));
    CHECK(name(keys.keys(0).availability()) == "Fresh");
    CHECK(published == 1);
    REQUIRE(eventually([&] { return !keys.keys(0).fetching(); }));
    CHECK(keys.keys(0).fetchEpoch() == 1);
    CHECK(keys_server.server.requests("/jwks") == 1);
    CHECK(log.contains("keys ready"));
    CHECK(log.contains("provider 'main': fetched JWKS from " + keys_server.server.url("/jwks") +
                       ": 1 keys, kept 3600s"));
    CHECK(log.contains("provider 'main': 1 keys in use; added k1"));
    keys.stop();
    keys.stop();
  }

  TEST_CASE("discovery takes jwks_uri from the issuer's configuration") {
    std::string issuer;
    LoopbackHttpServer server([&](const std::string& path) {
      if (path == "/.well-known/openid-configuration") {
        return HttpReply{
            200, {}, R"({"issuer":")" + issuer + R"(","jwks_uri":")" + issuer + R"(/certs"})"};
      }
      if (path == "/certs") {
        return HttpReply{200, {}, jwksWith({"d1", "d2"})};
      }
      return HttpReply{404, {}, ""};
    });
    issuer = "http://127.0.0.1:" + std::to_string(server.port());
    LogCapture log;
    RemoteKeysSpec spec = jwksSpec("oidc", issuer);
    spec.sources = {{SourceKind::Discovery, issuer}};
    auto service = KeyService::create({spec}, optionsWith(log));
    REQUIRE(service.ok());
    std::string error;
    REQUIRE((*service)->start(&error));
    REQUIRE((*service)->waitUntilReady(seconds(10)));
    auto set = (*service)->keys(0).keys();
    CHECK(hasKid(set, "d1"));
    CHECK(hasKid(set, "d2"));
    CHECK(server.requests("/.well-known/openid-configuration") == 1);
    CHECK(server.requests("/certs") == 1);
    CHECK(log.contains("names the JWKS at " + issuer + "/certs"));
  }

  TEST_CASE("a configuration naming another issuer gives no keys and no JWKS fetch") {
    LoopbackHttpServer server([&](const std::string& path) {
      if (path == "/.well-known/openid-configuration") {
        return HttpReply{
            200, {}, R"({"issuer":"http://evil.example","jwks_uri":"http://127.0.0.1:1/k"})"};
      }
      return HttpReply{200, {}, jwksWith({"x"})};
    });
    std::string issuer = "http://127.0.0.1:" + std::to_string(server.port());
    LogCapture log;
    RemoteKeysSpec spec = jwksSpec("oidc", issuer);
    spec.sources = {{SourceKind::Discovery, issuer}};
    spec.refresh.retry = {seconds(60), seconds(60)};
    auto service = KeyService::create({spec}, optionsWith(log));
    REQUIRE(service.ok());
    std::string error;
    REQUIRE((*service)->start(&error));
    ProviderKeys& keys = (*service)->keys(0);
    REQUIRE(eventually([&] { return keys.fetchEpoch() >= 1; }));
    CHECK(name(keys.availability()) == "Unavailable");
    CHECK(keys.keys() == nullptr);
    CHECK_FALSE(keys.fetching());
    CHECK(log.contains("names another issuer"));
    CHECK(log.contains("the provider has no keys yet"));
    CHECK(server.requests("/k") == 0);
  }

  TEST_CASE("failed refreshes keep the last good keys until the stale window ends") {
    SwitchableJwks keys_server;
    LogCapture log;
    RemoteKeysSpec spec = jwksSpec("p", keys_server.server.url("/jwks"));
    spec.refresh.lifetime = {seconds(1), seconds(1)};
    spec.refresh.stale_window = seconds(1);
    auto service = KeyService::create({spec}, optionsWith(log));
    REQUIRE(service.ok());
    ProviderKeys& keys = (*service)->keys(0);
    std::string error;
    REQUIRE((*service)->start(&error));
    REQUIRE((*service)->waitUntilReady(seconds(10)));

    // Garbage, then a JWKS without a usable key: neither replaces k1.
    keys_server.set(HttpReply{200, {}, "this is not JSON"});
    REQUIRE(eventually([&] { return name(keys.availability()) == "Stale"; }));
    CHECK(hasKid(keys.keys(), "k1"));
    REQUIRE(eventually([&] { return log.contains("not a valid JWKS"); }));
    keys_server.set(HttpReply{200,
                              {},
                              R"({"keys":[{"kty":"EC","use":"enc","crv":"P-256",)"
                              R"("x":"AAAA","y":"AAAA"}]})"});
    REQUIRE(eventually([&] { return log.contains("no usable key"); }));
    CHECK(hasKid(keys.keys(), "k1"));

    // Errors until the stale window is over: no keys, said clearly.
    keys_server.set(HttpReply{500, {}, "oops"});
    REQUIRE(eventually([&] { return name(keys.availability()) == "Expired"; }));
    CHECK(keys.keys() == nullptr);
    CHECK(log.contains("HTTP status 500"));
    CHECK(log.contains("expired: refreshes failed for the whole stale window"));
    CHECK(log.contains("0 keys in use; removed k1"));

    // The server comes back with a rotated key.
    keys_server.set(HttpReply{200, {}, jwksWith({"k2"})});
    REQUIRE(eventually([&] { return name(keys.availability()) == "Fresh"; }));
    CHECK(hasKid(keys.keys(), "k2"));
    CHECK_FALSE(hasKid(keys.keys(), "k1"));
    CHECK(log.contains("1 keys in use; added k2"));
    CHECK(keys.counters().expirations == 1);
    CHECK(keys.counters().fetches_failed >= 3);
    CHECK(keys.counters().fetches_ok >= 2);
    CHECK(keys.counters().refetches == 0);
  }

  TEST_CASE("one provider without keys does not hold up or harm the others") {
    SwitchableJwks good;
    LoopbackHttpServer bad([](const std::string&) { return HttpReply{404, {}, ""}; });
    LogCapture log;
    auto service = KeyService::create(
        {jwksSpec("good", good.server.url("/jwks")), jwksSpec("bad", bad.url("/jwks"))},
        optionsWith(log));
    REQUIRE(service.ok());
    std::string error;
    REQUIRE((*service)->start(&error));
    REQUIRE(eventually([&] { return (*service)->keys(1).fetchEpoch() >= 1; }));
    REQUIRE(eventually([&] { return (*service)->keys(0).keys() != nullptr; }));
    CHECK(name((*service)->keys(0).availability()) == "Fresh");
    CHECK((*service)->keys(1).keys() == nullptr);
    CHECK_FALSE((*service)->waitUntilReady(milliseconds(100)));
    CHECK_FALSE(log.contains("keys ready"));
    CHECK(log.contains("provider 'bad': JWKS fetch from " + bad.url("/jwks") +
                       " failed: HTTP status 404"));
  }

  TEST_CASE("local keys are merged with the remote ones") {
    SwitchableJwks keys_server;
    LogCapture log;
    RemoteKeysSpec spec = jwksSpec("mixed", keys_server.server.url("/jwks"));
    spec.local_keys = [] { return verifier::KeySet::fromJwks(jwksWith({"local"})); };
    auto service = KeyService::create({spec}, optionsWith(log));
    REQUIRE(service.ok());
    std::string error;
    REQUIRE((*service)->start(&error));
    REQUIRE((*service)->waitUntilReady(seconds(10)));
    auto set = (*service)->keys(0).keys();
    CHECK(hasKid(set, "local"));
    CHECK(hasKid(set, "k1"));
    CHECK(set->size() == 2);
  }

  TEST_CASE("a refetch request fetches now; one during a fetch is served by it") {
    SwitchableJwks keys_server;
    LogCapture log;
    auto service =
        KeyService::create({jwksSpec("p", keys_server.server.url("/jwks"))}, optionsWith(log));
    REQUIRE(service.ok());
    ProviderKeys& keys = (*service)->keys(0);
    std::string error;
    REQUIRE((*service)->start(&error));
    REQUIRE((*service)->waitUntilReady(seconds(10)));
    REQUIRE(eventually([&] { return keys.fetchEpoch() == 1; }));

    keys_server.set(HttpReply{200, {}, jwksWith({"k1", "k2"}), false, false, 200});
    (*service)->requestRefetch(0);
    REQUIRE(eventually([&] { return keys.fetching(); }));
    (*service)->requestRefetch(0);
    (*service)->requestRefetch(0);
    REQUIRE(eventually([&] { return keys.fetchEpoch() == 2 && !keys.fetching(); }));
    CHECK(hasKid(keys.keys(), "k2"));
    CHECK(keys_server.server.requests("/jwks") == 2);
    CHECK(keys.counters().fetches_ok == 2);
    CHECK(keys.counters().fetches_failed == 0);
    CHECK(keys.counters().refetches >= 1);
    (*service)->requestRefetch(7);  // no such provider: ignored
  }

  TEST_CASE("bad specs are refused by create()") {
    RemoteKeysSpec no_source;
    no_source.provider = "a";
    auto refused = KeyService::create({no_source});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().find("provider 'a'") != std::string::npos);

    RemoteKeysSpec plain = jwksSpec("b", "http://127.0.0.1:1/jwks");
    plain.fetch.allow_insecure = false;
    refused = KeyService::create({plain});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().find("allow_insecure") != std::string::npos);

    RemoteKeysSpec file = jwksSpec("c", "file:///etc/passwd");
    refused = KeyService::create({file});
    REQUIRE_FALSE(refused.ok());
  }

  TEST_CASE("a service stopped before start, or during a hanging fetch, shuts down") {
    LoopbackHttpServer server([](const std::string&) {
      HttpReply reply;
      reply.hang = true;
      return reply;
    });
    {
      auto never_started = KeyService::create({jwksSpec("p", server.url("/jwks"))});
      REQUIRE(never_started.ok());
    }
    LogCapture log;
    auto service = KeyService::create({jwksSpec("p", server.url("/jwks"))}, optionsWith(log));
    REQUIRE(service.ok());
    std::string error;
    REQUIRE((*service)->start(&error));
    CHECK_FALSE((*service)->start(&error));
    REQUIRE(eventually([&] { return server.requests("/jwks") == 1; }));
    std::thread waiter([&] { CHECK_FALSE((*service)->waitUntilReady(seconds(30))); });
    (*service)->stop();
    waiter.join();
    CHECK((*service)->keys(0).keys() == nullptr);
  }
}

}  // namespace
}  // namespace jwtgate::jwks

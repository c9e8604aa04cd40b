// A worker's waiters: requests that wait for a first fetch or an unknown-kid refetch, woken
// on the worker's loop; each path at once, later, and with the waiters closed while pending;
// and the cool-down that keeps a flood of unknown kids to one fetch.
#include "jwks/key_waiters.h"

#include <doctest/doctest.h>

#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "jwks/key_service.h"
#include "jwks/loop_runner.h"
#include "jwks/loopback_http_server.h"
#include "support/test_signer.h"

namespace jwtgate::jwks {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::HttpReply;
using testing::LoopbackHttpServer;
using testing::TestSigner;

std::string outcomeName(WaitOutcome outcome) {
  switch (outcome) {
    case WaitOutcome::FetchDone:
      return "FetchDone";
    case WaitOutcome::TimedOut:
      return "TimedOut";
    case WaitOutcome::Cancelled:
      return "Cancelled";
  }
  return "?";
}

std::string startName(WaitStart start) {
  switch (start) {
    case WaitStart::Waiting:
      return "Waiting";
    case WaitStart::AlreadyDone:
      return "AlreadyDone";
    case WaitStart::Full:
      return "Full";
    case WaitStart::Closed:
      return "Closed";
  }
  return "?";
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
  const verifier::Key* found[4];
  return keys != nullptr && keys->candidates(kid, found) > 0;
}

// A key server, a service (not started until start()), and a worker-like loop with waiters.
struct Fixture {
  std::mutex mutex;
  HttpReply reply{200, {{"Cache-Control", "max-age=3600"}}, jwksWith({"k1"})};
  LoopbackHttpServer server{[this](const std::string&) {
    std::lock_guard<std::mutex> lock(mutex);
    return reply;
  }};
  std::unique_ptr<KeyService> service;
  uv_loop_t loop;
  std::unique_ptr<KeyWaiters> waiters;

  explicit Fixture(milliseconds wait_timeout = milliseconds(5000), std::size_t max_waiters = 64) {
    RemoteKeysSpec spec;
    spec.provider = "p";
    spec.sources.push_back({SourceKind::JwksUri, server.url("/jwks")});
    spec.fetch.allow_insecure = true;
    spec.refresh.wait_timeout = wait_timeout;
    spec.refresh.retry = {seconds(60), seconds(60)};
    KeyServiceOptions options;
    options.log = [](LogLevel, std::string_view) {};
    auto created = KeyService::create({spec}, options);
    REQUIRE(created.ok());
    service = std::move(*created);
    REQUIRE(uv_loop_init(&loop) == 0);
    auto made = KeyWaiters::create(&loop, *service, max_waiters);
    REQUIRE(made.ok());
    waiters = std::move(*made);
  }

  ~Fixture() {
    waiters.reset();
    CHECK(testing::finishLoop(&loop) == 0);
    service->stop();
  }

  void set(HttpReply next) {
    std::lock_guard<std::mutex> lock(mutex);
    reply = std::move(next);
  }

  void startAndWaitReady() {
    std::string error;
    REQUIRE(service->start(&error));
    REQUIRE(service->waitUntilReady(seconds(10)));
    REQUIRE(testing::runUntil(&loop, [&] { return !service->keys(0).fetching(); }));
  }

  ProviderKeys& keys() { return service->keys(0); }
};

TEST_SUITE("jwks/key_waiters") {
  TEST_CASE("a request before the first keys waits, and wakes when they arrive") {
    Fixture fixture;
    auto epoch = fixture.waiters->shouldWaitForKeys(0);
    REQUIRE(epoch.has_value());
    std::vector<std::string> outcomes;
    WaitTicket ticket = fixture.waiters->wait(
        0, *epoch, [&](WaitOutcome o) { outcomes.push_back(outcomeName(o)); });
    CHECK(startName(ticket.state) == "Waiting");
    CHECK(ticket.id != 0);
    CHECK(fixture.waiters->waiting() == 1);
    CHECK(outcomes.empty());  // never from inside wait()

    std::string error;
    REQUIRE(fixture.service->start(&error));
    REQUIRE(testing::runUntil(&fixture.loop, [&] { return !outcomes.empty(); }));
    CHECK(outcomes == std::vector<std::string>{"FetchDone"});
    CHECK(hasKid(fixture.keys().keys(), "k1"));
    CHECK(fixture.waiters->waiting() == 0);
  }

  TEST_CASE("a wait on an epoch that already moved is done at once, without callback") {
    Fixture fixture;
    auto epoch = fixture.waiters->shouldWaitForKeys(0);
    REQUIRE(epoch.has_value());
    fixture.startAndWaitReady();
    int calls = 0;
    WaitTicket ticket = fixture.waiters->wait(0, *epoch, [&](WaitOutcome) { ++calls; });
    CHECK(startName(ticket.state) == "AlreadyDone");
    testing::runUntil(
        &fixture.loop, [] { return false; }, milliseconds(30));
    CHECK(calls == 0);
    CHECK_FALSE(fixture.waiters->shouldWaitForKeys(0).has_value());
  }

  TEST_CASE("a wait that outlasts the timeout ends with TimedOut") {
    Fixture fixture(milliseconds(100));
    fixture.set(HttpReply{200, {}, "", true});  // the key server hangs
    std::string error;
    REQUIRE(fixture.service->start(&error));
    auto epoch = fixture.waiters->shouldWaitForKeys(0);
    REQUIRE(epoch.has_value());
    std::vector<std::string> outcomes;
    REQUIRE(
        startName(fixture.waiters
                      ->wait(0, *epoch, [&](WaitOutcome o) { outcomes.push_back(outcomeName(o)); })
                      .state) == "Waiting");
    REQUIRE(testing::runUntil(&fixture.loop, [&] { return !outcomes.empty(); }));
    CHECK(outcomes == std::vector<std::string>{"TimedOut"});
    CHECK(fixture.keys().keys() == nullptr);
  }

  TEST_CASE("closing with requests waiting cancels them inside close(), then refuses") {
    Fixture fixture;
    std::vector<std::string> outcomes;
    auto epoch = fixture.waiters->shouldWaitForKeys(0);
    REQUIRE(epoch.has_value());
    for (int i = 0; i < 3; ++i) {
      fixture.waiters->wait(0, *epoch, [&](WaitOutcome o) {
        outcomes.push_back(outcomeName(o));
        // Waiting again from a cancellation is refused.
        CHECK(startName(fixture.waiters->wait(0, *epoch, [](WaitOutcome) {}).state) == "Closed");
      });
    }
    fixture.waiters->close();
    CHECK(outcomes == std::vector<std::string>(3, "Cancelled"));
    CHECK(startName(fixture.waiters->wait(0, *epoch, [](WaitOutcome) {}).state) == "Closed");
    CHECK_FALSE(fixture.waiters->shouldWaitForKeys(0).has_value());
    fixture.waiters->close();  // idempotent
  }

  TEST_CASE("the waiters destroyed while requests wait, and the service then finishing") {
    Fixture fixture;
    int calls = 0;
    auto epoch = fixture.waiters->shouldWaitForKeys(0);
    REQUIRE(epoch.has_value());
    fixture.waiters->wait(0, *epoch, [&](WaitOutcome o) {
      ++calls;
      CHECK(outcomeName(o) == "Cancelled");
    });
    fixture.waiters.reset();
    CHECK(calls == 1);
    std::string error;
    REQUIRE(fixture.service->start(&error));
    REQUIRE(fixture.service->waitUntilReady(seconds(10)));  // notifies no closed handle
    testing::runUntil(
        &fixture.loop, [] { return false; }, milliseconds(30));
    CHECK(calls == 1);
  }

  TEST_CASE("a cancelled waiter is never called; the others still are") {
    Fixture fixture;
    auto epoch = fixture.waiters->shouldWaitForKeys(0);
    REQUIRE(epoch.has_value());
    int cancelled = 0;
    int woken = 0;
    WaitTicket first = fixture.waiters->wait(0, *epoch, [&](WaitOutcome) { ++cancelled; });
    fixture.waiters->wait(0, *epoch, [&](WaitOutcome) { ++woken; });
    fixture.waiters->cancel(first.id);
    fixture.waiters->cancel(first.id);
    fixture.waiters->cancel(424242);
    CHECK(fixture.waiters->waiting() == 1);
    std::string error;
    REQUIRE(fixture.service->start(&error));
    REQUIRE(testing::runUntil(&fixture.loop, [&] { return woken == 1; }));
    CHECK(cancelled == 0);
  }

  TEST_CASE("beyond the limit a request is refused instead of queued") {
    Fixture fixture(milliseconds(5000), 2);
    auto epoch = fixture.waiters->shouldWaitForKeys(0);
    REQUIRE(epoch.has_value());
    CHECK(startName(fixture.waiters->wait(0, *epoch, [](WaitOutcome) {}).state) == "Waiting");
    CHECK(startName(fixture.waiters->wait(0, *epoch, [](WaitOutcome) {}).state) == "Waiting");
    CHECK(startName(fixture.waiters->wait(0, *epoch, [](WaitOutcome) {}).state) == "Full");
    CHECK(startName(fixture.waiters->wait(5, *epoch, [](WaitOutcome) {}).state) == "Closed");
  }

  TEST_CASE("an unknown kid triggers one refetch that finds the rotated key") {
    Fixture fixture;
    fixture.startAndWaitReady();
    CHECK(fixture.server.requests("/jwks") == 1);
    fixture.set(HttpReply{200, {}, jwksWith({"k1", "k2"})});

    auto epoch = fixture.waiters->shouldWaitForKid(0, "k2");
    REQUIRE(epoch.has_value());
    std::vector<std::string> outcomes;
    REQUIRE(
        startName(fixture.waiters
                      ->wait(0, *epoch, [&](WaitOutcome o) { outcomes.push_back(outcomeName(o)); })
                      .state) == "Waiting");
    REQUIRE(testing::runUntil(&fixture.loop, [&] { return !outcomes.empty(); }));
    CHECK(outcomes == std::vector<std::string>{"FetchDone"});
    CHECK(hasKid(fixture.keys().keys(), "k2"));
    CHECK(fixture.server.requests("/jwks") == 2);
  }

  TEST_CASE("a flood of made-up kids costs one fetch per cool-down and queues nothing") {
    Fixture fixture;
    fixture.startAndWaitReady();
    std::mt19937_64 random(7);
    int waited = 0;
    int refused = 0;
    for (int i = 0; i < 5000; ++i) {
      std::string kid = "random-" + std::to_string(random());
      auto epoch = fixture.waiters->shouldWaitForKid(0, kid);
      if (!epoch) {
        ++refused;
        continue;
      }
      // Like the filter: wait, then remember the kid when the refetch did not bring it.
      ++waited;
      bool done = false;
      WaitTicket ticket = fixture.waiters->wait(0, *epoch, [&](WaitOutcome) { done = true; });
      if (ticket.state == WaitStart::Waiting) {
        REQUIRE(testing::runUntil(&fixture.loop, [&] { return done; }));
      }
      CHECK_FALSE(hasKid(fixture.keys().keys(), kid));
      fixture.waiters->rememberUnknownKid(0, kid);
    }
    CHECK(waited == 1);
    CHECK(refused == 4999);
    CHECK(fixture.waiters->waiting() == 0);
    CHECK(fixture.server.requests("/jwks") == 2);
  }

  TEST_CASE("a kid a refetch did not find is refused at once, even while a fetch runs") {
    Fixture fixture;
    fixture.startAndWaitReady();
    fixture.waiters->rememberUnknownKid(0, "bad");
    fixture.set(HttpReply{200, {}, jwksWith({"k1"}), false, false, 300});
    fixture.service->requestRefetch(0);
    REQUIRE(testing::runUntil(&fixture.loop, [&] { return fixture.keys().fetching(); }));
    CHECK_FALSE(fixture.waiters->shouldWaitForKid(0, "bad").has_value());
    CHECK(fixture.waiters->shouldWaitForKid(0, "other").has_value());
  }

  TEST_CASE("every worker's waiters are woken by one fetch") {
    Fixture fixture;
    auto second = KeyWaiters::create(&fixture.loop, *fixture.service);
    REQUIRE(second.ok());
    int woken = 0;
    auto epoch = fixture.waiters->shouldWaitForKeys(0);
    REQUIRE(epoch.has_value());
    fixture.waiters->wait(0, *epoch, [&](WaitOutcome o) { woken += o == WaitOutcome::FetchDone; });
    (*second)->wait(0, *epoch, [&](WaitOutcome o) { woken += o == WaitOutcome::FetchDone; });
    std::string error;
    REQUIRE(fixture.service->start(&error));
    REQUIRE(testing::runUntil(&fixture.loop, [&] { return woken == 2; }));
    (*second)->close();
  }
}

}  // namespace
}  // namespace jwtgate::jwks

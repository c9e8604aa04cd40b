// The libcurl-on-libuv fetcher against a loopback server: responses, refusals, limits,
// timeouts, and each path three ways (at once, later, owner gone while pending), with the
// loop closed cleanly at the end of every case.
#include "jwks/http_fetcher.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "jwks/loop_runner.h"
#include "jwks/loopback_http_server.h"

namespace jwtgate::jwks {
namespace {

using testing::HttpReply;
using testing::LoopbackHttpServer;

std::string name(FetchErrorKind kind) { return std::string(toString(kind)); }

FetchOptions insecureOptions() {
  FetchOptions options;
  options.allow_insecure = true;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.total_timeout = std::chrono::milliseconds(5000);
  return options;
}

// A loop plus a fetcher on it; the destructor checks that the loop closes cleanly.
struct Fixture {
  uv_loop_t loop;
  std::unique_ptr<HttpFetcher> fetcher;

  Fixture() {
    REQUIRE(uv_loop_init(&loop) == 0);
    auto created = HttpFetcher::create(&loop);
    REQUIRE(created.ok());
    fetcher = std::move(*created);
  }

  // Fetches `url` and runs the loop until the callback ran.
  std::optional<FetchResult> get(const std::string& url, const FetchOptions& options) {
    std::optional<FetchResult> result;
    auto started =
        fetcher->fetch(url, options, [&](FetchResult r) { result.emplace(std::move(r)); });
    if (!started) {
      return FetchResult(makeError(started.error()));
    }
    testing::runUntil(&loop, [&] { return result.has_value(); });
    return result;
  }

  void closeAndCheck() {
    fetcher.reset();
    CHECK(testing::finishLoop(&loop) == 0);
  }
};

TEST_SUITE("jwks/http_fetcher") {
  TEST_CASE("a response arrives with its status, body, cache fields and final URL") {
    LoopbackHttpServer server([](const std::string& path) {
      if (path == "/old") {
        return HttpReply{302, {{"Location", "/jwks?x=1"}, {"Cache-Control", "max-age=1"}}, ""};
      }
      return HttpReply{200,
                       {{"Cache-Control", "public"},
                        {"cache-control", "max-age=600"},
                        {"Age", "12"},
                        {"Content-Type", "application/jwk-set+json"}},
                       R"({"keys":[]})"};
    });
    Fixture fixture;
    auto result = fixture.get(server.url("/old"), insecureOptions());
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    const FetchResponse& response = **result;
    CHECK(response.status == 200);
    CHECK(response.body == R"({"keys":[]})");
    CHECK(response.cache_control == "public, max-age=600");
    CHECK(response.age == "12");
    CHECK(response.content_type == "application/jwk-set+json");
    CHECK(response.url == server.url("/jwks?x=1"));
    CHECK(server.requests("/old") == 1);
    CHECK(server.requests("/jwks?x=1") == 1);
    CHECK(fixture.fetcher->pendingCount() == 0);
    fixture.closeAndCheck();
  }

  TEST_CASE("Accept and If-None-Match are sent; a valid ETag comes back; 304 is a response") {
    LoopbackHttpServer server([](const std::string& path) {
      if (path == "/jwks") {
        return HttpReply{200, {{"ETag", "W/\"v1-abc\""}}, R"({"keys":[]})"};
      }
      if (path == "/unchanged") {
        return HttpReply{304, {{"ETag", "\"v1\""}, {"Cache-Control", "max-age=60"}}, ""};
      }
      if (path == "/two-tags") {
        return HttpReply{200, {{"ETag", "\"a\""}, {"ETag", "\"b\""}}, "{}"};
      }
      return HttpReply{200, {{"ETag", "unquoted"}}, "{}"};
    });
    Fixture fixture;
    FetchOptions options = insecureOptions();
    options.accept = "application/jwk-set+json, application/json";

    auto first = fixture.get(server.url("/jwks"), options);
    REQUIRE(first.has_value());
    REQUIRE(first->ok());
    CHECK((*first)->etag == "W/\"v1-abc\"");
    const std::string plain_head = server.lastHead("/jwks");
    CHECK(plain_head.find("\r\nAccept: application/jwk-set+json, application/json") !=
          std::string::npos);
    CHECK(plain_head.find("If-None-Match") == std::string::npos);

    options.if_none_match = "\"v1\"";
    auto unchanged = fixture.get(server.url("/unchanged"), options);
    REQUIRE(unchanged.has_value());
    REQUIRE(unchanged->ok());
    CHECK((*unchanged)->status == 304);
    CHECK((*unchanged)->body.empty());
    CHECK((*unchanged)->cache_control == "max-age=60");
    CHECK(server.lastHead("/unchanged").find("\r\nIf-None-Match: \"v1\"") != std::string::npos);

    // What is not a valid entity-tag is neither sent nor kept.
    options.if_none_match = "\"v1\"\r\nX-Injected: 1";
    auto other = fixture.get(server.url("/other"), options);
    REQUIRE(other.has_value());
    REQUIRE(other->ok());
    CHECK((*other)->etag.empty());
    CHECK(server.lastHead("/other").find("If-None-Match") == std::string::npos);
    CHECK(server.lastHead("/other").find("X-Injected") == std::string::npos);

    auto two = fixture.get(server.url("/two-tags"), options);
    REQUIRE(two.has_value());
    REQUIRE(two->ok());
    CHECK((*two)->etag.empty());
    fixture.closeAndCheck();
  }

  TEST_CASE("entity-tags: quoted visible ASCII, optionally weak, bounded") {
    CHECK(isValidEntityTag("\"\""));
    CHECK(isValidEntityTag("\"abc\""));
    CHECK(isValidEntityTag("W/\"abc\""));
    CHECK(isValidEntityTag("\"a!#~\""));
    CHECK_FALSE(isValidEntityTag(""));
    CHECK_FALSE(isValidEntityTag("abc"));
    CHECK_FALSE(isValidEntityTag("\"abc"));
    CHECK_FALSE(isValidEntityTag("w/\"abc\""));
    CHECK_FALSE(isValidEntityTag("\"a\"b\""));
    CHECK_FALSE(isValidEntityTag("\"a b\""));
    CHECK_FALSE(isValidEntityTag("\"a\r\nb\""));
    CHECK_FALSE(isValidEntityTag("\"caf\xc3\xa9\""));
    CHECK(isValidEntityTag("\"" + std::string(254, 'x') + "\""));
    CHECK_FALSE(isValidEntityTag("\"" + std::string(255, 'x') + "\""));
  }

  TEST_CASE("error statuses are responses too; the caller decides") {
    LoopbackHttpServer server([](const std::string&) { return HttpReply{503, {}, "busy"}; });
    Fixture fixture;
    auto result = fixture.get(server.url("/jwks"), insecureOptions());
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    CHECK((*result)->status == 503);
    CHECK((*result)->body == "busy");
    fixture.closeAndCheck();
  }

  TEST_CASE("URLs with a scheme that is not allowed are refused at once, without callback") {
    Fixture fixture;
    FetchOptions secure;
    FetchOptions insecure = insecureOptions();
    struct Row {
      const char* url;
      const FetchOptions* options;
    };
    const Row rows[] = {{"http://127.0.0.1:1/jwks", &secure},
                        {"file:///etc/passwd", &secure},
                        {"file:///etc/passwd", &insecure},
                        {"ftp://127.0.0.1/jwks", &insecure},
                        {"gopher://127.0.0.1/", &insecure},
                        {"127.0.0.1/jwks", &insecure},
                        {"", &insecure}};
    int callbacks = 0;
    for (const Row& row : rows) {
      CAPTURE(std::string(row.url));
      auto started =
          fixture.fetcher->fetch(row.url, *row.options, [&](FetchResult) { ++callbacks; });
      REQUIRE_FALSE(started.ok());
      CHECK(name(started.error().kind) == name(FetchErrorKind::Refused));
    }
    testing::runUntil(
        &fixture.loop, [] { return false; }, std::chrono::milliseconds(50));
    CHECK(callbacks == 0);
    CHECK(fixture.fetcher->pendingCount() == 0);
    fixture.closeAndCheck();
  }

  TEST_CASE("redirects are followed within the limit and never to another protocol") {
    LoopbackHttpServer server([&](const std::string& path) {
      if (path == "/file") {
        return HttpReply{302, {{"Location", "file:///etc/passwd"}}, ""};
      }
      if (path.rfind("/hop/", 0) == 0) {
        int n = std::stoi(path.substr(5));
        return HttpReply{
            302, {{"Location", n == 0 ? "/done" : "/hop/" + std::to_string(n - 1)}}, ""};
      }
      return HttpReply{200, {}, "done"};
    });
    Fixture fixture;
    FetchOptions options = insecureOptions();
    options.max_redirects = 3;

    auto within = fixture.get(server.url("/hop/2"), options);  // three redirects
    REQUIRE(within.has_value());
    REQUIRE(within->ok());
    CHECK((*within)->body == "done");

    auto beyond = fixture.get(server.url("/hop/3"), options);  // four
    REQUIRE(beyond.has_value());
    REQUIRE_FALSE(beyond->ok());
    CHECK(name(beyond->error().kind) == name(FetchErrorKind::TooManyRedirects));

    auto to_file = fixture.get(server.url("/file"), options);
    REQUIRE(to_file.has_value());
    REQUIRE_FALSE(to_file->ok());
    CHECK(name(to_file->error().kind) == name(FetchErrorKind::Refused));
    fixture.closeAndCheck();
  }

  TEST_CASE("an https fetch may not be redirected to plain http") {
    // The redirect never happens here (no TLS server), but the options curl gets must refuse
    // it: an https-only fetch of an http URL is refused before any connection.
    Fixture fixture;
    FetchOptions options;
    auto started = fixture.fetcher->fetch("http://127.0.0.1:9/", options, [](FetchResult) {});
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().message.find("allow_insecure") != std::string::npos);
    fixture.closeAndCheck();
  }

  TEST_CASE("bodies over the cap fail, announced or not") {
    const std::string big(5000, 'x');
    LoopbackHttpServer server([&](const std::string& path) {
      HttpReply reply{200, {}, big};
      reply.chunked = path == "/chunked";
      return reply;
    });
    Fixture fixture;
    FetchOptions options = insecureOptions();
    options.max_body_bytes = 4096;
    for (const char* path : {"/sized", "/chunked"}) {
      CAPTURE(std::string(path));
      auto result = fixture.get(server.url(path), options);
      REQUIRE(result.has_value());
      REQUIRE_FALSE(result->ok());
      CHECK(name(result->error().kind) == name(FetchErrorKind::TooLarge));
    }
    options.max_body_bytes = 5000;
    auto exact = fixture.get(server.url("/chunked"), options);
    REQUIRE(exact.has_value());
    REQUIRE(exact->ok());
    CHECK((*exact)->body.size() == 5000);
    fixture.closeAndCheck();
  }

  TEST_CASE("a refused connection fails on a later turn of the loop") {
    int port = 0;
    {
      LoopbackHttpServer gone([](const std::string&) { return HttpReply{}; });
      port = gone.port();
    }
    Fixture fixture;
    bool called = false;
    std::optional<FetchResult> result;
    auto started = fixture.fetcher->fetch("http://127.0.0.1:" + std::to_string(port) + "/jwks",
                                          insecureOptions(), [&](FetchResult r) {
                                            called = true;
                                            result.emplace(std::move(r));
                                          });
    REQUIRE(started.ok());
    CHECK_FALSE(called);  // never from inside fetch()
    testing::runUntil(&fixture.loop, [&] { return called; });
    REQUIRE(result.has_value());
    REQUIRE_FALSE(result->ok());
    CHECK(name(result->error().kind) == name(FetchErrorKind::Connect));
    fixture.closeAndCheck();
  }

  TEST_CASE("a server that never answers fails with a timeout") {
    LoopbackHttpServer server([](const std::string&) {
      HttpReply reply;
      reply.hang = true;
      return reply;
    });
    Fixture fixture;
    FetchOptions options = insecureOptions();
    options.total_timeout = std::chrono::milliseconds(300);
    auto result = fixture.get(server.url("/jwks"), options);
    REQUIRE(result.has_value());
    REQUIRE_FALSE(result->ok());
    CHECK(name(result->error().kind) == name(FetchErrorKind::Timeout));
    fixture.closeAndCheck();
  }

  TEST_CASE("a cancelled fetch never calls back, and others go on") {
    LoopbackHttpServer server([](const std::string& path) {
      HttpReply reply{200, {}, path};
      reply.hang = path == "/slow";
      return reply;
    });
    Fixture fixture;
    int cancelled_calls = 0;
    std::optional<FetchResult> other;
    auto slow = fixture.fetcher->fetch(server.url("/slow"), insecureOptions(),
                                       [&](FetchResult) { ++cancelled_calls; });
    auto fast = fixture.fetcher->fetch(server.url("/fast"), insecureOptions(),
                                       [&](FetchResult r) { other.emplace(std::move(r)); });
    REQUIRE(slow.ok());
    REQUIRE(fast.ok());
    CHECK(*slow != *fast);
    testing::runUntil(&fixture.loop, [&] { return server.requests("/slow") == 1; });
    fixture.fetcher->cancel(*slow);
    fixture.fetcher->cancel(*slow);   // twice is harmless
    fixture.fetcher->cancel(999999);  // unknown too
    testing::runUntil(&fixture.loop, [&] { return other.has_value(); });
    REQUIRE(other.has_value());
    REQUIRE(other->ok());
    CHECK((*other)->body == "/fast");
    CHECK(cancelled_calls == 0);
    fixture.closeAndCheck();
  }

  TEST_CASE("closing with fetches pending ends them with Cancelled, inside close()") {
    LoopbackHttpServer server([](const std::string&) {
      HttpReply reply;
      reply.hang = true;
      return reply;
    });
    Fixture fixture;
    std::vector<std::string> outcomes;
    for (int i = 0; i < 3; ++i) {
      auto started =
          fixture.fetcher->fetch(server.url("/hang"), insecureOptions(), [&](FetchResult r) {
            REQUIRE_FALSE(r.ok());
            outcomes.push_back(name(r.error().kind));
            // Starting anew from a cancellation fails.
            auto again =
                fixture.fetcher->fetch(server.url("/x"), insecureOptions(), [](FetchResult) {});
            CHECK_FALSE(again.ok());
          });
      REQUIRE(started.ok());
    }
    testing::runUntil(&fixture.loop, [&] { return server.requests("/hang") == 3; });
    CHECK(fixture.fetcher->pendingCount() == 3);
    fixture.fetcher->close();
    CHECK(outcomes == std::vector<std::string>(3, name(FetchErrorKind::Cancelled)));
    fixture.fetcher->close();  // idempotent
    CHECK_FALSE(
        fixture.fetcher->fetch(server.url("/y"), insecureOptions(), [](FetchResult) {}).ok());
    fixture.closeAndCheck();
  }

  TEST_CASE("destroying the fetcher while a fetch is pending leaves no handle behind") {
    LoopbackHttpServer server([](const std::string&) {
      HttpReply reply;
      reply.hang = true;
      return reply;
    });
    Fixture fixture;
    bool called = false;
    auto started = fixture.fetcher->fetch(server.url("/hang"), insecureOptions(),
                                          [&](FetchResult) { called = true; });
    REQUIRE(started.ok());
    testing::runUntil(&fixture.loop, [&] { return server.requests("/hang") == 1; });
    fixture.closeAndCheck();  // destroys it with the fetch in flight
    CHECK(called);            // with Cancelled, as close() documents
  }

  TEST_CASE("a callback may start the next fetch and cancel a sibling") {
    LoopbackHttpServer server([](const std::string& path) {
      HttpReply reply{200, {}, path};
      reply.hang = path == "/hang";
      return reply;
    });
    Fixture fixture;
    std::vector<std::string> bodies;
    std::uint64_t hanging = 0;
    auto first = fixture.fetcher->fetch(server.url("/a"), insecureOptions(), [&](FetchResult r) {
      REQUIRE(r.ok());
      bodies.push_back(r->body);
      fixture.fetcher->cancel(hanging);
      auto next = fixture.fetcher->fetch(server.url("/b"), insecureOptions(), [&](FetchResult s) {
        REQUIRE(s.ok());
        bodies.push_back(s->body);
      });
      CHECK(next.ok());
    });
    auto hang = fixture.fetcher->fetch(server.url("/hang"), insecureOptions(),
                                       [&](FetchResult) { bodies.push_back("hang!"); });
    REQUIRE(first.ok());
    REQUIRE(hang.ok());
    hanging = *hang;
    testing::runUntil(&fixture.loop, [&] { return bodies.size() >= 2; });
    CHECK(bodies == std::vector<std::string>{"/a", "/b"});
    CHECK(fixture.fetcher->pendingCount() == 0);
    fixture.closeAndCheck();
  }

  TEST_CASE("log URLs lose userinfo, query and fragment") {
    CHECK(redactUrl("https://user:pw@id.example:8443/a/b?token=x#f") ==
          "https://id.example:8443/a/b");
    CHECK(redactUrl("https://id.example") == "https://id.example");
    CHECK(redactUrl("https://id.example?x") == "https://id.example");
    CHECK(redactUrl("http://127.0.0.1:9/jwks") == "http://127.0.0.1:9/jwks");
  }
}

}  // namespace
}  // namespace jwtgate::jwks

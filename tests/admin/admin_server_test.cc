// The admin listener on a real loop, driven over loopback sockets: the three endpoints,
// binding (IPv4, IPv6, an address in use) and closing with connections still open.
#include "admin/admin_server.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "admin_fixture.h"
#include "raw_http_client.h"

namespace jwtgate::admin {
namespace {

using testing::AdminFixture;
using testing::RawClient;
using testing::RawResponse;

constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

std::string get(std::string_view target, std::string_view method = "GET") {
  return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: admin\r\n\r\n";
}

TEST_SUITE("admin/server") {
  TEST_CASE("/metrics answers the handler's text as Prometheus exposition") {
    std::string text;
    for (int i = 0; i < 2000; ++i) {  // larger than one socket write
      text += "jwtgate_test_series{n=\"" + std::to_string(i) + "\"} " + std::to_string(i) + "\n";
    }
    AdminFixture admin({}, AF_INET, text);
    RawClient client(admin.port());
    REQUIRE(client.send(get("/metrics")));
    auto response = client.read();
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(response->header("content-type") == kMetricsType);
    CHECK(response->header("content-length") == std::to_string(text.size()));
    CHECK(response->body == text);
    CHECK(response->header("connection").empty());
    CHECK(admin.metrics_calls.load() == 1);
  }

  TEST_CASE("/healthz and /readyz answer 200 or 503 as their handlers decide") {
    AdminFixture admin;
    RawClient client(admin.port());
    struct Row {
      bool healthy, ready;
    };
    for (Row row : {Row{true, true}, Row{false, true}, Row{true, false}, Row{false, false}}) {
      CAPTURE(row.healthy);
      CAPTURE(row.ready);
      admin.healthy = row.healthy;
      admin.ready = row.ready;
      REQUIRE(client.send(get("/healthz") + get("/readyz?probe=kubelet")));
      auto health = client.read();
      auto ready = client.read();
      REQUIRE(health);
      REQUIRE(ready);
      CHECK(health->status == (row.healthy ? 200 : 503));
      CHECK(ready->status == (row.ready ? 200 : 503));
      CHECK(health->header("content-type") == "application/json");
      CHECK(ready->header("content-type") == "application/json");
      CHECK(health->body == (row.healthy ? R"({"status":"ok","workers":2})"
                                         : R"({"status":"stalled","stalled_workers":[1]})"));
      CHECK(ready->body == (row.ready ? R"({"status":"ready"})"
                                      : R"({"status":"not_ready","reasons":["draining"]})"));
    }
  }

  TEST_CASE("HEAD sends the headers of GET and no body") {
    AdminFixture admin;
    RawClient client(admin.port());
    REQUIRE(client.send(get("/metrics", "HEAD") + get("/healthz", "HEAD") + get("/healthz")));
    auto metrics = client.read(true);
    auto health_head = client.read(true);
    // The next bytes on the wire must be the third response, not a body: read() fails on
    // anything that does not start with a status line.
    auto health = client.read();
    REQUIRE(metrics);
    REQUIRE(health_head);
    REQUIRE(health);
    CHECK(metrics->status == 200);
    CHECK(metrics->header("content-type") == kMetricsType);
    CHECK(metrics->header("content-length") == "18");  // "jwtgate_workers 2\n"
    CHECK(health_head->header("content-length") == health->header("content-length"));
    CHECK(health_head->header("content-type") == health->header("content-type"));
    CHECK(health->body == R"({"status":"ok","workers":2})");
    CHECK(admin.metrics_calls.load() == 1);
  }

  TEST_CASE("other methods get 405 with Allow and the connection stays usable") {
    AdminFixture admin;
    RawClient client(admin.port());
    for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
      CAPTURE(method);
      REQUIRE(client.send(get("/metrics", method)));
      auto response = client.read();
      REQUIRE(response);
      CHECK(response->status == 405);
      CHECK(response->header("allow") == "GET, HEAD");
      CHECK(response->header("content-type") == "text/plain; charset=utf-8");
      CHECK(response->header("content-length") == std::to_string(response->body.size()));
    }
    REQUIRE(client.send(get("/readyz")));
    auto after = client.read();
    REQUIRE(after);
    CHECK(after->status == 200);
    CHECK(admin.metrics_calls.load() == 0);
  }

  TEST_CASE("unknown paths get 404") {
    AdminFixture admin;
    RawClient client(admin.port());
    for (const char* target : {"/", "/metrics/", "/metricsz", "/health", "/readyz/x", "/a?b"}) {
      CAPTURE(target);
      REQUIRE(client.send(get(target)));
      auto response = client.read();
      REQUIRE(response);
      CHECK(response->status == 404);
      CHECK(response->header("content-length") == std::to_string(response->body.size()));
      CHECK(!response->header("content-type").empty());
    }
  }

  TEST_CASE("an IPv6 loopback address is served and reported in brackets") {
    int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (probe < 0) {
      MESSAGE("IPv6 unavailable: case skipped");
      return;
    }
    ::close(probe);
    AdminFixture admin({}, AF_INET6);
    CHECK(admin.bound().rfind("[::1]:", 0) == 0);
    CHECK(admin.port() != 0);
    RawClient client(admin.port(), AF_INET6);
    REQUIRE(client.send(get("/healthz")));
    auto response = client.read();
    REQUIRE(response);
    CHECK(response->status == 200);
  }

  TEST_CASE("the bound address names the kernel's port") {
    AdminFixture admin;
    CHECK(admin.bound() == "127.0.0.1:" + std::to_string(admin.port()));
    CHECK(admin.port() != 0);
  }

  TEST_CASE("an address in use is refused with a message naming it, leaving the loop empty") {
    AdminFixture first;
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    proxy::ListenAddress taken = testing::loopbackAddress(first.port());
    auto second = AdminServer::start(&loop, taken, AdminHandlers{});
    REQUIRE_FALSE(second.ok());
    CHECK(second.error() ==
          "admin listen 127.0.0.1:" + std::to_string(first.port()) + ": address already in use");
    CHECK(uv_loop_close(&loop) == 0);  // nothing was left on the loop
  }

  TEST_CASE("an address that is not IP is refused") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    proxy::ListenAddress none;
    none.text = "nowhere";
    auto server = AdminServer::start(&loop, none, AdminHandlers{});
    REQUIRE_FALSE(server.ok());
    CHECK(server.error().rfind("admin listen nowhere: ", 0) == 0);
    CHECK(uv_loop_close(&loop) == 0);
  }

  TEST_CASE("close() with connections in every state ends the loop cleanly") {
    std::string big(512 * 1024, 'x');
    big.back() = '\n';
    AdminFixture admin({}, AF_INET, big);

    // One idle after a response, one mid-head, one with unread responses queued, one that
    // never sent anything.
    RawClient idle(admin.port());
    REQUIRE(idle.send(get("/healthz")));
    REQUIRE(idle.read());
    RawClient partial(admin.port());
    REQUIRE(partial.send("GET /metrics HTTP/1.1\r\nHost: a"));
    RawClient flooded(admin.port());
    std::string many;
    for (int i = 0; i < 8; ++i) {
      many += get("/metrics");
    }
    REQUIRE(flooded.send(many));
    RawClient silent(admin.port());
    // Wait until the flooded client's requests have been seen (its first bytes arrive).
    REQUIRE(flooded.fill());

    admin.stop();  // joins the loop thread and checks uv_loop_close

    CHECK(idle.closedByServer());
    CHECK(partial.closedByServer());
    CHECK(silent.closedByServer());
    CHECK(flooded.readUntilClosed());
  }
}

}  // namespace
}  // namespace jwtgate::admin

// Routing and framing of admin responses, without a socket: which handler answers which
// method and path, and the exact headers of the bytes sent.
#include "admin/admin_reply.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

namespace jwtgate::admin {
namespace {

struct Calls {
  int metrics = 0;
  int healthz = 0;
  int readyz = 0;
};

AdminHandlers countingHandlers(Calls* calls, bool healthy, bool ready) {
  AdminHandlers h;
  h.metrics = [calls] {
    calls->metrics++;
    return std::string("m 1\n");
  };
  h.healthz = [calls, healthy](std::string* body) {
    calls->healthz++;
    *body = "{\"h\":" + std::to_string(calls->healthz) + "}";
    return healthy;
  };
  h.readyz = [calls, ready](std::string* body) {
    calls->readyz++;
    *body = "{\"r\":" + std::to_string(calls->readyz) + "}";
    return ready;
  };
  return h;
}

TEST_SUITE("admin/reply") {
  TEST_CASE("each path reaches its own handler, query string ignored") {
    struct Row {
      const char* target;
      int status;
      int metrics, healthz, readyz;
    };
    const Row rows[] = {
        {"/metrics", 200, 1, 0, 0},
        {"/metrics?name[]=x", 200, 1, 0, 0},
        {"/healthz", 200, 0, 1, 0},
        {"/healthz?", 200, 0, 1, 0},
        {"/readyz", 200, 0, 0, 1},
        {"/readyz?verbose=1", 200, 0, 0, 1},
        {"/", 404, 0, 0, 0},
        {"/metrics/", 404, 0, 0, 0},
        {"/Metrics", 404, 0, 0, 0},
        {"/metricsx", 404, 0, 0, 0},
        {"/healthz/x", 404, 0, 0, 0},
        {"*", 404, 0, 0, 0},
        {"http://a/metrics", 404, 0, 0, 0},
        {"/%6Detrics", 404, 0, 0, 0},
    };
    for (const Row& row : rows) {
      CAPTURE(row.target);
      Calls calls;
      AdminReply reply = routeAdminRequest("GET", row.target, countingHandlers(&calls, true, true));
      CHECK(reply.status == row.status);
      CHECK(calls.metrics == row.metrics);
      CHECK(calls.healthz == row.healthz);
      CHECK(calls.readyz == row.readyz);
    }
  }

  TEST_CASE("health handlers pick 200 or 503 and supply the JSON body") {
    for (bool ok : {true, false}) {
      CAPTURE(ok);
      Calls calls;
      AdminHandlers h = countingHandlers(&calls, ok, ok);
      AdminReply health = routeAdminRequest("GET", "/healthz", h);
      AdminReply ready = routeAdminRequest("HEAD", "/readyz", h);
      CHECK(health.status == (ok ? 200 : 503));
      CHECK(ready.status == (ok ? 200 : 503));
      CHECK(health.body == "{\"h\":1}");
      CHECK(ready.body == "{\"r\":1}");
      CHECK(health.content_type == "application/json");
      CHECK(ready.content_type == "application/json");
    }
  }

  TEST_CASE("methods other than GET and HEAD are refused before any handler runs") {
    for (const char* method :
         {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get"}) {
      CAPTURE(method);
      Calls calls;
      AdminReply reply = routeAdminRequest(method, "/metrics", countingHandlers(&calls, 1, 1));
      CHECK(reply.status == 405);
      CHECK(reply.allow_header);
      CHECK(calls.metrics == 0);
    }
  }

  TEST_CASE("a missing handler leaves its path unknown") {
    AdminHandlers none;
    for (const char* target : {"/metrics", "/healthz", "/readyz"}) {
      CAPTURE(target);
      CHECK(routeAdminRequest("GET", target, none).status == 404);
    }
  }

  TEST_CASE("a throwing handler gives 500 instead of escaping") {
    AdminHandlers h;
    h.metrics = []() -> std::string { throw std::runtime_error("boom"); };
    h.healthz = [](std::string*) -> bool { throw 7; };
    AdminReply metrics = routeAdminRequest("GET", "/metrics", h);
    CHECK(metrics.status == 500);
    CHECK(metrics.body.find("boom") == std::string::npos);
    CHECK(routeAdminRequest("GET", "/healthz", h).status == 500);
  }

  TEST_CASE("serialized replies carry type and length, HEAD leaves the body out") {
    AdminReply reply;
    reply.status = 503;
    reply.content_type = "application/json";
    reply.body = "{\"status\":\"not_ready\"}";
    std::string full = serializeReply(reply, false, false);
    CHECK(full ==
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Content-Length: 22\r\nCache-Control: no-store\r\n\r\n{\"status\":\"not_ready\"}");
    std::string head = serializeReply(reply, true, true);
    CHECK(head ==
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Content-Length: 22\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
  }

  TEST_CASE("error replies are short fixed texts with an Allow field only on 405") {
    for (int status : {400, 404, 405, 408, 413, 431, 500, 505}) {
      CAPTURE(status);
      AdminReply reply = errorReply(status);
      CHECK(reply.status == status);
      CHECK(reply.content_type == "text/plain; charset=utf-8");
      CHECK(!reply.body.empty());
      CHECK(reply.body.size() < 64);
      CHECK_FALSE(reply.allow_header);
    }
    AdminReply refused = routeAdminRequest("POST", "/x", AdminHandlers{});
    std::string bytes = serializeReply(refused, false, false);
    CHECK(bytes.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);
    CHECK(bytes.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0);
  }
}

}  // namespace
}  // namespace jwtgate::admin

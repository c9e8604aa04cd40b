// Admin connections over loopback: pipelining, keep-alive, closing rules, the head limit,
// malformed and body-carrying requests, the connection cap and the timeouts.
#include <doctest/doctest.h>
#include <poll.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_reply.h"
#include "admin_fixture.h"
#include "raw_http_client.h"

namespace jwtgate::admin {
namespace {

using testing::AdminFixture;
using testing::RawClient;

std::string get(std::string_view target, std::string_view extra = "",
                std::string_view version = "HTTP/1.1") {
  return "GET " + std::string(target) + " " + std::string(version) + "\r\nHost: admin\r\n" +
         std::string(extra) + "\r\n";
}

AdminOptions shortTimeouts(uint64_t header_ms, uint64_t idle_ms) {
  AdminOptions options;
  options.header_timeout_ms = header_ms;
  options.idle_timeout_ms = idle_ms;
  return options;
}

// `count` keep-alive connections, each known to be registered by the answer it got, served
// in order and left idle.
std::vector<std::unique_ptr<RawClient>> openServed(AdminFixture& admin, int count) {
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(std::make_unique<RawClient>(admin.port()));
    REQUIRE(clients.back()->send(get("/healthz")));
    REQUIRE(clients.back()->read());
  }
  return clients;
}

// `count` connections in the middle of a request head. Each sends a whole request and the
// start of the next in one segment, so by the time its answer arrives the server has also
// taken the partial head (both are parsed in the same loop callback).
std::vector<std::unique_ptr<RawClient>> openBusy(AdminFixture& admin, int count) {
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(std::make_unique<RawClient>(admin.port()));
    REQUIRE(clients.back()->send(get("/healthz") + "GET /healthz HTTP/1.1\r\nHost: a"));
    REQUIRE(clients.back()->read());
  }
  return clients;
}

TEST_SUITE("admin/connection") {
  TEST_CASE("pipelined requests are answered in order") {
    AdminFixture admin;
    admin.ready = false;
    RawClient client(admin.port());
    REQUIRE(client.send(get("/readyz") + get("/nope") + get("/metrics") + get("/healthz")));
    auto ready = client.read();
    auto missing = client.read();
    auto metrics = client.read();
    auto health = client.read();
    REQUIRE(ready);
    REQUIRE(missing);
    REQUIRE(metrics);
    REQUIRE(health);
    CHECK(ready->status == 503);
    CHECK(missing->status == 404);
    CHECK(metrics->status == 200);
    CHECK(metrics->body == "jwtgate_workers 2\n");
    CHECK(health->status == 200);
    CHECK(health->body == R"({"status":"ok","workers":2})");
  }

  TEST_CASE("requests split at every byte are parsed the same") {
    AdminFixture admin;
    RawClient client(admin.port());
    std::string request = get("/healthz?x=1", "Accept: */*\r\n");
    for (size_t split = 1; split < request.size(); split += 7) {
      CAPTURE(split);
      REQUIRE(client.send(request.substr(0, split)));
      REQUIRE(client.send(request.substr(split)));
      auto response = client.read();
      REQUIRE(response);
      CHECK(response->status == 200);
    }
  }

  TEST_CASE("a keep-alive connection serves request after request") {
    AdminFixture admin;
    RawClient client(admin.port());
    for (int i = 0; i < 5; ++i) {
      CAPTURE(i);
      REQUIRE(client.send(get("/metrics")));
      auto response = client.read();
      REQUIRE(response);
      CHECK(response->status == 200);
      CHECK(response->header("connection").empty());
    }
    CHECK(admin.metrics_calls.load() == 5);
  }

  TEST_CASE("Connection: close and HTTP/1.0 close after the response") {
    struct Row {
      const char* name;
      std::string request;
    };
    const Row rows[] = {
        {"close", get("/healthz", "Connection: close\r\n")},
        {"close, listed", get("/healthz", "Connection: foo, close\r\n")},
        {"1.0", get("/healthz", "", "HTTP/1.0")},
        {"1.0 keep-alive", get("/healthz", "Connection: keep-alive\r\n", "HTTP/1.0")},
        {"close then more", get("/healthz", "Connection: close\r\n") + get("/metrics")},
    };
    AdminFixture admin;
    for (const Row& row : rows) {
      CAPTURE(row.name);
      RawClient client(admin.port());
      REQUIRE(client.send(row.request));
      auto response = client.read();
      REQUIRE(response);
      CHECK(response->status == 200);
      CHECK(response->header("connection") == "close");
      CHECK(client.closedByServer());
    }
    CHECK(admin.metrics_calls.load() == 0);  // nothing after a close is answered
  }

  TEST_CASE("a client that half-closes after pipelining still gets every answer") {
    AdminFixture admin;
    RawClient client(admin.port());
    REQUIRE(client.send(get("/healthz") + get("/metrics") + get("/readyz")));
    client.shutdownWrite();
    for (int status : {200, 200, 200}) {
      auto response = client.read();
      REQUIRE(response);
      CHECK(response->status == status);
    }
    CHECK(client.closedByServer());
  }

  TEST_CASE("a head over 8 KiB gets 431 and the connection closes") {
    AdminFixture admin;

    // Just under the limit is fine.
    std::string base = get("/healthz", "X-Pad: \r\n");
    std::string fits = get("/healthz", "X-Pad: " + std::string(8192 - base.size(), 'a') + "\r\n");
    REQUIRE(fits.size() == 8192);
    RawClient ok(admin.port());
    REQUIRE(ok.send(fits));
    auto accepted = ok.read();
    REQUIRE(accepted);
    CHECK(accepted->status == 200);

    for (size_t pad : {8192 - base.size() + 1, size_t{9000}, size_t{64000}}) {
      CAPTURE(pad);
      RawClient client(admin.port());
      client.send(get("/healthz", "X-Pad: " + std::string(pad, 'a') + "\r\n"));
      auto response = client.read();
      REQUIRE(response);
      CHECK(response->status == 431);
      CHECK(response->header("connection") == "close");
      CHECK(client.readUntilClosed());
    }

    // Also a head that never ends (no CRLF CRLF at all).
    RawClient endless(admin.port());
    endless.send("GET /healthz HTTP/1.1\r\nX-A: " + std::string(20000, 'b'));
    auto response = endless.read();
    REQUIRE(response);
    CHECK(response->status == 431);
  }

  TEST_CASE("malformed requests get 400 and the connection closes") {
    const char* rows[] = {
        "GARBAGE\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n",    // whitespace before the colon
        "GET /healthz HTTP/1.1\nHost: a\n\n",           // bare LF (strict mode)
        "GET /healthz HTTP/9.9\r\n\r\n",                // no such version
        "GET /hea\x01lthz HTTP/1.1\r\n\r\n",            // control byte in the target
        "GET /healthz HTTP/1.1\r\nX-A: a\x7f\r\n\r\n",  // DEL in a value
        "GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",              // the HTTP/2 preface
    };
    AdminFixture admin;
    for (std::string row : rows) {
      CAPTURE(row);
      RawClient client(admin.port());
      REQUIRE(client.send(row));
      auto response = client.read();
      REQUIRE(response);
      CHECK(response->status == 400);
      CHECK(response->header("connection") == "close");
      CHECK(response->header("content-type") == "text/plain; charset=utf-8");
      CHECK(client.closedByServer());
    }
    CHECK(admin.metrics_calls.load() == 0);
  }

  TEST_CASE("an HTTP/0.9 request line gets 505 and the connection closes") {
    AdminFixture admin;
    RawClient client(admin.port());
    REQUIRE(client.send("GET /metrics\r\n\r\n"));
    auto response = client.read();
    REQUIRE(response);
    CHECK(response->status == 505);
    CHECK(response->header("connection") == "close");
    CHECK(client.closedByServer());
    CHECK(admin.metrics_calls.load() == 0);
  }

  TEST_CASE("request bodies are refused and the connection closes") {
    struct Row {
      std::string request;
      int status;
    };
    const Row rows[] = {
        {get("/metrics", "Content-Length: 5\r\n") + "hello", 413},
        {get("/metrics", "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\n\r\n", 413},
        {"HEAD /metrics HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 413},
        {"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405},
    };
    AdminFixture admin;
    for (const Row& row : rows) {
      CAPTURE(row.request);
      RawClient client(admin.port());
      REQUIRE(client.send(row.request + get("/metrics")));
      auto response = client.read();
      REQUIRE(response);
      CHECK(response->status == row.status);
      CHECK(response->header("connection") == "close");
      CHECK(client.closedByServer());
    }
    CHECK(admin.metrics_calls.load() == 0);

    // An explicit empty body is no body.
    RawClient empty(admin.port());
    REQUIRE(empty.send(get("/metrics", "Content-Length: 0\r\n")));
    auto response = empty.read();
    REQUIRE(response);
    CHECK(response->status == 200);
  }

  TEST_CASE("an upgrade request is answered and the connection closes") {
    AdminFixture admin;
    RawClient client(admin.port());
    REQUIRE(client.send(get("/healthz", "Connection: upgrade\r\nUpgrade: websocket\r\n") +
                        "\x81\x05hello"));
    auto response = client.read();
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(response->header("connection") == "close");
    CHECK(client.closedByServer());
  }

  TEST_CASE("at the cap the connection idle the longest makes room for a new one") {
    AdminFixture admin(shortTimeouts(60'000, 60'000));
    AdminOptions defaults;
    REQUIRE(defaults.max_connections == 64);

    // 64 keep-alive connections, each registered (it got its answer) and now idle; the
    // first was served first, so it has been idle the longest.
    std::vector<std::unique_ptr<RawClient>> open = openServed(admin, 64);

    // A probe beyond the cap is answered.
    RawClient probe(admin.port());
    REQUIRE(probe.send(get("/healthz")));
    auto health = probe.read();
    REQUIRE(health);
    CHECK(health->status == 200);
    CHECK(health->body == R"({"status":"ok","workers":2})");

    // The first connection was closed for it, without a response; every other one works.
    CHECK(open.front()->closedByServer());
    CHECK(open.front()->pending().empty());
    for (size_t i = 1; i < open.size(); ++i) {
      CAPTURE(i);
      REQUIRE(open[i]->send(get("/readyz")));
      auto response = open[i]->read();
      REQUIRE(response);
      CHECK(response->status == 200);
    }
    REQUIRE(probe.send(get("/readyz")));
    REQUIRE(probe.read());
  }

  TEST_CASE("at the cap a busy connection is never closed for a new one") {
    AdminFixture admin(shortTimeouts(60'000, 60'000));

    // 63 connections in the middle of a request head, then one idle: the idle one has the
    // latest activity, yet it is the one that gives way.
    std::vector<std::unique_ptr<RawClient>> busy = openBusy(admin, 63);
    std::vector<std::unique_ptr<RawClient>> idle = openServed(admin, 1);

    RawClient probe(admin.port());
    REQUIRE(probe.send(get("/healthz")));
    auto health = probe.read();
    REQUIRE(health);
    CHECK(health->status == 200);
    CHECK(idle.front()->closedByServer());

    // Every busy connection finishes its request and gets its answer.
    for (size_t i = 0; i < busy.size(); ++i) {
      CAPTURE(i);
      REQUIRE(busy[i]->send("\r\n\r\n"));
      auto response = busy[i]->read();
      REQUIRE(response);
      CHECK(response->status == 200);
    }
  }

  TEST_CASE("with every connection busy, one beyond the cap is accepted and closed at once") {
    AdminFixture admin(shortTimeouts(60'000, 60'000));
    std::vector<std::unique_ptr<RawClient>> busy = openBusy(admin, 64);

    RawClient refused(admin.port());
    refused.send(get("/healthz"));
    CHECK(refused.closedByServer());
    CHECK(refused.pending().empty());

    // None of the 64 was touched: each finishes its head and is answered.
    for (size_t i = 0; i < busy.size(); ++i) {
      CAPTURE(i);
      REQUIRE(busy[i]->send("\r\n\r\n"));
      auto response = busy[i]->read();
      REQUIRE(response);
      CHECK(response->status == 200);
    }

    // Now all 64 are idle, so a new client is served at once.
    RawClient next(admin.port());
    REQUIRE(next.send(get("/healthz")));
    auto served = next.read();
    REQUIRE(served);
    CHECK(served->status == 200);
  }

  TEST_CASE("a smaller cap is honoured the same way") {
    AdminOptions options = shortTimeouts(60'000, 60'000);
    options.max_connections = 3;
    AdminFixture admin(options);
    std::vector<std::unique_ptr<RawClient>> busy = openBusy(admin, 3);

    RawClient refused(admin.port());
    refused.send(get("/healthz"));
    CHECK(refused.closedByServer());

    // Once one leaves, a new client is served again (the server sees the close a moment
    // later, so a bounded number of attempts).
    busy.front()->closeNow();
    bool served = false;
    for (int attempt = 0; attempt < 200 && !served; ++attempt) {
      RawClient next(admin.port());
      served = next.send(get("/healthz")) && next.read().has_value();
      if (!served) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    CHECK(served);
  }

  TEST_CASE("a client slow to send its head gets 408 and is cut off") {
    AdminFixture admin(shortTimeouts(200, 60'000));

    RawClient partial(admin.port());
    REQUIRE(partial.send("GET /healthz HTTP/1.1\r\nHost: a"));
    auto response = partial.read();
    REQUIRE(response);
    CHECK(response->status == 408);
    CHECK(response->header("connection") == "close");
    CHECK(partial.closedByServer());

    // Sending a byte now and then does not extend the head timeout.
    RawClient drip(admin.port());
    std::string head = "GET /healthz HTTP/1.1\r\nX-Slow: " + std::string(400, 'a');
    bool cut_off = false;
    for (size_t i = 0; i < head.size() && !cut_off; ++i) {
      if (!drip.send(head.substr(i, 1))) {
        cut_off = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      cut_off = drip.fill();
    }
    REQUIRE(cut_off);
    auto dripped = drip.read();
    REQUIRE(dripped);
    CHECK(dripped->status == 408);

    // A connection that never sends anything is closed without a response.
    RawClient silent(admin.port());
    CHECK(silent.closedByServer());
  }

  TEST_CASE("an idle keep-alive connection is closed after the idle timeout") {
    AdminFixture admin(shortTimeouts(60'000, 200));
    RawClient client(admin.port());
    REQUIRE(client.send(get("/healthz")));
    REQUIRE(client.read());
    CHECK(client.closedByServer());
  }

  TEST_CASE("a client that pipelines without reading gets every response in order") {
    std::string text(200 * 1024, 'm');
    text.back() = '\n';
    AdminFixture admin({}, AF_INET, text);
    RawClient client(admin.port(), AF_INET, 4096);

    // The sender blocks once the server stops reading; the reader starts late on purpose.
    constexpr int kRequests = 40;
    std::thread sender([&] {
      std::string batch;
      for (int i = 0; i < kRequests; ++i) {
        batch += get(i % 2 == 0 ? "/metrics" : "/healthz");
      }
      client.send(batch);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    int answered = 0;
    for (int i = 0; i < kRequests; ++i) {
      auto response = client.read();
      if (!response) {
        break;
      }
      CAPTURE(i);
      CHECK(response->status == 200);
      CHECK(response->body.size() == (i % 2 == 0 ? text.size() : 27u));
      answered++;
    }
    sender.join();
    CHECK(answered == kRequests);
  }

  TEST_CASE("a client that never reads makes a connection hold at most the limit and one "
            "response") {
    // The socket takes far more than the limit at once on loopback: the count must include
    // responses the kernel took whose buffers wait for their write callbacks.
    std::string text(40 * 1024, 'm');
    text.back() = '\n';
    AdminOptions options;
    options.max_queued_bytes = 64 * 1024;
    AdminFixture admin(options, AF_INET, text);
    RawClient client(admin.port());

    // One segment of pipelined requests is parsed in one go unless the limit stops it.
    constexpr int kRequests = 100;
    std::string batch;
    for (int i = 0; i < kRequests; ++i) {
      batch += get("/metrics");
    }
    REQUIRE(client.send(batch));
    AdminHandlers serving;
    serving.metrics = [&text] { return text; };
    size_t response_size =
        serializeReply(routeAdminRequest("GET", "/metrics", serving), false, false).size();
    REQUIRE(response_size > text.size());
    for (int i = 0; i < kRequests; ++i) {
      auto response = client.read();
      REQUIRE(response);
      CAPTURE(i);
      CHECK(response->status == 200);
      CHECK(response->body == text);
    }
    CHECK(admin.metrics_calls.load() == kRequests);

    // The pause was reached, and it held: never more than the limit plus the response that
    // crossed it.
    size_t peak = admin.peakQueuedBytes();
    CHECK(peak > options.max_queued_bytes);
    CHECK(peak <= options.max_queued_bytes + response_size);
  }
}

}  // namespace
}  // namespace jwtgate::admin

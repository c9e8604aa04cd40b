// A worker on a real loop: a request through to an in-test upstream, the request filter's
// decisions (now, later, and cancelled while pending), and a clean shutdown: every handle
// closed and uv_loop_close succeeding.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/config_values.h"
#include "proxy/listen_socket.h"
#include "proxy/server.h"
#include "proxy/worker.h"

namespace jwtgate::proxy {
namespace {

// Waits (bounded) for `fd` to become readable; false on timeout.
bool waitReadable(int fd, int timeout_ms) {
  pollfd entry{fd, POLLIN, 0};
  return ::poll(&entry, 1, timeout_ms) > 0;
}

int connectTo(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  return fd;
}

void sendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    REQUIRE(sent > 0);
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
}

// Reads one response with a Content-Length body (or until EOF); empty on timeout.
std::string readResponse(int fd) {
  std::string data;
  char chunk[4096];
  for (;;) {
    size_t head_end = data.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t at = data.find("Content-Length: ");
      if (at != std::string::npos && at < head_end) {
        size_t length = std::stoul(data.substr(at + 16));
        if (data.size() >= head_end + 4 + length) {
          return data;
        }
      }
    }
    if (!waitReadable(fd, 5000)) {
      return data;
    }
    ssize_t got = ::recv(fd, chunk, sizeof(chunk), 0);
    if (got <= 0) {
      return data;
    }
    data.append(chunk, static_cast<size_t>(got));
  }
}

// A blocking upstream on its own thread: answers every request head with "ok" and records
// what it received.
class TinyUpstream {
 public:
  TinyUpstream() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    port_ = boundPort(listen_fd_);
    thread_ = std::thread([this] { serve(); });
  }

  ~TinyUpstream() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }
  std::string lastRequest() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_request_;
  }

 private:
  void serve() {
    while (!stop_) {
      if (!waitReadable(listen_fd_, 50)) {
        continue;
      }
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        continue;
      }
      serveConnection(fd);
      ::close(fd);
    }
  }

  void serveConnection(int fd) {
    std::string data;
    char chunk[4096];
    while (!stop_) {
      size_t end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          last_request_ = data.substr(0, end + 4);
        }
        data.erase(0, end + 4);
        requests_++;
        sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        continue;
      }
      if (!waitReadable(fd, 50)) {
        continue;
      }
      ssize_t got = ::recv(fd, chunk, sizeof(chunk), 0);
      if (got <= 0) {
        return;
      }
      data.append(chunk, static_cast<size_t>(got));
    }
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  std::string last_request_;
  std::thread thread_;
};

// One worker on its own thread, listening on an ephemeral loopback port.
class RunningWorker {
 public:
  RunningWorker(uint16_t upstream_port, RequestFilterFactory factory) {
    config_.listen.push_back(*parseListenAddress("127.0.0.1:0"));
    config_.upstream = *parseUpstreamAddress("127.0.0.1:" + std::to_string(upstream_port));
    config_.timeouts.drain_ms = 2000;
    auto fd = openListenSocket(config_.listen[0].address, config_.listen[0].address_length);
    REQUIRE(fd.ok());
    port_ = boundPort(*fd);
    WorkerOptions options;
    options.config = &config_;
    options.listen_fds = {*fd};
    options.filter_factory = std::move(factory);
    options.open_connections = &open_connections_;
    worker_ = std::make_unique<Worker>(std::move(options));
    thread_ = std::thread([this] { result_ = worker_->run(); });
  }

  // Drains and waits for the loop to end; returns run()'s result (0: loop closed cleanly).
  int stop() {
    worker_->requestDrain();
    thread_.join();
    return result_;
  }

  uint16_t port() const { return port_; }
  uint32_t openConnections() const { return open_connections_.load(); }

 private:
  ProxyConfig config_;
  std::atomic<uint32_t> open_connections_{0};
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
  uint16_t port_ = 0;
  int result_ = -1;
};

// Edits every request: adds a claim header, removes a secret one, drops the query.
class EditingFilter final : public RequestFilter {
 public:
  FilterVerdict onRequest(RequestContext& request) override {
    CHECK(request.method() == "GET");
    CHECK(request.httpMinor() == 1);
    CHECK(request.clientAddress() == "127.0.0.1");
    std::string_view value;
    CHECK(request.findHeader("x-secret", &value));
    CHECK(value == "s3cret");
    CHECK(request.removeHeaders("X-Secret") == 1);
    CHECK_FALSE(request.removeHeaders("Host"));
    CHECK(request.addHeader("X-Claim-Sub", "alice"));
    CHECK_FALSE(request.addHeader("Content-Length", "5"));
    CHECK_FALSE(request.addHeader("X-Bad", "a\r\nb: c"));
    CHECK(request.setTarget("/resource"));
    return FilterVerdict::Pass;
  }
};

class RefusingFilter final : public RequestFilter {
 public:
  FilterVerdict onRequest(RequestContext& request) override {
    LocalReply& reply = request.respond(401);
    reply.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"test\"");
    reply.body = "{\"error\":\"unauthorized\"}";
    return FilterVerdict::Respond;
  }
};

// Suspends every request and decides on a timer of the worker's loop.
class LaterFilter final : public RequestFilter {
 public:
  LaterFilter(uv_loop_t* loop, FilterVerdict verdict) : verdict_(verdict) {
    uv_timer_init(loop, &timer_);
    timer_.data = this;
  }

  FilterVerdict onRequest(RequestContext& request) override {
    pending_ = request.suspend();
    uv_timer_start(&timer_, onTimer, 10, 0);
    return FilterVerdict::Pending;
  }

  void close() override { uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr); }

 private:
  static void onTimer(uv_timer_t* timer) {
    auto* self = static_cast<LaterFilter*>(timer->data);
    REQUIRE(self->pending_.alive());
    if (self->verdict_ == FilterVerdict::Respond) {
      self->pending_.context()->respond(403).body = "{\"error\":\"forbidden\"}";
    }
    self->pending_.resume(self->verdict_);
    CHECK_FALSE(self->pending_.alive());
  }

  uv_timer_t timer_;
  FilterVerdict verdict_;
  PendingRequest pending_;
};

// Suspends every request and never decides; records cancellations.
class NeverFilter final : public RequestFilter {
 public:
  explicit NeverFilter(std::atomic<int>* cancelled) : cancelled_(cancelled) {}
  FilterVerdict onRequest(RequestContext& request) override {
    request.suspend();
    return FilterVerdict::Pending;
  }
  void onCancelled(uint64_t) override { cancelled_->fetch_add(1); }

 private:
  std::atomic<int>* cancelled_;
};

template <typename Predicate>
bool waitUntil(Predicate predicate) {
  for (int i = 0; i < 500 && !predicate(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return predicate();
}

}  // namespace

TEST_SUITE("proxy/worker_loop") {
  TEST_CASE("a request goes through and the loop closes cleanly after a drain") {
    TinyUpstream upstream;
    RunningWorker worker(upstream.port(), nullptr);
    int client = connectTo(worker.port());
    sendAll(client,
            "GET /hello?x=1 HTTP/1.1\r\nHost: app.test\r\nConnection: x-hop\r\n"
            "X-Hop: 1\r\nKeep-Alive: 5\r\n\r\n");
    std::string response = readResponse(client);
    CHECK(response.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(response.substr(response.size() - 2) == "ok");

    std::string seen = upstream.lastRequest();
    CHECK(seen.rfind("GET /hello?x=1 HTTP/1.1\r\n", 0) == 0);
    CHECK(seen.find("Host: app.test\r\n") != std::string::npos);
    CHECK(seen.find("X-Forwarded-For: 127.0.0.1\r\n") != std::string::npos);
    CHECK(seen.find("X-Forwarded-Proto: http\r\n") != std::string::npos);
    CHECK(seen.find("X-Forwarded-Host: app.test\r\n") != std::string::npos);
    CHECK(seen.find("X-Hop") == std::string::npos);
    CHECK(seen.find("Keep-Alive") == std::string::npos);
    CHECK(seen.find("Connection") == std::string::npos);

    // A second request on the same connection reuses the pooled upstream connection.
    sendAll(client, "GET /again HTTP/1.1\r\nHost: app.test\r\n\r\n");
    CHECK(readResponse(client).rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(upstream.requests() == 2);

    ::close(client);
    CHECK(worker.stop() == 0);
    CHECK(worker.openConnections() == 0);
  }

  TEST_CASE("a drain with an open idle connection closes it and ends the loop") {
    TinyUpstream upstream;
    RunningWorker worker(upstream.port(), nullptr);
    int client = connectTo(worker.port());
    sendAll(client, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(readResponse(client).rfind("HTTP/1.1 200", 0) == 0);
    CHECK(worker.stop() == 0);
    char byte;
    CHECK(waitReadable(client, 5000));
    CHECK(::recv(client, &byte, 1, 0) == 0);  // the proxy closed the idle connection
    ::close(client);
  }

  TEST_CASE("a filter's edits reach the upstream") {
    TinyUpstream upstream;
    RunningWorker worker(upstream.port(),
                         [](uv_loop_t*) { return std::make_unique<EditingFilter>(); });
    int client = connectTo(worker.port());
    sendAll(client,
            "GET /resource?access_token=abc HTTP/1.1\r\nHost: a\r\nX-Secret: s3cret\r\n\r\n");
    CHECK(readResponse(client).rfind("HTTP/1.1 200", 0) == 0);
    std::string seen = upstream.lastRequest();
    CHECK(seen.rfind("GET /resource HTTP/1.1\r\n", 0) == 0);
    CHECK(seen.find("X-Secret") == std::string::npos);
    CHECK(seen.find("X-Claim-Sub: alice\r\n") != std::string::npos);
    CHECK(seen.find("access_token") == std::string::npos);
    ::close(client);
    CHECK(worker.stop() == 0);
  }

  TEST_CASE("a filter's local reply is sent and nothing goes upstream") {
    TinyUpstream upstream;
    RunningWorker worker(upstream.port(),
                         [](uv_loop_t*) { return std::make_unique<RefusingFilter>(); });
    int client = connectTo(worker.port());
    sendAll(client, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    std::string response = readResponse(client);
    CHECK(response.rfind("HTTP/1.1 401 Unauthorized\r\n", 0) == 0);
    CHECK(response.find("WWW-Authenticate: Bearer realm=\"test\"\r\n") != std::string::npos);
    CHECK(response.find("{\"error\":\"unauthorized\"}") != std::string::npos);

    // The connection stays usable.
    sendAll(client, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(readResponse(client).rfind("HTTP/1.1 401", 0) == 0);
    CHECK(upstream.requests() == 0);
    ::close(client);
    CHECK(worker.stop() == 0);
  }

  TEST_CASE("a suspended request completes when the filter resumes it later") {
    TinyUpstream upstream;
    RunningWorker worker(upstream.port(), [](uv_loop_t* loop) {
      return std::make_unique<LaterFilter>(loop, FilterVerdict::Pass);
    });
    int client = connectTo(worker.port());
    sendAll(client, "GET /later HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(readResponse(client).rfind("HTTP/1.1 200", 0) == 0);
    CHECK(upstream.requests() == 1);
    ::close(client);
    CHECK(worker.stop() == 0);
  }

  TEST_CASE("a suspended request can be answered locally when resumed") {
    TinyUpstream upstream;
    RunningWorker worker(upstream.port(), [](uv_loop_t* loop) {
      return std::make_unique<LaterFilter>(loop, FilterVerdict::Respond);
    });
    int client = connectTo(worker.port());
    sendAll(client, "GET /later HTTP/1.1\r\nHost: a\r\n\r\n");
    std::string response = readResponse(client);
    CHECK(response.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0);
    CHECK(response.find("{\"error\":\"forbidden\"}") != std::string::npos);
    CHECK(upstream.requests() == 0);
    ::close(client);
    CHECK(worker.stop() == 0);
  }

  TEST_CASE("a suspended request is cancelled when its client goes away") {
    TinyUpstream upstream;
    std::atomic<int> cancelled{0};
    RunningWorker worker(upstream.port(), [&cancelled](uv_loop_t*) {
      return std::make_unique<NeverFilter>(&cancelled);
    });
    int client = connectTo(worker.port());
    sendAll(client, "GET /never HTTP/1.1\r\nHost: a\r\n\r\n");
    REQUIRE(waitUntil([&] { return worker.openConnections() == 1; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(cancelled.load() == 0);
    ::close(client);
    CHECK(waitUntil([&] { return cancelled.load() == 1; }));
    CHECK(worker.stop() == 0);
    CHECK(upstream.requests() == 0);
  }

  TEST_CASE("the linked llhttp parses in strict mode") { CHECK(parserIsStrict()); }
}

}  // namespace jwtgate::proxy

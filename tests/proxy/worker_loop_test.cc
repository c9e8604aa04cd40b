// A worker on a real loop: a request through to an in-test upstream, the request filter's
// decisions (now, later, and cancelled while pending), the access log, request ids, metrics
// and posted tasks, and a clean shutdown: every handle closed and uv_loop_close succeeding.
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

#include "observe/line_writer.h"
#include "observe/request_id.h"
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
  RunningWorker(uint16_t upstream_port, RequestFilterFactory factory,
                observe::LineWriter::Channel* access_log = nullptr,
                std::vector<std::string> redacted = {}) {
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
    options.access_log = access_log;
    options.redacted_query_params = std::move(redacted);
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
  Worker& worker() { return *worker_; }

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

// Notes a decision for the access log; refuses /deny, suspends /hang for ever.
class NotingFilter final : public RequestFilter {
 public:
  FilterVerdict onRequest(RequestContext& request) override {
    if (request.target() == "/deny") {
      request.note({"admin", "corp", "", "refused", "expired"});
      request.respond(401).body = "{}";
      return FilterVerdict::Respond;
    }
    if (request.target() == "/hang") {
      request.note({"slow", "", "", "allowed", ""});
      request.suspend();
      return FilterVerdict::Pending;
    }
    request.note({"default", "corp", "alice", "allowed", ""});
    return FilterVerdict::Pass;
  }
};

// The read end of a pipe a LineWriter writes to; collects whole lines.
class LogPipe {
 public:
  LogPipe() {
    REQUIRE(::pipe(fds_) == 0);
    writer_ = std::make_unique<observe::LineWriter>(fds_[1]);
    channel_ = writer_->openChannel(64 * 1024);
    writer_->start();
  }
  ~LogPipe() {
    writer_->stop();
    ::close(fds_[0]);
    ::close(fds_[1]);
  }

  observe::LineWriter::Channel* channel() { return channel_; }

  // Waits (bounded) until `count` lines arrived; returns every line read so far.
  std::vector<std::string> lines(size_t count) {
    for (int round = 0; round < 100 && lines_.size() < count; ++round) {
      if (!waitReadable(fds_[0], 50)) {
        continue;
      }
      char chunk[8192];
      ssize_t got = ::read(fds_[0], chunk, sizeof(chunk));
      if (got <= 0) {
        break;
      }
      pending_.append(chunk, static_cast<size_t>(got));
      for (size_t end = pending_.find('\n'); end != std::string::npos;
           end = pending_.find('\n')) {
        lines_.push_back(pending_.substr(0, end));
        pending_.erase(0, end + 1);
      }
    }
    return lines_;
  }

 private:
  int fds_[2] = {-1, -1};
  std::unique_ptr<observe::LineWriter> writer_;
  observe::LineWriter::Channel* channel_ = nullptr;
  std::string pending_;
  std::vector<std::string> lines_;
};

// The value of X-Request-Id fields in a head, in order.
std::vector<std::string> requestIds(const std::string& head) {
  std::vector<std::string> ids;
  for (size_t at = head.find("\r\nX-Request-Id: "); at != std::string::npos;
       at = head.find("\r\nX-Request-Id: ", at + 1)) {
    size_t start = at + 16;
    ids.push_back(head.substr(start, head.find("\r\n", start) - start));
  }
  return ids;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
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

  TEST_CASE("a request resumed by a timer goes upstream before the loop blocks again") {
    // The resumed request's upstream write is queued inside a timer callback. Small upstream
    // writes wait for the end of the loop turn; the flush before polling must send it, or it
    // would wait for the next event (the 1 s heartbeat here). 500 ms is far above the 10 ms
    // the filter waits and far below the heartbeat.
    TinyUpstream upstream;
    RunningWorker worker(upstream.port(), [](uv_loop_t* loop) {
      return std::make_unique<LaterFilter>(loop, FilterVerdict::Pass);
    });
    int client = connectTo(worker.port());
    // The first request leaves a pooled upstream connection, so that the second one is
    // written from the timer callback itself rather than after a connect.
    sendAll(client, "GET /first HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(readResponse(client).rfind("HTTP/1.1 200", 0) == 0);
    auto start = std::chrono::steady_clock::now();
    sendAll(client, "GET /second HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(readResponse(client).rfind("HTTP/1.1 200", 0) == 0);
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed < std::chrono::milliseconds(500));
    CHECK(upstream.requests() == 2);
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

  TEST_CASE("every request gets one access-log line with the filter's note") {
    TinyUpstream upstream;
    LogPipe log;
    RunningWorker worker(
        upstream.port(), [](uv_loop_t*) { return std::make_unique<NotingFilter>(); },
        log.channel(), {"ticket"});
    int client = connectTo(worker.port());
    sendAll(client, "GET /a?ticket=T0pSecret&x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(readResponse(client).rfind("HTTP/1.1 200", 0) == 0);
    sendAll(client, "GET /deny HTTP/1.1\r\nHost: a\r\n\r\n");
    std::string refused = readResponse(client);
    CHECK(refused.rfind("HTTP/1.1 401", 0) == 0);

    std::vector<std::string> lines = log.lines(2);
    REQUIRE(lines.size() == 2);
    const std::string& first = lines[0];
    CHECK(first.rfind("{\"time\":\"", 0) == 0);
    CHECK(contains(first, "\"client\":\"127.0.0.1\",\"method\":\"GET\","
                          "\"path\":\"/a?ticket=[redacted]&x=1\",\"protocol\":\"HTTP/1.1\","
                          "\"status\":200,\"duration_ms\":"));
    CHECK(contains(first, "\"upstream_ms\":"));
    CHECK(contains(first, "\"route\":\"default\",\"provider\":\"corp\","
                          "\"subject\":\"alice\",\"outcome\":\"allowed\"}"));
    CHECK_FALSE(contains(first, "T0pSecret"));
    const std::string& second = lines[1];
    CHECK(contains(second, "\"path\":\"/deny\""));
    CHECK(contains(second, "\"status\":401"));
    CHECK_FALSE(contains(second, "upstream_ms"));
    CHECK(contains(second, "\"route\":\"admin\",\"provider\":\"corp\","
                           "\"outcome\":\"refused\",\"reason\":\"expired\"}"));
    CHECK_FALSE(contains(second, "subject"));

    // The refusal carries the id its line names.
    size_t id_at = second.find("\"request_id\":\"") + 14;
    std::string id = second.substr(id_at, second.find('"', id_at) - id_at);
    CHECK(contains(refused, "X-Request-Id: " + id + "\r\n"));

    // A request cut short by its client still gets a line, marked aborted.
    sendAll(client, "GET /hang HTTP/1.1\r\nHost: a\r\n\r\n");
    REQUIRE(waitUntil([&] { return worker.worker().stats().requests.value() == 3; }));
    ::close(client);
    lines = log.lines(3);
    REQUIRE(lines.size() == 3);
    CHECK(contains(lines[2], "\"path\":\"/hang\",\"protocol\":\"HTTP/1.1\",\"status\":0,"));
    CHECK(contains(lines[2], "\"route\":\"slow\""));
    CHECK(contains(lines[2], "\"aborted\":true}"));

    // Metrics of the same requests.
    const WorkerStats& stats = worker.worker().stats();
    CHECK(stats.responses[0].value() == 1);
    CHECK(stats.responses[2].value() == 1);
    CHECK(stats.request_duration.count() == 2);
    CHECK(stats.upstream_duration.count() == 1);
    CHECK(stats.upstream_requests.value() == 1);
    CHECK(stats.connections_accepted.value() == 1);
    CHECK(waitUntil([&] { return stats.open_connections.value() == 0; }));
    CHECK(worker.stop() == 0);
  }

  TEST_CASE("exactly one X-Request-Id goes upstream: the client's when well formed") {
    TinyUpstream upstream;
    RunningWorker worker(upstream.port(), nullptr);
    int client = connectTo(worker.port());
    auto forwardedIds = [&](const std::string& fields) {
      sendAll(client, "GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n");
      CHECK(readResponse(client).rfind("HTTP/1.1 200", 0) == 0);
      return requestIds(upstream.lastRequest());
    };
    CHECK(forwardedIds("X-Request-Id: abc-123.x:y@z+=/\r\n") ==
          std::vector<std::string>{"abc-123.x:y@z+=/"});

    // Missing, repeated, malformed or too long: a fresh 32-hex id replaces them.
    for (const std::string& fields :
         {std::string(), std::string("X-Request-Id: one\r\nx-request-id: two\r\n"),
          std::string("X-Request-Id: has space\r\n"), std::string("X-Request-Id: a\"b\r\n"),
          "X-Request-Id: " + std::string(129, 'a') + "\r\n"}) {
      CAPTURE(fields);
      std::vector<std::string> ids = forwardedIds(fields);
      REQUIRE(ids.size() == 1);
      CHECK(ids[0].size() == observe::kRequestIdLength);
      CHECK(ids[0].find_first_not_of("0123456789abcdef") == std::string::npos);
    }
    // A Connection option naming the field does not make it disappear.
    CHECK(forwardedIds("Connection: x-request-id\r\nX-Request-Id: named\r\n") ==
          std::vector<std::string>{"named"});
    std::vector<std::string> a = forwardedIds("");
    std::vector<std::string> b = forwardedIds("");
    CHECK(a != b);
    ::close(client);
    CHECK(worker.stop() == 0);
  }

  TEST_CASE("posted tasks run on the worker's thread; the redacted set can change") {
    TinyUpstream upstream;
    LogPipe log;
    RunningWorker worker(upstream.port(), nullptr, log.channel(), {"ticket"});
    std::thread::id worker_thread;
    std::atomic<bool> ran{false};
    CHECK(worker.worker().post([&](Worker& self) {
      worker_thread = std::this_thread::get_id();
      self.setRedactedQueryParams({"pass"});
      ran = true;
    }));
    REQUIRE(waitUntil([&] { return ran.load(); }));
    CHECK(worker_thread != std::this_thread::get_id());

    int client = connectTo(worker.port());
    sendAll(client, "GET /p?ticket=1&pass=2 HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(readResponse(client).rfind("HTTP/1.1 200", 0) == 0);
    std::vector<std::string> lines = log.lines(1);
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "\"path\":\"/p?ticket=1&pass=[redacted]\""));

    // The heartbeat moves on while the loop turns.
    uint64_t beat = worker.worker().heartbeatMs();
    CHECK(worker.worker().running());
    CHECK(waitUntil([&] { return worker.worker().heartbeatMs() > beat; }));
    ::close(client);
    CHECK(worker.stop() == 0);
    CHECK_FALSE(worker.worker().post([](Worker&) {}));
  }

  TEST_CASE("the linked llhttp parses in strict mode") { CHECK(parserIsStrict()); }
}

}  // namespace jwtgate::proxy

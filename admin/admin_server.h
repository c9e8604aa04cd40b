// The admin listener: /metrics, /healthz and /readyz over HTTP/1.1 on their own address,
// served on the main thread's libuv loop next to signal handling and the config watcher.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/proxy_config.h"
#include "verifier/result.h"

namespace jwtgate::admin {

class AdminConnection;

// What the endpoints answer. Each runs on the loop thread, once per request (HEAD included,
// so Content-Length is right), and must not block: it returns what it has at once. A
// handler that throws gives 500; one left empty makes its path answer 404.
struct AdminHandlers {
  std::function<std::string()> metrics;                 // Prometheus text (version 0.0.4)
  std::function<bool(std::string* json_body)> healthz;  // true -> 200, false -> 503
  std::function<bool(std::string* json_body)> readyz;   // true -> 200, false -> 503
};

// Limits of the listener. The defaults are the operations spec's values; tests shorten the
// timeouts. A timeout of 0 turns it off.
struct AdminOptions {
  uint64_t header_timeout_ms = 5'000;  // from a request's first byte to the end of its head
  uint64_t idle_timeout_ms = 30'000;   // keep-alive idle, and a client not reading responses
  size_t max_header_bytes = 8 * 1024;  // request line + header fields; beyond -> 431
  // At the cap a new connection takes the place of the one idle the longest (nothing being
  // parsed, queued or written), so probes get through; with none idle it is accepted and
  // closed at once.
  uint32_t max_connections = 64;
  // Response bytes one connection may hold for a client that does not read: past this,
  // checked after each response, its requests wait until a quarter of it is left. A
  // connection holds at most this plus one response.
  size_t max_queued_bytes = 256 * 1024;
};

class AdminServer {
 public:
  // Binds a TCP listener to `address` (IPv4, or IPv6-only for an IPv6 address; port 0 lets
  // the kernel pick) on `loop`, which must be the thread's running or about-to-run loop.
  // Returns the server, or a message that names the address ("admin listen
  // 127.0.0.1:9901: address already in use"). A failed bind or listen leaves nothing on the
  // loop (the socket is set up before any handle exists); only if libuv then refuses the
  // listening socket is a handle left closing, freed when the loop next runs.
  static Result<std::unique_ptr<AdminServer>, std::string> start(
      uv_loop_t* loop, const proxy::ListenAddress& address, AdminHandlers handlers,
      AdminOptions options = {});

  // Calls close(). The loop must still run afterwards so the handles' close callbacks free
  // their memory; nothing refers to this object once close() has returned.
  ~AdminServer();

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The address actually bound, with the kernel's port: "127.0.0.1:9901" or "[::1]:9901".
  std::string boundAddress() const;

  // Stops listening and closes every open admin connection (responses not yet written are
  // dropped), so the loop can end. Loop thread only; safe to call more than once.
  void close();

  // Open admin connections now (those closed at accept by the cap are never counted).
  // Loop thread only.
  size_t openConnections() const { return connections_.size(); }

  // The most response bytes one connection has held at once (queued or being written)
  // since start: the per-connection memory bound made visible. Any thread.
  size_t peakQueuedBytes() const { return peak_queued_bytes_.load(std::memory_order_relaxed); }

 private:
  friend class AdminConnection;

  AdminServer(uv_loop_t* loop, AdminHandlers handlers, AdminOptions options);

  static void onConnection(uv_stream_t* server, int status) noexcept;
  void acceptOne();
  bool evictIdlest();  // closes the connection idle the longest; false when none is idle
  void forget(AdminConnection* connection);  // a connection that closes itself
  uint64_t nextActivity() { return ++activity_clock_; }  // orders connections' last activity
  void noteQueued(size_t bytes);

  uv_loop_t* loop_;
  AdminHandlers handlers_;
  AdminOptions options_;
  uv_tcp_t* listener_ = nullptr;  // heap: freed in its close callback, which may run after us
  std::string bound_address_;
  std::vector<AdminConnection*> connections_;  // capacity max_connections
  uint64_t activity_clock_ = 0;
  std::atomic<size_t> peak_queued_bytes_{0};
  bool closed_ = false;
};

}  // namespace jwtgate::admin

// The whole proxy process: binds the listening sockets (one per worker and address), runs
// the workers on their own threads, and drains them on SIGTERM or SIGINT (SIGHUP is logged
// and ignored).
#pragma once

#include <uv.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/proxy_config.h"
#include "proxy/request_filter.h"
#include "proxy/worker.h"
#include "verifier/result.h"

namespace jwtgate::proxy {

// True when the linked llhttp was built in strict mode (LLHTTP_STRICT_MODE=1); the loose
// build accepts whitespace before a field's colon, which enables request smuggling.
bool parserIsStrict();

class Server {
 public:
  // Binds every configured address once per worker (port 0 is resolved by the first bind and
  // reused for the others). Returns a message naming the address when a bind fails.
  static Result<std::unique_ptr<Server>, std::string> create(const ProxyConfig& config,
                                                             RequestFilterFactory factory);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The addresses actually bound ("127.0.0.1:8080", "[::1]:8080"), one per listen entry.
  const std::vector<std::string>& boundAddresses() const { return bound_; }
  uint32_t workerCount() const { return config_.workers; }

  // Starts the workers and blocks until they have drained (after SIGTERM/SIGINT; a second
  // signal stops them at once). Returns 0 when every worker ended cleanly.
  int run();

 private:
  Server(const ProxyConfig& config, RequestFilterFactory factory);

  static void onSignal(uv_signal_t* handle, int signum) noexcept;
  static void onHangup(uv_signal_t* handle, int signum) noexcept;
  static void onWorkerExit(uv_async_t* handle) noexcept;

  ProxyConfig config_;
  RequestFilterFactory factory_;
  std::vector<std::vector<int>> worker_fds_;  // per worker, one socket per listen address
  std::vector<std::string> bound_;
  std::atomic<uint32_t> open_connections_{0};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<int> results_;
  std::mutex exit_mutex_;  // orders a worker's last uv_async_send before the handle closes
  std::atomic<uint32_t> exited_{0};
  uv_loop_t loop_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  uv_signal_t sighup_;  // acknowledged and ignored (no reload yet)
  uv_async_t worker_exit_;
  int signals_seen_ = 0;
};

}  // namespace jwtgate::proxy

// The whole proxy process: binds the listening sockets (one per worker and address), runs
// the workers on their own threads with the access-log writer, and on SIGTERM or SIGINT
// keeps serving for timeouts.shutdown_grace, then drains them. SIGHUP goes to a hook.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "observe/line_writer.h"
#include "observe/metrics.h"
#include "proxy/proxy_config.h"
#include "proxy/request_filter.h"
#include "proxy/worker.h"
#include "verifier/result.h"

namespace jwtgate::proxy {

// True when the linked llhttp was built in strict mode (LLHTTP_STRICT_MODE=1); the loose
// build accepts whitespace before a field's colon, which enables request smuggling.
bool parserIsStrict();

// Callbacks of the process around the engine; each runs on the thread that called run().
struct ServerHooks {
  std::function<void(uv_loop_t* loop)> on_start;  // after the workers run: admin, watchers
  std::function<void()> on_hangup;                // SIGHUP (without it: logged, ignored)
  std::function<void()> on_shutdown;              // first SIGTERM/SIGINT, before the grace
  std::function<void()> on_stop;                  // before the main loop ends: close handles
};

class Server {
 public:
  // Binds every configured address once per worker (port 0 is resolved by the first bind and
  // reused for the others). Returns a message naming the address when a bind fails.
  static Result<std::unique_ptr<Server>, std::string> create(const ProxyConfig& config,
                                                             RequestFilterFactory factory,
                                                             ServerHooks hooks = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The addresses actually bound ("127.0.0.1:8080", "[::1]:8080"), one per listen entry.
  const std::vector<std::string>& boundAddresses() const { return bound_; }
  uint32_t workerCount() const { return config_.workers; }

  // Starts the workers and blocks until they have drained (after SIGTERM/SIGINT; a second
  // signal stops them at once). Signals are caught from create() on; one that arrived
  // before run() is handled as soon as it starts. Call once. Returns 0 when every worker
  // ended cleanly.
  int run();

  // True from the first SIGTERM/SIGINT on. Thread-safe.
  bool shuttingDown() const { return shutting_down_.load(std::memory_order_relaxed); }

  // Runs `task` on every worker's thread (through the worker's async handle), at the
  // worker's next loop turn. Main thread only, while run() is running; workers that have
  // ended skip it.
  void postToWorkers(std::function<void(Worker&)> task);

  // The query parameters whose values the access log redacts. Main thread: before run()
  // it sets the workers' initial set, during run() it is posted to every worker.
  void setRedactedQueryParams(std::vector<std::string> names);

  // Appends the engine's families (requests, latencies, upstream errors, connections,
  // access-log lines, draining, workers), summed over the workers. Main thread.
  void collectMetrics(observe::MetricsText& out) const;

  // The indexes of running workers whose heartbeat is older than `max_age_ms`. Main thread.
  std::vector<uint32_t> stalledWorkers(uint64_t max_age_ms) const;

 private:
  Server(const ProxyConfig& config, RequestFilterFactory factory, ServerHooks hooks);

  static void onSignal(uv_signal_t* handle, int signum) noexcept;
  static void onHangup(uv_signal_t* handle, int signum) noexcept;
  static void onWorkerExit(uv_async_t* handle) noexcept;
  static void onGraceTimer(uv_timer_t* handle) noexcept;

  void initLoop();
  void closeLoopHandles();
  void startWorkers();
  void drainWorkers();

  ProxyConfig config_;
  RequestFilterFactory factory_;
  ServerHooks hooks_;
  std::vector<std::string> redacted_query_params_;
  // Declared before the workers: their channels must outlive them.
  std::unique_ptr<observe::LineWriter> access_log_;
  std::unique_ptr<observe::LineWriter> diagnostics_;  // stderr, unless the access log is there
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
  uv_signal_t sighup_;
  uv_async_t worker_exit_;
  uv_timer_t grace_timer_;
  int signals_seen_ = 0;
  std::atomic<bool> shutting_down_{false};
  bool workers_running_ = false;
  bool loop_ready_ = false;  // the main loop and its signal handles exist (from create())
  bool ran_ = false;
};

}  // namespace jwtgate::proxy

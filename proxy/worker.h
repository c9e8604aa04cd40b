// One event loop on one thread: accepts client connections from its own SO_REUSEPORT
// listening sockets, forwards their requests through its own upstream pool and filter.
// Nothing a worker touches on the request path is shared with another worker.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "observe/line_writer.h"
#include "observe/request_id.h"
#include "proxy/access_log.h"
#include "proxy/client_connection.h"
#include "proxy/engine_metrics.h"
#include "proxy/intrusive_list.h"
#include "proxy/io_buffer.h"
#include "proxy/proxy_config.h"
#include "proxy/request_filter.h"
#include "proxy/upstream_pool.h"
#include "proxy/write_request.h"

namespace jwtgate::proxy {

struct WorkerOptions {
  const ProxyConfig* config = nullptr;  // outlives the worker
  std::vector<int> listen_fds;          // bound, listening, non-blocking; the worker owns them
  RequestFilterFactory filter_factory;  // empty: every request passes
  // Open client connections of the whole process (limits.max_connections); outlives the
  // worker. Touched on accept and close only.
  std::atomic<uint32_t>* open_connections = nullptr;
  // This worker's access-log channel (outlives the worker); nullptr: the log is off and no
  // line is formatted.
  observe::LineWriter::Channel* access_log = nullptr;
  // Query parameters whose values the access log redacts (see setRedactedQueryParams).
  std::vector<std::string> redacted_query_params;
};

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs the loop on the calling thread until it has drained (or was stopped) and every
  // handle is closed. Returns 0 when uv_loop_close succeeded, else a libuv error code.
  int run();

  // Thread-safe. Drain: stop accepting, finish in-flight requests within timeouts.drain,
  // then close everything. Stop: close everything now.
  void requestDrain();
  void requestStop();

  // Thread-safe: runs `task` on the worker's thread at its next loop turn. Returns false
  // (and drops the task) when the worker has already closed its handles.
  bool post(std::function<void(Worker&)> task);

  // The time of the worker's last heartbeat (uv_hrtime in ms, a 1 s repeating timer), and
  // whether its loop is running. Thread-safe.
  uint64_t heartbeatMs() const { return heartbeat_ms_.load(std::memory_order_relaxed); }
  bool running() const { return running_.load(std::memory_order_relaxed); }

  // Counters and histograms of this worker; written by its thread only, readable anywhere.
  const WorkerStats& stats() const { return stats_; }

  // Replaces the names of the query parameters the access log redacts. Worker thread only
  // (from a task posted with post(), or before run()).
  void setRedactedQueryParams(std::vector<std::string> names);

  // ---- for the connections of this worker (worker thread only) ----
  uv_loop_t* loop() { return &loop_; }
  const ProxyConfig& config() const { return *config_; }
  BufferPool& buffers() { return buffers_; }
  WritePool& writes() { return writes_; }
  UpstreamPool& upstreams() { return upstreams_; }
  RequestFilter& filter() { return *filter_; }
  WorkerStats& stats() { return stats_; }
  // The access log (nullptr when off) and the reused buffers a line is built in.
  observe::LineWriter::Channel* accessLog() { return access_log_; }
  std::string& logLine() { return log_line_; }
  std::string& logPath() { return log_path_; }
  LogClock& logClock() { return log_clock_; }
  const std::vector<std::string>& redactedQueryParams() const { return redacted_query_params_; }
  observe::RequestIdGenerator& requestIds() { return request_ids_; }
  // The reply a filter fills through RequestContext::respond(); consumed at once.
  LocalReply& localReply() { return local_reply_; }
  bool draining() const { return draining_; }

  void onClientClosed(ClientConnection* client);

  // A connection's small upstream writes wait here for the end of the loop turn, so that
  // what one turn parsed goes out together (ClientConnection::parseInput says why). The list
  // is flushed after the turn's I/O callbacks (check phase) and before the loop next blocks
  // (prepare phase, for writes queued by timers). A closing connection unlinks itself.
  void scheduleUpstreamFlush(ClientConnection* client);
  void cancelUpstreamFlush(ClientConnection* client) { flush_list_.remove(client); }

  // Logs an upstream failure at warn level, at most once per 10 s per worker (the counters
  // in stats() count every one).
  void warnUpstreamFailure(const char* what);
  void onUpstreamPoolEmpty();

  // Suspended requests, by id (see PendingRequest).
  uint64_t registerPending(ClientConnection* client);
  void unregisterPending(uint64_t id);
  ClientConnection* findPending(uint64_t id) const;

 private:
  struct Listener {
    Worker* worker = nullptr;
    uv_poll_t poll;
    int fd = -1;
    bool polling = false;
  };

  static void onListenerReadable(uv_poll_t* poll, int status, int events) noexcept;
  static void onListenerClosed(uv_handle_t* handle) noexcept;
  static void onCommand(uv_async_t* async) noexcept;
  static void onAcceptTimer(uv_timer_t* timer) noexcept;
  static void onDrainTimer(uv_timer_t* timer) noexcept;
  static void onHeartbeat(uv_timer_t* timer) noexcept;
  static void onFlushHook(uv_check_t* check) noexcept;
  static void onFlushPrepare(uv_prepare_t* prepare) noexcept;
  void flushScheduled();

  void acceptBatch(Listener& listener);
  bool admitConnection(int fd);
  void pauseAccepting(uint64_t delay_ms);
  void resumeAccepting();
  void startDrain();
  void closeListeners();
  void closeAllClients();
  void finishIfDone();
  void closeOwnHandles();
  void runPostedTasks();

  const ProxyConfig* config_;
  std::atomic<uint32_t>* open_connections_;
  RequestFilterFactory filter_factory_;
  uv_loop_t loop_;
  uv_async_t command_async_;
  uv_timer_t accept_timer_;
  uv_timer_t drain_timer_;
  uv_timer_t heartbeat_timer_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<int> pending_fds_;  // listening sockets not yet polled (before run)

  BufferPool buffers_;
  WritePool writes_;
  UpstreamPool upstreams_;
  std::unique_ptr<RequestFilter> filter_;
  IntrusiveList<ClientConnection, &ClientConnection::worker_link_> clients_;
  IntrusiveList<ClientConnection, &ClientConnection::flush_link_> flush_list_;
  uv_check_t flush_check_;
  uv_prepare_t flush_prepare_;
  std::unordered_map<uint64_t, ClientConnection*> pending_;
  uint64_t next_pending_id_ = 1;
  WorkerStats stats_;
  LocalReply local_reply_;

  observe::LineWriter::Channel* access_log_ = nullptr;
  std::string log_line_;
  std::string log_path_;
  LogClock log_clock_;
  std::vector<std::string> redacted_query_params_;
  observe::RequestIdGenerator request_ids_;

  std::mutex command_mutex_;  // guards command_async_ against use after close, and tasks_
  bool command_open_ = false;
  std::vector<std::function<void(Worker&)>> tasks_;
  std::atomic<uint8_t> command_{0};
  std::atomic<uint64_t> heartbeat_ms_{0};
  bool draining_ = false;
  bool stopping_ = false;
  bool handles_closed_ = false;
  bool loop_closed_ = false;
  bool accept_paused_ = false;
  uint64_t last_accept_warning_ms_ = 0;
  uint64_t last_upstream_warning_ms_ = 0;
  std::atomic<bool> running_{false};
};

}  // namespace jwtgate::proxy

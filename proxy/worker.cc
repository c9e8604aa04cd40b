// Worker loops: accepting, admission control, drain and shutdown.
#include "proxy/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "proxy/log.h"

namespace jwtgate::proxy {
namespace {

constexpr int kAcceptBatch = 64;                // accepts per readiness event (fairness)
constexpr uint64_t kAcceptRetryMs = 50;         // at max_connections: check again after this
constexpr uint64_t kDescriptorBackoffMs = 100;  // after EMFILE/ENFILE: stop accepting this long
constexpr uint64_t kWarningIntervalMs = 10'000;
constexpr size_t kCachedBuffers = 256;
constexpr size_t kCachedWrites = 256;
constexpr uint64_t kHeartbeatMs = 1000;
constexpr size_t kLogLineReserve = 4096;

uint64_t hrtimeMs() { return uv_hrtime() / 1'000'000; }

enum Command : uint8_t { kNone = 0, kDrain = 1, kStop = 2 };

}  // namespace

Worker::Worker(WorkerOptions options)
    : config_(options.config),
      open_connections_(options.open_connections),
      filter_factory_(std::move(options.filter_factory)),
      pending_fds_(std::move(options.listen_fds)),
      buffers_(kCachedBuffers),
      writes_(buffers_, kCachedWrites),
      upstreams_(*this),
      access_log_(options.access_log),
      redacted_query_params_(std::move(options.redacted_query_params)) {
  if (access_log_ != nullptr) {
    log_line_.reserve(kLogLineReserve);
    log_path_.reserve(kMaxLoggedTarget + 16);
  }
  heartbeat_ms_.store(hrtimeMs(), std::memory_order_relaxed);
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &command_async_, onCommand);
  command_async_.data = this;
  command_open_ = true;
  uv_timer_init(&loop_, &accept_timer_);
  accept_timer_.data = this;
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  uv_timer_init(&loop_, &heartbeat_timer_);
  heartbeat_timer_.data = this;
  uv_check_init(&loop_, &flush_check_);
  flush_check_.data = this;
  uv_prepare_init(&loop_, &flush_prepare_);
  flush_prepare_.data = this;
}

Worker::~Worker() {
  // run() normally closed everything; a worker that never ran still owns its sockets.
  for (int fd : pending_fds_) {
    ::close(fd);
  }
  if (loop_closed_) {
    return;
  }
  if (!handles_closed_) {
    closeOwnHandles();
  }
  closeAllClients();
  closeListeners();
  upstreams_.closeAll();
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

int Worker::run() {
  running_ = true;
  filter_ = filter_factory_ ? filter_factory_(&loop_) : nullptr;
  if (filter_ == nullptr) {
    filter_ = std::make_unique<PassThroughFilter>();
  }

  // Poll the listening sockets; accept4() is ours so that descriptor exhaustion and the
  // connection limit can pause accepting without dropping queued connections.
  for (int fd : pending_fds_) {
    auto listener = std::make_unique<Listener>();
    listener->worker = this;
    listener->fd = fd;
    uv_poll_init(&loop_, &listener->poll, fd);
    listener->poll.data = listener.get();
    listeners_.push_back(std::move(listener));
  }
  pending_fds_.clear();
  resumeAccepting();

  // The heartbeat shows /healthz that this loop still turns; it must not keep the loop alive.
  heartbeat_ms_.store(hrtimeMs(), std::memory_order_relaxed);
  uv_timer_start(&heartbeat_timer_, onHeartbeat, kHeartbeatMs, kHeartbeatMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(&heartbeat_timer_));
  uv_check_start(&flush_check_, onFlushHook);
  uv_unref(reinterpret_cast<uv_handle_t*>(&flush_check_));
  uv_prepare_start(&flush_prepare_, onFlushPrepare);
  uv_unref(reinterpret_cast<uv_handle_t*>(&flush_prepare_));

  // A command sent before run() started is picked up here.
  if (command_.load() != kNone) {
    onCommand(&command_async_);
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  filter_.reset();
  running_ = false;
  int rc = uv_loop_close(&loop_);
  loop_closed_ = rc == 0;
  return rc;
}

void Worker::requestDrain() {
  uint8_t expected = kNone;
  command_.compare_exchange_strong(expected, kDrain);
  std::lock_guard<std::mutex> lock(command_mutex_);
  if (command_open_) {
    uv_async_send(&command_async_);
  }
}

void Worker::requestStop() {
  command_.store(kStop);
  std::lock_guard<std::mutex> lock(command_mutex_);
  if (command_open_) {
    uv_async_send(&command_async_);
  }
}

bool Worker::post(std::function<void(Worker&)> task) {
  std::lock_guard<std::mutex> lock(command_mutex_);
  if (!command_open_) {
    return false;
  }
  tasks_.push_back(std::move(task));
  uv_async_send(&command_async_);
  return true;
}

void Worker::runPostedTasks() {
  std::vector<std::function<void(Worker&)>> tasks;
  {
    std::lock_guard<std::mutex> lock(command_mutex_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) {
    task(*this);
  }
}

void Worker::setRedactedQueryParams(std::vector<std::string> names) {
  redacted_query_params_ = std::move(names);
}

void Worker::onHeartbeat(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Worker*>(timer->data);
  self->heartbeat_ms_.store(hrtimeMs(), std::memory_order_relaxed);
  self->log_clock_.sync();  // follows wall-clock steps within a second
}

void Worker::onCommand(uv_async_t* async) noexcept {
  auto* self = static_cast<Worker*>(async->data);
  self->runPostedTasks();
  uint8_t command = self->command_.load();
  if (command == kStop) {
    self->stopping_ = true;
    self->startDrain();
    self->closeAllClients();
    self->finishIfDone();
  } else if (command == kDrain) {
    self->startDrain();
  }
}

// ---- accepting ----

void Worker::onListenerReadable(uv_poll_t* poll, int status, int) noexcept {
  auto* listener = static_cast<Listener*>(poll->data);
  if (status < 0) {
    return;  // a listening socket in error: keep it; the next event tells more
  }
  listener->worker->acceptBatch(*listener);
}

void Worker::acceptBatch(Listener& listener) {
  for (int i = 0; i < kAcceptBatch && !draining_; ++i) {
    // At the connection limit, leave new connections in the backlog.
    if (open_connections_ != nullptr &&
        open_connections_->load(std::memory_order_relaxed) >= config_->limits.max_connections) {
      pauseAccepting(kAcceptRetryMs);
      return;
    }
    int fd = accept4(listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      admitConnection(fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) {
      continue;
    }
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // Out of descriptors or memory: accepting again at once would spin. Back off; the
      // queued connections wait in the backlog.
      if (rateLimitAllows(&last_accept_warning_ms_, uv_now(&loop_), kWarningIntervalMs)) {
        logMessage(LogLevel::Warn, "accept failed (%s): pausing accepts for %llu ms",
                   uv_strerror(uv_translate_sys_error(errno)),
                   static_cast<unsigned long long>(kDescriptorBackoffMs));
      }
      pauseAccepting(kDescriptorBackoffMs);
    }
    return;  // EAGAIN, or an error the next readiness event will show again
  }
}

bool Worker::admitConnection(int fd) {
  if (open_connections_ != nullptr) {
    open_connections_->fetch_add(1, std::memory_order_relaxed);
  }
  stats_.connections_accepted.add();
  stats_.open_connections.add(1);
  auto* client = new ClientConnection(*this);
  clients_.pushBack(client);
  client->start(fd);
  return true;
}

void Worker::pauseAccepting(uint64_t delay_ms) {
  if (!accept_paused_) {
    stats_.accept_pauses.add();
  }
  accept_paused_ = true;
  for (auto& listener : listeners_) {
    if (listener->polling) {
      uv_poll_stop(&listener->poll);
      listener->polling = false;
    }
  }
  uv_timer_start(&accept_timer_, onAcceptTimer, delay_ms, 0);
}

void Worker::resumeAccepting() {
  accept_paused_ = false;
  if (draining_) {
    return;
  }
  for (auto& listener : listeners_) {
    if (!listener->polling &&
        uv_poll_start(&listener->poll, UV_READABLE, onListenerReadable) == 0) {
      listener->polling = true;
    }
  }
}

void Worker::onAcceptTimer(uv_timer_t* timer) noexcept {
  static_cast<Worker*>(timer->data)->resumeAccepting();
}

void Worker::onClientClosed(ClientConnection* client) {
  clients_.remove(client);
  delete client;
  stats_.open_connections.add(-1);
  if (open_connections_ != nullptr) {
    open_connections_->fetch_sub(1, std::memory_order_relaxed);
  }
  if (accept_paused_ && !draining_ &&
      (open_connections_ == nullptr ||
       open_connections_->load(std::memory_order_relaxed) < config_->limits.max_connections)) {
    uv_timer_stop(&accept_timer_);
    resumeAccepting();
  }
  finishIfDone();
}

void Worker::scheduleUpstreamFlush(ClientConnection* client) {
  if (!flush_list_.contains(client)) {
    flush_list_.pushBack(client);
  }
}

void Worker::onFlushHook(uv_check_t* check) noexcept {
  static_cast<Worker*>(check->data)->flushScheduled();
}

void Worker::onFlushPrepare(uv_prepare_t* prepare) noexcept {
  static_cast<Worker*>(prepare->data)->flushScheduled();
}

void Worker::flushScheduled() {
  while (ClientConnection* client = flush_list_.front()) {
    flush_list_.remove(client);
    client->flushToUpstream();
  }
}

void Worker::warnUpstreamFailure(const char* what) {
  stats_.upstream_failures.add();
  if (rateLimitAllows(&last_upstream_warning_ms_, uv_now(&loop_), kWarningIntervalMs)) {
    logMessage(LogLevel::Warn, "upstream %s: %s", config_->upstream.text.c_str(), what);
  }
}

// ---- drain and shutdown ----

void Worker::startDrain() {
  if (draining_) {
    return;
  }
  draining_ = true;
  uv_timer_stop(&accept_timer_);
  closeListeners();

  // Idle connections close now; busy ones after their current response.
  for (ClientConnection* client = clients_.front(); client != nullptr;) {
    ClientConnection* next = clients_.next(client);
    client->startDrain();
    client = next;
  }
  uint64_t drain_ms = config_->timeouts.drain_ms;
  if (drain_ms == 0) {
    closeAllClients();
  } else {
    uv_timer_start(&drain_timer_, onDrainTimer, drain_ms, 0);
  }
  finishIfDone();
}

void Worker::onDrainTimer(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Worker*>(timer->data);
  self->closeAllClients();
  self->finishIfDone();
}

void Worker::closeListeners() {
  for (auto& listener : listeners_) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener->poll))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&listener->poll), onListenerClosed);
    }
  }
}

void Worker::onListenerClosed(uv_handle_t* handle) noexcept {
  auto* listener = static_cast<Listener*>(handle->data);
  ::close(listener->fd);
  listener->fd = -1;
}

void Worker::closeAllClients() {
  for (ClientConnection* client = clients_.front(); client != nullptr;) {
    ClientConnection* next = clients_.next(client);
    client->close();
    client = next;
  }
}

void Worker::finishIfDone() {
  if (!draining_ || !clients_.empty() || handles_closed_) {
    return;
  }
  upstreams_.closeAll();
  if (upstreams_.empty()) {
    closeOwnHandles();
  }
}

void Worker::onUpstreamPoolEmpty() {
  if (draining_ && clients_.empty() && !handles_closed_) {
    closeOwnHandles();
  }
}

void Worker::closeOwnHandles() {
  handles_closed_ = true;
  if (filter_ != nullptr) {
    filter_->close();
  }
  {
    std::lock_guard<std::mutex> lock(command_mutex_);
    command_open_ = false;
    tasks_.clear();  // never run: the worker is ending
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&command_async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&accept_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&heartbeat_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_prepare_), nullptr);
}

// ---- suspended requests ----

uint64_t Worker::registerPending(ClientConnection* client) {
  uint64_t id = next_pending_id_++;
  pending_.emplace(id, client);
  return id;
}

void Worker::unregisterPending(uint64_t id) { pending_.erase(id); }

ClientConnection* Worker::findPending(uint64_t id) const {
  auto found = pending_.find(id);
  return found == pending_.end() ? nullptr : found->second;
}

bool PendingRequest::alive() const {
  return worker_ != nullptr && worker_->findPending(id_) != nullptr;
}

RequestContext* PendingRequest::context() const {
  ClientConnection* client = worker_ == nullptr ? nullptr : worker_->findPending(id_);
  return client == nullptr ? nullptr : &client->filterContext();
}

void PendingRequest::resume(FilterVerdict verdict) const {
  ClientConnection* client = worker_ == nullptr ? nullptr : worker_->findPending(id_);
  if (client != nullptr) {
    client->resumeFilter(verdict);
  }
}

}  // namespace jwtgate::proxy

// Process-level setup: listening sockets, worker threads, signals.
#include "proxy/server.h"

#include <unistd.h>

#include <cstring>

#include "observe/log.h"
#include "proxy/listen_socket.h"
#include "proxy/log.h"

namespace jwtgate::proxy {
namespace {

// The port of a configured address; 0 asks the kernel for one.
uint16_t boundPortOf(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

constexpr size_t kDiagnosticsBuffer = 64 * 1024;

int onProbeHeadersComplete(llhttp_t*) { return 0; }

void closeAll(std::vector<std::vector<int>>& fds) {
  for (auto& sockets : fds) {
    for (int fd : sockets) {
      ::close(fd);
    }
    sockets.clear();
  }
}

}  // namespace

bool parserIsStrict() {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_headers_complete = onProbeHeadersComplete;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  constexpr std::string_view kProbe = "GET / HTTP/1.1\r\nHost: a\r\nX-Probe : 1\r\n\r\n";
  return llhttp_execute(&parser, kProbe.data(), kProbe.size()) != HPE_OK;
}

Server::Server(const ProxyConfig& config, RequestFilterFactory factory, ServerHooks hooks)
    : config_(config), factory_(std::move(factory)), hooks_(std::move(hooks)) {}

Server::~Server() {
  if (loop_ready_ && !ran_) {
    closeLoopHandles();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  for (std::thread& thread : threads_) {
    if (thread.joinable()) {
      thread.join();
    }
  }
  closeAll(worker_fds_);
}

Result<std::unique_ptr<Server>, std::string> Server::create(const ProxyConfig& config,
                                                            RequestFilterFactory factory,
                                                            ServerHooks hooks) {
  std::unique_ptr<Server> server(new Server(config, std::move(factory), std::move(hooks)));
  uint32_t workers = config.workers == 0 ? 1 : config.workers;
  server->config_.workers = workers;
  server->worker_fds_.resize(workers);

  // For each address: the first bind picks the port (when 0), the other workers reuse it.
  for (const ListenAddress& listen : config.listen) {
    sockaddr_storage address = listen.address;
    const bool ephemeral = boundPortOf(address) == 0;
    if (!ephemeral) {
      auto free = checkAddressFree(address, listen.address_length);
      if (!free) {
        closeAll(server->worker_fds_);
        return makeError("cannot listen on " + listen.text + ": " + free.error());
      }
    }
    for (uint32_t w = 0; w < workers; ++w) {
      auto fd = openListenSocket(address, listen.address_length);
      if (!fd) {
        closeAll(server->worker_fds_);
        return makeError("cannot listen on " + listen.text + ": " + fd.error());
      }
      server->worker_fds_[w].push_back(*fd);
      if (w == 0) {
        uint16_t port = boundPort(*fd);
        if (address.ss_family == AF_INET6) {
          reinterpret_cast<sockaddr_in6*>(&address)->sin6_port = htons(port);
        } else {
          reinterpret_cast<sockaddr_in*>(&address)->sin_port = htons(port);
        }
        server->bound_.push_back(formatAddress(address));
      }
    }
  }

  // Signals are caught from here on: the caller announces the listening addresses before
  // run(), and a SIGTERM sent on that line must start the shutdown, not end the process.
  server->initLoop();
  return server;
}

void Server::initLoop() {
  uv_loop_init(&loop_);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  sigterm_.data = sigint_.data = sighup_.data = this;
  uv_signal_start(&sigterm_, onSignal, SIGTERM);
  uv_signal_start(&sigint_, onSignal, SIGINT);
  // SIGHUP's default action ends the process at once, without a drain; operators and
  // supervisors send it to ask for a reload.
  uv_signal_start(&sighup_, onHangup, SIGHUP);
  uv_async_init(&loop_, &worker_exit_, onWorkerExit);
  worker_exit_.data = this;
  uv_timer_init(&loop_, &grace_timer_);
  grace_timer_.data = this;
  loop_ready_ = true;
}

void Server::closeLoopHandles() {
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sighup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&grace_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&worker_exit_), nullptr);
}

int Server::run() {
  ran_ = true;

  // The access-log writer runs before the first request and is flushed after the last.
  const AccessLogSettings& log = config_.access_log;
  if (log.output != AccessLogSettings::Output::Off) {
    int fd = log.output == AccessLogSettings::Output::Stdout ? STDOUT_FILENO : STDERR_FILENO;
    access_log_ = std::make_unique<observe::LineWriter>(fd);
    access_log_->start();
  }
  // Diagnostics go through a writer thread too, so that a worker never blocks on a slow
  // stderr; on the access log's own writer when both share stderr, to keep them in order.
  observe::LineWriter* diagnostics = nullptr;
  if (log.output == AccessLogSettings::Output::Stderr) {
    diagnostics = access_log_.get();
  } else {
    diagnostics_ = std::make_unique<observe::LineWriter>(STDERR_FILENO);
    diagnostics_->start();
    diagnostics = diagnostics_.get();
  }
  observe::routeDiagnostics(diagnostics->openChannel(kDiagnosticsBuffer));
  startWorkers();
  if (hooks_.on_start) {
    hooks_.on_start(&loop_);
  }

  uv_run(&loop_, UV_RUN_DEFAULT);
  for (std::thread& thread : threads_) {
    thread.join();
  }
  threads_.clear();
  workers_running_ = false;
  observe::routeDiagnostics(nullptr);
  if (access_log_ != nullptr) {
    access_log_->stop();
  }
  if (diagnostics_ != nullptr) {
    diagnostics_->stop();
  }
  uv_loop_close(&loop_);

  int status = 0;
  for (int result : results_) {
    status = result == 0 ? status : 1;
  }
  workers_.clear();
  return status;
}

void Server::startWorkers() {
  // One worker per thread; each gets its own sockets, log channel and filter.
  uint32_t count = config_.workers;
  results_.assign(count, 0);
  for (uint32_t w = 0; w < count; ++w) {
    WorkerOptions options;
    options.config = &config_;
    options.listen_fds = std::move(worker_fds_[w]);
    worker_fds_[w].clear();
    options.filter_factory = factory_;
    options.open_connections = &open_connections_;
    if (access_log_ != nullptr) {
      options.access_log = access_log_->openChannel(config_.access_log.buffer_bytes);
    }
    options.redacted_query_params = redacted_query_params_;
    workers_.push_back(std::make_unique<Worker>(std::move(options)));
  }
  for (uint32_t w = 0; w < count; ++w) {
    threads_.emplace_back([this, w] {
      results_[w] = workers_[w]->run();
      std::lock_guard<std::mutex> lock(exit_mutex_);
      exited_.fetch_add(1);
      uv_async_send(&worker_exit_);
    });
  }
  workers_running_ = true;
}

void Server::postToWorkers(std::function<void(Worker&)> task) {
  for (auto& worker : workers_) {
    worker->post(task);
  }
}

void Server::setRedactedQueryParams(std::vector<std::string> names) {
  if (!workers_running_) {
    redacted_query_params_ = std::move(names);
    return;
  }
  redacted_query_params_ = names;
  postToWorkers([names = std::move(names)](Worker& worker) {
    worker.setRedactedQueryParams(names);
  });
}

void Server::collectMetrics(observe::MetricsText& out) const {
  std::vector<const WorkerStats*> stats;
  stats.reserve(workers_.size());
  for (const auto& worker : workers_) {
    stats.push_back(&worker->stats());
  }
  EngineTotals totals;
  totals.draining = shuttingDown();
  totals.workers = config_.workers;
  if (access_log_ != nullptr) {
    totals.log_lines_written = access_log_->totalWritten();
    totals.log_lines_dropped = access_log_->totalDropped();
  }
  renderEngineMetrics(out, stats, totals);
}

std::vector<uint32_t> Server::stalledWorkers(uint64_t max_age_ms) const {
  std::vector<uint32_t> stalled;
  uint64_t now_ms = uv_hrtime() / 1'000'000;
  for (uint32_t w = 0; w < workers_.size(); ++w) {
    const Worker& worker = *workers_[w];
    uint64_t beat = worker.heartbeatMs();
    if (worker.running() && now_ms > beat && now_ms - beat > max_age_ms) {
      stalled.push_back(w);
    }
  }
  return stalled;
}

void Server::onSignal(uv_signal_t* handle, int signum) noexcept {
  auto* self = static_cast<Server*>(handle->data);
  self->signals_seen_++;
  const char* name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
  if (self->signals_seen_ > 1) {
    logMessage(LogLevel::Info, "second signal: stopping now");
    uv_timer_stop(&self->grace_timer_);
    for (auto& worker : self->workers_) {
      worker->requestStop();
    }
    return;
  }

  // First signal: readiness turns false at once; serving goes on for the grace period so
  // that load balancers stop sending before the listeners close.
  self->shutting_down_.store(true, std::memory_order_relaxed);
  if (self->hooks_.on_shutdown) {
    self->hooks_.on_shutdown();
  }
  uint64_t grace_ms = self->config_.timeouts.shutdown_grace_ms;
  if (grace_ms == 0) {
    logMessage(LogLevel::Info, "%s: draining (up to %llu ms)", name,
               static_cast<unsigned long long>(self->config_.timeouts.drain_ms));
    self->drainWorkers();
    return;
  }
  logMessage(LogLevel::Info, "%s: shutting down: serving for %llu ms more, then draining", name,
             static_cast<unsigned long long>(grace_ms));
  uv_timer_start(&self->grace_timer_, onGraceTimer, grace_ms, 0);
}

void Server::onGraceTimer(uv_timer_t* handle) noexcept {
  auto* self = static_cast<Server*>(handle->data);
  logMessage(LogLevel::Info, "shutdown grace over: draining (up to %llu ms)",
             static_cast<unsigned long long>(self->config_.timeouts.drain_ms));
  self->drainWorkers();
}

void Server::drainWorkers() {
  for (auto& worker : workers_) {
    worker->requestDrain();
  }
}

void Server::onHangup(uv_signal_t* handle, int) noexcept {
  auto* self = static_cast<Server*>(handle->data);
  if (self->hooks_.on_hangup) {
    self->hooks_.on_hangup();
    return;
  }
  logMessage(LogLevel::Info,
             "SIGHUP received: configuration reload is not supported yet; ignored");
}

void Server::onWorkerExit(uv_async_t* handle) noexcept {
  auto* self = static_cast<Server*>(handle->data);
  std::lock_guard<std::mutex> lock(self->exit_mutex_);
  if (self->exited_.load() < self->workers_.size()) {
    return;
  }
  if (self->hooks_.on_stop) {
    self->hooks_.on_stop();
  }
  self->closeLoopHandles();
}

}  // namespace jwtgate::proxy

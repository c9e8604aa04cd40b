// Process-level setup: listening sockets, worker threads, signals.
#include "proxy/server.h"

#include <unistd.h>

#include <cstring>

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

Server::Server(const ProxyConfig& config, RequestFilterFactory factory)
    : config_(config), factory_(std::move(factory)) {}

Server::~Server() {
  for (std::thread& thread : threads_) {
    if (thread.joinable()) {
      thread.join();
    }
  }
  closeAll(worker_fds_);
}

Result<std::unique_ptr<Server>, std::string> Server::create(const ProxyConfig& config,
                                                            RequestFilterFactory factory) {
  std::unique_ptr<Server> server(new Server(config, std::move(factory)));
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
  return server;
}

int Server::run() {
  uv_loop_init(&loop_);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  sigterm_.data = sigint_.data = sighup_.data = this;
  uv_signal_start(&sigterm_, onSignal, SIGTERM);
  uv_signal_start(&sigint_, onSignal, SIGINT);
  // SIGHUP's default action ends the process at once, without a drain; operators and
  // supervisors send it to ask for a reload, so it must at least be survived.
  uv_signal_start(&sighup_, onHangup, SIGHUP);
  uv_async_init(&loop_, &worker_exit_, onWorkerExit);
  worker_exit_.data = this;

  // One worker per thread; each gets its own sockets and makes its own filter.
  uint32_t count = config_.workers;
  results_.assign(count, 0);
  for (uint32_t w = 0; w < count; ++w) {
    WorkerOptions options;
    options.config = &config_;
    options.listen_fds = std::move(worker_fds_[w]);
    worker_fds_[w].clear();
    options.filter_factory = factory_;
    options.open_connections = &open_connections_;
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

  uv_run(&loop_, UV_RUN_DEFAULT);
  for (std::thread& thread : threads_) {
    thread.join();
  }
  threads_.clear();
  uv_loop_close(&loop_);

  int status = 0;
  for (int result : results_) {
    status = result == 0 ? status : 1;
  }
  workers_.clear();
  return status;
}

void Server::onSignal(uv_signal_t* handle, int signum) noexcept {
  auto* self = static_cast<Server*>(handle->data);
  self->signals_seen_++;
  if (self->signals_seen_ == 1) {
    logMessage(LogLevel::Info, "%s: draining (up to %llu ms)",
               signum == SIGTERM ? "SIGTERM" : "SIGINT",
               static_cast<unsigned long long>(self->config_.timeouts.drain_ms));
    for (auto& worker : self->workers_) {
      worker->requestDrain();
    }
    return;
  }
  logMessage(LogLevel::Info, "second signal: stopping now");
  for (auto& worker : self->workers_) {
    worker->requestStop();
  }
}

void Server::onHangup(uv_signal_t*, int) noexcept {
  // TODO(reload): re-read the configuration and hand it to the workers; until then the
  // signal is only acknowledged so that it cannot stop the process.
  logMessage(LogLevel::Info, "SIGHUP received: configuration reload is not supported yet; ignored");
}

void Server::onWorkerExit(uv_async_t* handle) noexcept {
  auto* self = static_cast<Server*>(handle->data);
  std::lock_guard<std::mutex> lock(self->exit_mutex_);
  if (self->exited_.load() < self->workers_.size()) {
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&self->sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->sighup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->worker_exit_), nullptr);
}

}  // namespace jwtgate::proxy

// The admin listener: binding, accepting (with the connection cap) and closing.
#include "admin/admin_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <utility>
#include <vector>

#include "admin/admin_connection.h"
#include "proxy/listen_socket.h"

namespace jwtgate::admin {
namespace {

constexpr int kBacklog = 128;
// Kernel buffers of each admin connection (inherited from the listener; Linux doubles the
// value). Fixed sizes turn off autotuning, which lets a client that stops reading make the
// kernel hold megabytes of responses (or of its own pipelined requests) per connection.
// Admin answers are small and their clients close by, so this costs no useful speed.
constexpr int kSocketBuffer = 64 * 1024;

std::string listenError(const proxy::ListenAddress& address, int uv_error) {
  std::string text = address.text.empty() ? proxy::formatAddress(address.address) : address.text;
  return "admin listen " + text + ": " + uv_strerror(uv_error);
}

// A listening, non-blocking socket without SO_REUSEPORT, so a second process can never
// share the admin port: a taken address fails here. Returns the fd or a libuv error code.
Result<int, int> openAdminSocket(const proxy::ListenAddress& address) {
  int fd = ::socket(address.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return makeError(uv_translate_sys_error(errno));
  }
  int on = 1;
  int buffer = kSocketBuffer;
  // SO_REUSEADDR only lets a restart bind past connections in TIME_WAIT.
  bool options_set = ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
                     ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer)) == 0 &&
                     ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer)) == 0 &&
                     (address.address.ss_family != AF_INET6 ||
                      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == 0);
  if (!options_set ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&address.address), address.address_length) !=
          0 ||
      ::listen(fd, kBacklog) != 0) {
    int error = errno;
    ::close(fd);
    return makeError(uv_translate_sys_error(error));
  }
  return fd;
}

void onListenerClosed(uv_handle_t* handle) noexcept { delete reinterpret_cast<uv_tcp_t*>(handle); }

}  // namespace

AdminServer::AdminServer(uv_loop_t* loop, AdminHandlers handlers, AdminOptions options)
    : loop_(loop), handlers_(std::move(handlers)), options_(options) {
  // Reserved once, so registering a connection never allocates on the accept path.
  connections_.reserve(options_.max_connections);
}

AdminServer::~AdminServer() { close(); }

Result<std::unique_ptr<AdminServer>, std::string> AdminServer::start(
    uv_loop_t* loop, const proxy::ListenAddress& address, AdminHandlers handlers,
    AdminOptions options) {
  if (address.address.ss_family != AF_INET && address.address.ss_family != AF_INET6) {
    return makeError(listenError(address, UV_EAFNOSUPPORT));
  }
  auto fd = openAdminSocket(address);
  if (!fd.ok()) {
    return makeError(listenError(address, fd.error()));
  }

  // The socket is bound and listening; only now does anything go onto the loop.
  std::unique_ptr<AdminServer> server(new AdminServer(loop, std::move(handlers), options));
  server->listener_ = new uv_tcp_t;
  uv_tcp_init(loop, server->listener_);
  server->listener_->data = server.get();
  int status = uv_tcp_open(server->listener_, *fd);
  if (status != 0) {
    ::close(*fd);
  } else {
    status = uv_listen(reinterpret_cast<uv_stream_t*>(server->listener_), kBacklog, onConnection);
  }
  if (status != 0) {
    return makeError(listenError(address, status));  // the destructor closes the handle
  }

  sockaddr_storage bound{};
  int length = sizeof(bound);
  if (uv_tcp_getsockname(server->listener_, reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
    server->bound_address_ = proxy::formatAddress(bound);
  }
  return server;
}

std::string AdminServer::boundAddress() const { return bound_address_; }

void AdminServer::onConnection(uv_stream_t* listener, int status) noexcept {
  if (status != 0) {
    return;  // nothing to accept (libuv retries itself after EMFILE and the like)
  }
  static_cast<AdminServer*>(listener->data)->acceptOne();
}

void AdminServer::acceptOne() {
  auto* listener = reinterpret_cast<uv_stream_t*>(listener_);

  // At the cap an idle keep-alive connection gives way: otherwise a client holding every
  // slot with a request now and then would lock the kubelet's probes out. Only when every
  // connection is busy is the new one taken off the queue and closed at once, so a flood of
  // admin clients costs one handle each for a loop turn and nothing more.
  if (connections_.size() >= options_.max_connections && !evictIdlest()) {
    auto* refused = new (std::nothrow) uv_tcp_t;
    if (refused == nullptr) {
      return;  // out of memory: the listener waits until an accept succeeds
    }
    uv_tcp_init(loop_, refused);
    uv_accept(listener, reinterpret_cast<uv_stream_t*>(refused));
    uv_close(reinterpret_cast<uv_handle_t*>(refused), onListenerClosed);
    return;
  }

  auto* connection = new (std::nothrow) AdminConnection(*this);
  if (connection == nullptr) {
    return;
  }
  connections_.push_back(connection);
  connection->start(listener);  // on failure it closes, and forgets itself
}

// One pass over at most max_connections entries, only for an accept at the cap.
bool AdminServer::evictIdlest() {
  AdminConnection* idlest = nullptr;
  for (AdminConnection* connection : connections_) {
    if (connection->idle() &&
        (idlest == nullptr || connection->lastActivity() < idlest->lastActivity())) {
      idlest = connection;
    }
  }
  if (idlest == nullptr) {
    return false;
  }
  idlest->close();  // unregisters it at once, making room
  return true;
}

void AdminServer::noteQueued(size_t bytes) {
  // Only the loop thread writes; the atomic is for readers elsewhere.
  if (bytes > peak_queued_bytes_.load(std::memory_order_relaxed)) {
    peak_queued_bytes_.store(bytes, std::memory_order_relaxed);
  }
}

void AdminServer::forget(AdminConnection* connection) {
  auto at = std::find(connections_.begin(), connections_.end(), connection);
  if (at != connections_.end()) {
    *at = connections_.back();
    connections_.pop_back();
  }
}

void AdminServer::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (listener_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), onListenerClosed);
    listener_ = nullptr;
  }

  // Detached first, so no connection calls back into the set while it is walked.
  std::vector<AdminConnection*> open;
  open.swap(connections_);
  for (AdminConnection* connection : open) {
    connection->detach();
  }
}

}  // namespace jwtgate::admin

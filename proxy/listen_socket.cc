// Listening socket creation.
#include "proxy/listen_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace jwtgate::proxy {
namespace {

constexpr int kBacklog = 4096;  // the kernel caps it at net.core.somaxconn

std::string failure(const char* call, int error) {
  return std::string(call) + ": " + std::strerror(error);
}

}  // namespace

Result<int, std::string> openListenSocket(const sockaddr_storage& address, socklen_t length) {
  int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return makeError(failure("socket", errno));
  }
  int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) {
    int error = errno;
    ::close(fd);
    return makeError(failure("setsockopt", error));
  }
  if (address.ss_family == AF_INET6 &&
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) {
    int error = errno;
    ::close(fd);
    return makeError(failure("setsockopt(IPV6_V6ONLY)", error));
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    int error = errno;
    ::close(fd);
    return makeError(failure("bind", error));
  }
  if (::listen(fd, kBacklog) != 0) {
    int error = errno;
    ::close(fd);
    return makeError(failure("listen", error));
  }
  return fd;
}

Result<bool, std::string> checkAddressFree(const sockaddr_storage& address, socklen_t length) {
  int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return makeError(failure("socket", errno));
  }

  // SO_REUSEADDR only lets the probe past connections in TIME_WAIT; a listening socket,
  // with or without SO_REUSEPORT, still makes the bind fail.
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (address.ss_family == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
  }
  const int result = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), length);
  const int error = errno;
  ::close(fd);
  if (result != 0) {
    return makeError(error == EADDRINUSE
                         ? std::string("bind: address already in use (is another jwtgate "
                                       "running?)")
                         : failure("bind", error));
  }
  return true;
}

uint16_t boundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return 0;
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
}

std::string formatAddress(const sockaddr_storage& address) {
  char host[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
  inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
  return std::string(host) + ":" + std::to_string(ntohs(v4->sin_port));
}

}  // namespace jwtgate::proxy

// A blocking loopback HTTP/1.1 client on raw sockets for the admin listener tests: sends
// bytes exactly as given and reads responses with bounded waits (never a timed assertion).
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace jwtgate::admin::testing {

// Upper bound for any single wait on the server; only reached when something is broken.
constexpr int kWaitMs = 10'000;

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string header(const std::string& name) const {
    auto at = headers.find(name);
    return at == headers.end() ? std::string() : at->second;
  }
};

class RawClient {
 public:
  // receive_buffer > 0 shrinks the socket's receive buffer (before connecting, so the window
  // stays small), making a client that does not read fill the server's queue quickly.
  explicit RawClient(uint16_t port, int family = AF_INET, int receive_buffer = 0) {
    fd_ = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    int result = -1;
    if (family == AF_INET6) {
      sockaddr_in6 address{};
      address.sin6_family = AF_INET6;
      address.sin6_port = htons(port);
      address.sin6_addr = in6addr_loopback;
      result = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    } else {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(port);
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      result = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    }
    REQUIRE(result == 0);
  }
  ~RawClient() { closeNow(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void closeNow() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  // Sends every byte; false when the server has closed or reset the connection.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
  }

  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Reads more bytes into the buffer; false on EOF, reset or after kWaitMs without data.
  bool fill() {
    pollfd entry{fd_, POLLIN, 0};
    if (::poll(&entry, 1, kWaitMs) <= 0) {
      timed_out_ = true;
      return false;
    }
    char chunk[16 * 1024];
    ssize_t got = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (got <= 0) {
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(got));
    return true;
  }

  // Reads one response. For a response to HEAD pass head = true: its Content-Length
  // describes a body that is not sent. Empty when the connection ends first.
  std::optional<RawResponse> read(bool head = false) {
    size_t end = 0;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) {
        return std::nullopt;
      }
    }
    RawResponse response;
    std::string head_text = buffer_.substr(0, end + 2);
    if (!parseHead(head_text, &response)) {
      return std::nullopt;
    }
    size_t length = head ? 0 : std::stoul(response.header("content-length"));
    while (buffer_.size() < end + 4 + length) {
      if (!fill()) {
        return std::nullopt;
      }
    }
    response.body = buffer_.substr(end + 4, length);
    buffer_.erase(0, end + 4 + length);
    return response;
  }

  // True when the server closed the connection (EOF or reset) with no more bytes first.
  bool closedByServer() {
    while (buffer_.empty()) {
      if (!fill()) {
        return !timed_out_;
      }
    }
    return false;
  }

  // Reads and keeps everything until the server closes; false when it never does.
  bool readUntilClosed() {
    while (fill()) {
    }
    return !timed_out_;
  }

  // Bytes received and not yet read as a response.
  const std::string& pending() const { return buffer_; }

 private:
  static bool parseHead(const std::string& text, RawResponse* response) {
    if (text.rfind("HTTP/1.1 ", 0) != 0 || text.size() < 12) {
      return false;
    }
    response->status = std::stoi(text.substr(9, 3));
    size_t line = text.find("\r\n") + 2;
    while (line < text.size()) {
      size_t next = text.find("\r\n", line);
      size_t colon = text.find(':', line);
      if (next == std::string::npos || colon == std::string::npos || colon > next) {
        return false;
      }
      std::string name = text.substr(line, colon - line);
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      size_t value = colon + 1;
      while (value < next && text[value] == ' ') {
        ++value;
      }
      if (response->headers.count(name) != 0) {
        return false;  // the admin listener never repeats a field
      }
      response->headers[name] = text.substr(value, next - value);
      line = next + 2;
    }
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
  bool timed_out_ = false;
};

}  // namespace jwtgate::admin::testing

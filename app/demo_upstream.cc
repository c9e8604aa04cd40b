#include "app/demo_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

namespace jwtgate::app {
namespace {

constexpr std::size_t kMaxHead = 64 * 1024;
constexpr int kReadTimeoutMs = 5000;

// Escapes text for a JSON string; the proxy only forwards printable header values, but the
// echo must stay valid JSON whatever arrives.
std::string jsonEscape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

bool startsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

// The echo: the request line's method and target, and the headers jwtgate adds.
std::string echoBody(std::string_view head) {
  const std::size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const std::size_t first_space = request_line.find(' ');
  const std::size_t second_space = request_line.find(' ', first_space + 1);
  std::string body = "{\"service\":\"demo upstream\",\"method\":\"" +
                     jsonEscape(request_line.substr(0, first_space)) + "\",\"path\":\"" +
                     jsonEscape(request_line.substr(first_space + 1,
                                                    second_space - first_space - 1)) +
                     "\",\"identity\":{";

  bool first = true;
  std::size_t cursor = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (cursor < head.size()) {
    const std::size_t end = head.find("\r\n", cursor);
    const std::string_view line = head.substr(cursor, end - cursor);
    cursor = end == std::string_view::npos ? head.size() : end + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !startsWithIgnoringCase(line, "x-")) {
      continue;
    }
    if (startsWithIgnoringCase(line, "x-forwarded-")) {
      continue;
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
    body += (first ? "\"" : ",\"") + jsonEscape(line.substr(0, colon)) + "\":\"" +
            jsonEscape(value) + "\"";
    first = false;
  }
  return body + "}}\n";
}

}  // namespace

std::optional<std::uint16_t> DemoUpstream::start(DemoUpstream& upstream) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return std::nullopt;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  upstream.listen_fd_ = fd;
  upstream.port_ = ntohs(address.sin_port);
  upstream.thread_ = std::thread([&upstream] { upstream.serve(); });
  return upstream.port_;
}

DemoUpstream::~DemoUpstream() {
  stopping_ = true;
  if (listen_fd_ >= 0) {
    ::shutdown(listen_fd_, SHUT_RDWR);
  }
  if (thread_.joinable()) {
    thread_.join();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
  }
}

void DemoUpstream::serve() {
  while (!stopping_) {
    pollfd waiting{listen_fd_, POLLIN, 0};
    if (::poll(&waiting, 1, 200) <= 0) {
      continue;
    }
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      continue;
    }
    answer(client);
    ::close(client);
  }
}

// Reads one request head (the demo's requests have no body) and answers it, closing the
// connection afterwards so that no request body could be misread as the next request.
void DemoUpstream::answer(int client) {
  std::string head;
  char chunk[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < kMaxHead) {
    pollfd readable{client, POLLIN, 0};
    if (::poll(&readable, 1, kReadTimeoutMs) <= 0) {
      return;
    }
    const ssize_t n = ::read(client, chunk, sizeof chunk);
    if (n <= 0) {
      return;
    }
    head.append(chunk, static_cast<std::size_t>(n));
  }

  const std::string body = echoBody(head);
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: " + std::to_string(body.size()) +
                               "\r\nConnection: close\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t n = ::send(client, response.data() + sent, response.size() - sent,
                             MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace jwtgate::app

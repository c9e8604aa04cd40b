// A tiny HTTP/1.1 server on 127.0.0.1 for the jwks unit tests: one thread, one connection at
// a time, every reply closes the connection. Replies come from a handler the test sets; a
// reply may also hang (the connection is held open, unanswered, until the server stops).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace jwtgate::testing {

struct HttpReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool hang = false;     // accept, read the request, never answer
  bool chunked = false;  // no Content-Length: chunked transfer coding
  int delay_ms = 0;      // wait this long before answering (outside the server's lock)
};

class LoopbackHttpServer {
 public:
  using Handler = std::function<HttpReply(const std::string& path)>;

  explicit LoopbackHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        ::pipe(wake_) != 0) {
      throw std::runtime_error("cannot start the loopback HTTP server");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~LoopbackHttpServer() {
    stopping_ = true;
    char byte = 0;
    (void)!::write(wake_[1], &byte, 1);
    thread_.join();
    for (int fd : held_) {
      ::close(fd);
    }
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  void setHandler(Handler handler) {
    std::lock_guard<std::mutex> lock(mutex_);
    handler_ = std::move(handler);
  }

  // The head (request line and fields) of the last request for `path`, or "".
  std::string lastHead(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = heads_.find(path);
    return found == heads_.end() ? std::string() : found->second;
  }

  // How many requests for `path` arrived so far.
  int requests(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = counts_.find(path);
    return found == counts_.end() ? 0 : found->second;
  }

 private:
  void serve() {
    while (!stopping_) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(fds, 2, 1000) <= 0 || (fds[1].revents & POLLIN) != 0) {
        continue;
      }
      int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client >= 0) {
        handle(client);
      }
    }
  }

  // Reads the request head (bounded by time and size); returns it, or "" on failure.
  static std::string readHead(int fd) {
    std::string head;
    char chunk[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536 &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, 200) <= 0) {
        continue;
      }
      ssize_t got = ::read(fd, chunk, sizeof(chunk));
      if (got <= 0) {
        return "";
      }
      head.append(chunk, static_cast<size_t>(got));
    }
    return head.substr(0, head.find("\r\n\r\n"));
  }

  static std::string pathOf(const std::string& head) {
    std::size_t first_space = head.find(' ');
    std::size_t second_space = head.find(' ', first_space + 1);
    if (first_space == std::string::npos || second_space == std::string::npos) {
      return "";
    }
    return head.substr(first_space + 1, second_space - first_space - 1);
  }

  void handle(int fd) {
    std::string head = readHead(fd);
    std::string path = pathOf(head);
    HttpReply reply;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counts_[path];
      heads_[path] = head;
      reply = handler_ ? handler_(path) : HttpReply{404, {}, "", false, false, 0};
    }
    if (reply.hang) {
      held_.push_back(fd);
      return;
    }
    if (reply.delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(reply.delay_ms));
    }

    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " Test\r\n";
    for (const auto& [name, value] : reply.headers) {
      out += name + ": " + value + "\r\n";
    }
    if (reply.chunked) {
      out += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
      for (std::size_t at = 0; at < reply.body.size(); at += 8192) {
        std::string piece = reply.body.substr(at, 8192);
        char size[32];
        std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
        out += size + piece + "\r\n";
      }
      out += "0\r\n\r\n";
    } else {
      out += "Content-Length: " + std::to_string(reply.body.size()) +
             "\r\nConnection: close\r\n\r\n" + reply.body;
    }
    std::size_t sent = 0;
    while (sent < out.size()) {
      ssize_t wrote = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (wrote <= 0) {
        break;
      }
      sent += static_cast<std::size_t>(wrote);
    }
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }

  mutable std::mutex mutex_;
  Handler handler_;
  std::map<std::string, int> counts_;
  std::map<std::string, std::string> heads_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::vector<int> held_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace jwtgate::testing

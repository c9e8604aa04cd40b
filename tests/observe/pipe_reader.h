// Test helper: a pipe whose read end a background thread drains into a string until EOF.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

namespace jwtgate::observe::testing {

struct Pipe {
  int read_fd = -1;
  int write_fd = -1;

  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      read_fd = fds[0];
      write_fd = fds[1];
    }
  }
  ~Pipe() {
    closeRead();
    closeWrite();
  }
  void closeRead() {
    if (read_fd >= 0) {
      ::close(read_fd);
      read_fd = -1;
    }
  }
  void closeWrite() {
    if (write_fd >= 0) {
      ::close(write_fd);
      write_fd = -1;
    }
  }
};

// Reads `fd` until EOF (every write end closed) into text.
class PipeReader {
 public:
  explicit PipeReader(int fd) : thread_([this, fd] { run(fd); }) {}
  ~PipeReader() { join(); }
  void join() {
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  // Valid after join().
  const std::string& text() const { return text_; }

 private:
  void run(int fd) {
    char buffer[8192];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n > 0) {
        text_.append(buffer, static_cast<size_t>(n));
      } else if (n == 0) {
        return;
      } else if (errno != EINTR) {
        return;
      }
    }
  }

  std::string text_;
  std::thread thread_;
};

// Everything readable from fd now (fd made non-blocking for the call).
inline std::string readAvailable(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      text.append(buffer, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  ::fcntl(fd, F_SETFL, flags);
  return text;
}

}  // namespace jwtgate::observe::testing

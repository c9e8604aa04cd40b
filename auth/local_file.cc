// Bounded reads of regular files (configuration and key files).
#include "auth/local_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "jwks/http_fetcher.h"

namespace jwtgate::auth {

static_assert(kMaxKeyFileBytes == jwks::FetchOptions{}.max_body_bytes,
              "a key file and a fetched key set share one size cap");

namespace {

// Closes the descriptor on every return path.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// "not a regular file (a FIFO)": what the path names instead.
std::string notRegular(mode_t mode) {
  const char* type = S_ISDIR(mode)                    ? "a directory"
                     : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
                     : S_ISFIFO(mode)                 ? "a FIFO"
                     : S_ISSOCK(mode)                 ? "a socket"
                                                      : "of another type";
  return std::string("not a regular file (") + type + ")";
}

std::string tooLarge(std::size_t max_bytes) {
  return "larger than the " + describeSize(max_bytes) + " limit";
}

std::string systemError(const char* what = "") { return std::string(what) + std::strerror(errno); }

}  // namespace

std::string describeSize(std::size_t bytes) {
  constexpr std::size_t kKiB = 1024;
  constexpr std::size_t kMiB = 1024 * kKiB;
  if (bytes >= kMiB && bytes % kMiB == 0) {
    return std::to_string(bytes / kMiB) + " MiB";
  }
  if (bytes >= kKiB && bytes % kKiB == 0) {
    return std::to_string(bytes / kKiB) + " KiB";
  }
  return std::to_string(bytes) + " bytes";
}

Result<std::string, std::string> readLocalFile(const std::string& path, std::size_t max_bytes) {
  // Refuse what is not a regular file before opening it: opening some devices has effects.
  struct stat before {};
  if (::stat(path.c_str(), &before) != 0) {
    return makeError(systemError());
  }
  if (!S_ISREG(before.st_mode)) {
    return makeError(notRegular(before.st_mode));
  }

  // The path may have been swapped for a FIFO since: O_NONBLOCK keeps open() from waiting
  // for a writer, and fstat() checks what was actually opened.
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    return makeError(systemError());
  }
  struct stat opened {};
  if (::fstat(fd.get(), &opened) != 0) {
    return makeError(systemError());
  }
  if (!S_ISREG(opened.st_mode)) {
    return makeError(notRegular(opened.st_mode));
  }
  if (opened.st_size < 0 || static_cast<std::uint64_t>(opened.st_size) > max_bytes) {
    return makeError(std::to_string(opened.st_size) + " bytes, " + tooLarge(max_bytes));
  }

  // Read until the end, but never more than one byte past the cap, so that a file that
  // grew since fstat() is noticed rather than read whole.
  std::string text;
  text.reserve(static_cast<std::size_t>(opened.st_size));
  char chunk[64 * 1024];
  while (text.size() <= max_bytes) {
    const std::size_t want = std::min(sizeof chunk, max_bytes + 1 - text.size());
    const ssize_t got = ::read(fd.get(), chunk, want);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      return makeError(systemError("read failed: "));
    }
    if (got == 0) {
      return text;
    }
    text.append(chunk, static_cast<std::size_t>(got));
  }
  return makeError(tooLarge(max_bytes));
}

}  // namespace jwtgate::auth

// The writer thread and the single-producer rings it drains.
#include "observe/line_writer.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstring>

namespace jwtgate::observe {
namespace {

// Regular files take large writes; other outputs get at most PIPE_BUF bytes per write, which
// a pipe writes atomically and which does not block once poll() reports it writable.
constexpr size_t kFileChunk = 256 * 1024;
constexpr size_t kStreamChunk = PIPE_BUF;
constexpr size_t kMinCapacity = 64;
constexpr size_t kMaxCapacity = size_t{1} << 40;

uint64_t monotonicMs() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
}

size_t countNewlines(const char* data, size_t size) {
  return static_cast<size_t>(std::count(data, data + size, '\n'));
}

// The ring's readable bytes [tail, tail + size) as at most two contiguous pieces.
struct Pieces {
  const char* first;
  size_t first_size;
  const char* second;
  size_t second_size;
};

Pieces piecesOf(const char* data, size_t mask, uint64_t tail, size_t size) {
  const size_t offset = static_cast<size_t>(tail) & mask;
  const size_t first = std::min(size, mask + 1 - offset);
  return {data + offset, first, data, size - first};
}

// Bytes up to and including the last '\n' among the first `limit` bytes, or 0.
size_t cutAtLastNewline(const Pieces& p, size_t limit) {
  if (limit > p.first_size) {
    const size_t in_second = limit - p.first_size;
    const void* nl = ::memrchr(p.second, '\n', in_second);
    if (nl != nullptr) {
      return p.first_size + static_cast<size_t>(static_cast<const char*>(nl) - p.second) + 1;
    }
    limit = p.first_size;
  }
  const void* nl = ::memrchr(p.first, '\n', limit);
  return nl == nullptr ? 0 : static_cast<size_t>(static_cast<const char*>(nl) - p.first) + 1;
}

// Bytes up to and including the first '\n', or 0 (cannot happen: lines are whole).
size_t cutAtFirstNewline(const Pieces& p) {
  const void* nl = std::memchr(p.first, '\n', p.first_size);
  if (nl != nullptr) {
    return static_cast<size_t>(static_cast<const char*>(nl) - p.first) + 1;
  }
  nl = std::memchr(p.second, '\n', p.second_size);
  return nl == nullptr
             ? 0
             : p.first_size + static_cast<size_t>(static_cast<const char*>(nl) - p.second) + 1;
}

}  // namespace

LineWriter::Channel::Channel(LineWriter* owner, size_t buffer_bytes) : owner_(owner) {
  const size_t wanted = std::clamp(buffer_bytes, kMinCapacity, kMaxCapacity);
  const size_t capacity = std::bit_ceil(wanted);
  data_ = std::make_unique<char[]>(capacity);
  mask_ = capacity - 1;
}

bool LineWriter::Channel::write(std::string_view line) {
  const size_t size = line.size();
  const size_t capacity = mask_ + 1;
  if (size == 0 || line.back() != '\n' || size > capacity) {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }

  // Room check against the last known tail first: tail_ is another core's cache line.
  const uint64_t head = head_.load(std::memory_order_relaxed);
  if (head - cached_tail_ + size > capacity) {
    cached_tail_ = tail_.load(std::memory_order_acquire);
    if (head - cached_tail_ + size > capacity) {
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
  }

  // Copy (in two pieces at the wrap), then publish the whole line at once.
  const size_t offset = static_cast<size_t>(head) & mask_;
  const size_t first = std::min(size, capacity - offset);
  std::memcpy(data_.get() + offset, line.data(), first);
  std::memcpy(data_.get(), line.data() + first, size - first);
  head_.store(head + size, std::memory_order_release);
  written_.store(written_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);

  // Past half full: wake the writer now rather than at its next poll, once per drain.
  if (head + size - cached_tail_ > capacity / 2 && !wake_sent_.load(std::memory_order_relaxed)) {
    cached_tail_ = tail_.load(std::memory_order_acquire);
    if (head + size - cached_tail_ > capacity / 2) {
      wake_sent_.store(true, std::memory_order_relaxed);
      owner_->wake();
    }
  }
  return true;
}

LineWriter::LineWriter(int fd) : fd_(fd) { wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

LineWriter::~LineWriter() {
  stop();
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
  }
}

void LineWriter::start() {
  if (thread_.joinable()) {
    return;
  }
  struct stat info {};
  limit_chunks_ = !(::fstat(fd_, &info) == 0 && S_ISREG(info.st_mode));
  stop_requested_.store(false, std::memory_order_relaxed);

  // The thread blocks every signal: process signals go to the loops that handle them, and
  // a write to a closed pipe fails with EPIPE here instead of raising SIGPIPE.
  sigset_t all;
  sigset_t previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  thread_ = std::thread([this] { run(); });
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void LineWriter::stop() {
  if (!thread_.joinable()) {
    return;
  }
  stop_deadline_ms_.store(monotonicMs() + kStopDrainMs, std::memory_order_relaxed);
  stop_requested_.store(true, std::memory_order_release);
  wake();
  thread_.join();
}

LineWriter::Channel* LineWriter::openChannel(size_t buffer_bytes) {
  auto channel = std::make_unique<Channel>(this, buffer_bytes);
  Channel* raw = channel.get();
  std::lock_guard lock(channels_mutex_);
  channels_.push_back(std::move(channel));
  return raw;
}

uint64_t LineWriter::totalDropped() const {
  uint64_t total = output_lost_.load(std::memory_order_relaxed);
  std::lock_guard lock(channels_mutex_);
  for (const auto& channel : channels_) {
    total += channel->dropped();
  }
  return total;
}

uint64_t LineWriter::totalWritten() const {
  uint64_t total = 0;
  std::lock_guard lock(channels_mutex_);
  for (const auto& channel : channels_) {
    total += channel->written();
  }
  return total;
}

void LineWriter::wake() {
  if (wake_fd_ < 0) {
    return;
  }
  const uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the writer will wake anyway.
  while (::write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

void LineWriter::run() {
  std::vector<Channel*> channels;
  while (true) {
    // Read the flag before draining: whatever was queued before stop() gets written.
    const bool stopping = stop_requested_.load(std::memory_order_acquire);
    {
      std::lock_guard lock(channels_mutex_);
      channels.clear();
      for (const auto& channel : channels_) {
        channels.push_back(channel.get());
      }
    }
    for (Channel* channel : channels) {
      drainChannel(*channel);
    }
    if (stopping) {
      return;
    }

    // Sleep until the next poll interval or a wake-up.
    pollfd wait{wake_fd_, POLLIN, 0};
    const int ready = ::poll(&wait, wake_fd_ >= 0 ? 1 : 0, static_cast<int>(kPollIntervalMs));
    if (ready > 0 && (wait.revents & POLLIN) != 0) {
      uint64_t count = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &count, sizeof(count));
    }
  }
}

bool LineWriter::drainChannel(Channel& channel) {
  // Only this thread moves tail_; head_ is acquired so the bytes below it are visible.
  uint64_t tail = channel.tail_.load(std::memory_order_relaxed);
  const uint64_t head = channel.head_.load(std::memory_order_acquire);
  const size_t limit = limit_chunks_ ? kStreamChunk : kFileChunk;
  bool all_written = true;
  while (tail != head) {
    const size_t available = static_cast<size_t>(head - tail);
    const Pieces all = piecesOf(channel.data_.get(), channel.mask_, tail, available);

    // Whole lines only: cut at the last newline within the limit, or take one long line.
    size_t take = available;
    if (take > limit) {
      take = cutAtLastNewline(all, limit);
      if (take == 0) {
        take = cutAtFirstNewline(all);
      }
      if (take == 0) {
        take = available;  // unreachable: producers publish whole lines
      }
    }
    const Pieces chunk = piecesOf(channel.data_.get(), channel.mask_, tail, take);
    if (!writeChunk(chunk.first, chunk.first_size, chunk.second, chunk.second_size)) {
      all_written = false;
    }
    tail += take;
    channel.tail_.store(tail, std::memory_order_release);
  }
  channel.wake_sent_.store(false, std::memory_order_relaxed);
  return all_written;
}

bool LineWriter::pastDeadline() const {
  return stop_requested_.load(std::memory_order_acquire) &&
         monotonicMs() >= stop_deadline_ms_.load(std::memory_order_relaxed);
}

bool LineWriter::waitWritable() {
  while (true) {
    pollfd out{fd_, POLLOUT, 0};
    const int ready = ::poll(&out, 1, static_cast<int>(kPollIntervalMs));
    if (ready > 0) {
      return true;  // writable, or an error that write() will report
    }
    if (ready < 0 && errno != EINTR) {
      return true;
    }
    if (pastDeadline()) {
      return false;
    }
  }
}

bool LineWriter::writeChunk(const char* first, size_t first_size, const char* second,
                            size_t second_size) {
  iovec parts[2] = {{const_cast<char*>(first), first_size},
                    {const_cast<char*>(second), second_size}};
  int index = 0;
  const int count = second_size > 0 ? 2 : 1;
  if (limit_chunks_ && !waitWritable()) {
    loseChunk(first, first_size, second, second_size);
    return false;
  }
  while (index < count) {
    const ssize_t n = ::writev(fd_, parts + index, count - index);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && waitWritable()) {
        continue;  // a non-blocking fd: wait until it takes more
      }
      loseChunk(static_cast<const char*>(parts[index].iov_base), parts[index].iov_len,
                index == 0 ? second : nullptr, index == 0 ? second_size : 0);
      return false;
    }

    // A short write: go on with the rest (only this thread writes these bytes).
    auto done = static_cast<size_t>(n);
    while (index < count && done >= parts[index].iov_len) {
      done -= parts[index].iov_len;
      ++index;
    }
    if (index < count) {
      parts[index].iov_base = static_cast<char*>(parts[index].iov_base) + done;
      parts[index].iov_len -= done;
      if (limit_chunks_ && !waitWritable()) {
        loseChunk(static_cast<const char*>(parts[index].iov_base), parts[index].iov_len,
                  index == 0 ? second : nullptr, index == 0 ? second_size : 0);
        return false;
      }
    }
  }
  return true;
}

void LineWriter::loseChunk(const char* first, size_t first_size, const char* second,
                           size_t second_size) {
  const size_t lines = countNewlines(first, first_size) +
                       (second == nullptr ? 0 : countNewlines(second, second_size));
  output_lost_.store(output_lost_.load(std::memory_order_relaxed) + lines,
                     std::memory_order_relaxed);
}

}  // namespace jwtgate::observe

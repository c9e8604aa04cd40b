// The non-blocking line sink behind the access log (and, optionally, diagnostics): each
// producing thread appends whole lines to its own lock-free ring; one writer thread per
// output fd writes them out with blocking writes, so producers never wait on the output.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace jwtgate::observe {

// One per output fd, process-wide. The writer thread wakes at least every kPollIntervalMs,
// or at once when a channel passes half full; lines of one channel are written in order and
// each line whole: a write() carries only whole lines and, on pipes, sockets and terminals,
// at most PIPE_BUF bytes unless a single line is longer, so it is not split by other writers
// of the same fd. Output errors (EPIPE, ENOSPC, ...) lose the lines of that write; they are
// counted in outputLost() and totalDropped().
class LineWriter {
 public:
  static constexpr uint64_t kPollIntervalMs = 20;
  // stop() gives up writing after this long (a reader that never reads); the rest is lost.
  static constexpr uint64_t kStopDrainMs = 2000;

  explicit LineWriter(int fd);  // does not own fd; starts nothing
  ~LineWriter();                // stop()s if running
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Starts the writer thread. Calling it again while running does nothing.
  void start();

  // Writes what is buffered (waiting at most kStopDrainMs for a slow output), then joins the
  // thread. Lines appended after the final drain stay buffered and are not written.
  // Idempotent; start() may be called again afterwards.
  void stop();

  // A single-producer buffer (lock-free SPSC ring) for one thread; created before that
  // thread uses it; lives as long as the writer. Usable before start(): lines wait.
  class Channel {
   public:
    // Appends the line, which must end with '\n'. Returns false, and counts the line as
    // dropped, when the buffer lacks room for all of it (or the line is empty or lacks the
    // '\n'): a line is queued whole or not at all. Never blocks; one thread only.
    bool write(std::string_view line);

    // Lines accepted by write() / refused by write(). Thread-safe reads.
    uint64_t written() const { return written_.load(std::memory_order_relaxed); }
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

    // Ring size in bytes: the requested size rounded up to a power of two (at least 64).
    size_t capacity() const { return mask_ + 1; }

    Channel(LineWriter* owner, size_t buffer_bytes);
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

   private:
    friend class LineWriter;

    LineWriter* owner_;
    std::unique_ptr<char[]> data_;
    size_t mask_;

    // Producer side: head_ is published with release after the bytes are copied.
    alignas(64) std::atomic<uint64_t> head_{0};
    uint64_t cached_tail_ = 0;  // producer's last view of tail_
    std::atomic<uint64_t> written_{0};
    std::atomic<uint64_t> dropped_{0};
    std::atomic<bool> wake_sent_{false};

    // Consumer side: tail_ is published with release once the bytes are out.
    alignas(64) std::atomic<uint64_t> tail_{0};
  };

  // Creates a channel of at least buffer_bytes; thread-safe, also while running.
  // The pointer stays valid as long as the writer.
  Channel* openChannel(size_t buffer_bytes);

  // Lines refused by every channel plus lines lost to output errors. Thread-safe.
  uint64_t totalDropped() const;
  // Lines accepted by every channel. Thread-safe.
  uint64_t totalWritten() const;
  // Lines that reached a write() that failed (and were discarded). Thread-safe.
  uint64_t outputLost() const { return output_lost_.load(std::memory_order_relaxed); }

  int fd() const { return fd_; }

 private:
  void run();
  void wake();
  bool drainChannel(Channel& channel);
  bool writeChunk(const char* first, size_t first_size, const char* second, size_t second_size);
  bool waitWritable();
  bool pastDeadline() const;
  void loseChunk(const char* first, size_t first_size, const char* second, size_t second_size);

  int fd_;
  int wake_fd_ = -1;          // eventfd, -1 when unavailable (then polling alone)
  bool limit_chunks_ = true;  // false for regular files: large writes, no poll
  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<uint64_t> stop_deadline_ms_{0};
  std::atomic<uint64_t> output_lost_{0};

  mutable std::mutex channels_mutex_;
  std::vector<std::unique_ptr<Channel>> channels_;
};

}  // namespace jwtgate::observe

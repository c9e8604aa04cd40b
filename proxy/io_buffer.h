// Reference-counted byte buffers for one worker thread, and the read window a connection
// keeps over one of them. Writes hold a reference to every buffer they point into, so the
// bytes received from one side go out to the other without being copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace jwtgate::proxy {

// A block of bytes followed by its header. Owned by the references counted in `refs`;
// single-threaded (a worker's buffers never leave its thread).
struct IoBuffer {
  uint32_t refs;
  uint32_t capacity;

  char* data() { return reinterpret_cast<char*>(this + 1); }
};

// Hands out buffers and keeps a bounded number of standard-size ones for reuse, so that the
// request path does not call malloc in steady state.
class BufferPool {
 public:
  static constexpr uint32_t kStandardSize = 16 * 1024 - sizeof(IoBuffer);

  explicit BufferPool(size_t max_cached) : max_cached_(max_cached) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A buffer of at least `capacity` bytes with one reference, or nullptr when memory is
  // exhausted.
  IoBuffer* acquire(size_t capacity = kStandardSize);

  static void addRef(IoBuffer* buffer) { ++buffer->refs; }

  // Drops one reference; the last one returns the buffer to the pool or frees it.
  void release(IoBuffer* buffer);

  size_t cachedCount() const { return free_.size(); }

 private:
  std::vector<IoBuffer*> free_;
  size_t max_cached_;
};

// The bytes a connection has received and not yet handed on: [start, end) of `buffer`,
// of which [start, parsed) went through the parser and [parsed, end) did not.
//   - start moves forward once the bytes before it are no longer needed (the request head
//     stays until it has been processed; body bytes go as soon as a write references them);
//   - when the window is empty the buffer is dropped (or rewound when nobody else holds it),
//     so an idle connection holds no buffer at all.
// Positions are relative to start-of-buffer; views the parser handed out are kept as offsets
// from `start` so that moving the window to a new buffer keeps them valid.
struct ReadWindow {
  IoBuffer* buffer = nullptr;
  uint32_t start = 0;
  uint32_t parsed = 0;
  uint32_t end = 0;

  char* at(uint32_t offset) const { return buffer->data() + offset; }
  uint32_t offsetOf(const char* p) const { return static_cast<uint32_t>(p - buffer->data()); }
  uint32_t unparsed() const { return end - parsed; }
  uint32_t live() const { return end - start; }
  uint32_t space() const { return buffer == nullptr ? 0 : buffer->capacity - end; }

  // Makes at least `min_space` bytes writable after `end`, keeping [start, end): rewinds in
  // place when this window is the only holder, otherwise moves into a new buffer big enough
  // for `live() + min_space`. Returns false when memory is exhausted.
  bool reserve(BufferPool& pool, uint32_t min_space);

  // Drops the buffer when the window is empty (every byte handed on).
  void releaseIfEmpty(BufferPool& pool);

  // Drops the buffer whatever it holds.
  void reset(BufferPool& pool);
};

// Append-only space for bytes the proxy generates (heads it re-serialises, chunk-size lines,
// its own responses). Bytes once committed never change, so writes can point into them; a
// full buffer is replaced, not reused, while writes still hold it.
struct ScratchSpace {
  IoBuffer* buffer = nullptr;
  uint32_t used = 0;

  // At least `size` writable bytes, or nullptr when memory is exhausted.
  char* reserve(BufferPool& pool, size_t size);
  void commit(size_t size) { used += static_cast<uint32_t>(size); }
  void reset(BufferPool& pool);
};

}  // namespace jwtgate::proxy

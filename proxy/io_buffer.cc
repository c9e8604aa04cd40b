// Buffer pool and read window.
#include "proxy/io_buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace jwtgate::proxy {

BufferPool::~BufferPool() {
  for (IoBuffer* buffer : free_) {
    std::free(buffer);
  }
}

IoBuffer* BufferPool::acquire(size_t capacity) {
  if (capacity <= kStandardSize && !free_.empty()) {
    IoBuffer* buffer = free_.back();
    free_.pop_back();
    buffer->refs = 1;
    return buffer;
  }
  size_t size = capacity <= kStandardSize ? kStandardSize : capacity;
  if (size > UINT32_MAX - sizeof(IoBuffer)) {
    return nullptr;
  }
  void* memory = std::malloc(sizeof(IoBuffer) + size);
  if (memory == nullptr) {
    return nullptr;
  }
  auto* buffer = new (memory) IoBuffer{1, static_cast<uint32_t>(size)};
  return buffer;
}

void BufferPool::release(IoBuffer* buffer) {
  if (--buffer->refs != 0) {
    return;
  }
  if (buffer->capacity == kStandardSize && free_.size() < max_cached_) {
    free_.push_back(buffer);
    return;
  }
  std::free(buffer);
}

bool ReadWindow::reserve(BufferPool& pool, uint32_t min_space) {
  if (buffer == nullptr) {
    buffer = pool.acquire(min_space);
    start = parsed = end = 0;
    return buffer != nullptr;
  }
  if (space() >= min_space) {
    return true;
  }

  // Rewind in place when no write points into this buffer and the live bytes then fit.
  uint32_t live_bytes = live();
  if (buffer->refs == 1 && buffer->capacity - live_bytes >= min_space) {
    std::memmove(buffer->data(), buffer->data() + start, live_bytes);
  } else {
    IoBuffer* moved = pool.acquire(size_t{live_bytes} + min_space);
    if (moved == nullptr) {
      return false;
    }
    std::memcpy(moved->data(), buffer->data() + start, live_bytes);
    pool.release(buffer);
    buffer = moved;
  }
  parsed -= start;
  end -= start;
  start = 0;
  return true;
}

void ReadWindow::releaseIfEmpty(BufferPool& pool) {
  if (buffer == nullptr || start != end) {
    return;
  }
  reset(pool);
}

void ReadWindow::reset(BufferPool& pool) {
  if (buffer != nullptr) {
    pool.release(buffer);
    buffer = nullptr;
  }
  start = parsed = end = 0;
}

char* ScratchSpace::reserve(BufferPool& pool, size_t size) {
  if (buffer != nullptr && buffer->capacity - used >= size) {
    return buffer->data() + used;
  }
  reset(pool);
  buffer = pool.acquire(size);
  return buffer == nullptr ? nullptr : buffer->data();
}

void ScratchSpace::reset(BufferPool& pool) {
  if (buffer != nullptr) {
    pool.release(buffer);
    buffer = nullptr;
  }
  used = 0;
}

}  // namespace jwtgate::proxy

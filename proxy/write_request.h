// A libuv write that points into reference-counted buffers (scatter/gather): the pieces of
// one flush go out in a single uv_write, and the buffers they point into stay alive until
// the write's callback, whatever its status.
#pragma once

#include <uv.h>

#include <cstddef>
#include <string_view>
#include <vector>

#include "proxy/io_buffer.h"

namespace jwtgate::proxy {

struct WriteRequest {
  uv_write_t req;
  std::vector<uv_buf_t> bufs;
  std::vector<IoBuffer*> refs;
  IoBuffer* last_buffer = nullptr;
  size_t bytes = 0;
  WriteRequest* next_free = nullptr;

  // Appends `length` bytes at `data`, which lie inside `buffer` (a reference is taken) or,
  // with buffer == nullptr, in static storage. Adjacent pieces of one buffer are merged.
  void add(IoBuffer* buffer, const char* data, size_t length);
  void addStatic(std::string_view text) { add(nullptr, text.data(), text.size()); }
  bool empty() const { return bufs.empty(); }
};

// Recycles write requests (and the capacity of their vectors) for one worker.
class WritePool {
 public:
  WritePool(BufferPool& buffers, size_t max_cached) : buffers_(buffers), max_cached_(max_cached) {}
  ~WritePool();
  WritePool(const WritePool&) = delete;
  WritePool& operator=(const WritePool&) = delete;

  WriteRequest* acquire();

  // Drops the request's buffer references and keeps it for reuse (or frees it).
  void release(WriteRequest* request);

 private:
  BufferPool& buffers_;
  WriteRequest* free_ = nullptr;
  size_t cached_ = 0;
  size_t max_cached_;
};

// Sends `request` on `stream`. When nothing is queued and the socket takes every byte, it is
// written at once and released (no callback follows: a libuv write request would cost an
// extra loop iteration and an epoll_ctl per write). Otherwise what is left is queued with
// uv_write and `callback` runs later. Returns 0, or a libuv error when the write failed (the
// request is released then too).
int sendWrite(uv_stream_t* stream, WriteRequest* request, WritePool& pool, uv_write_cb callback);

}  // namespace jwtgate::proxy

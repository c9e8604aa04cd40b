// Write requests and their pool.
#include "proxy/write_request.h"

namespace jwtgate::proxy {

void WriteRequest::add(IoBuffer* buffer, const char* data, size_t length) {
  if (length == 0) {
    return;
  }
  bytes += length;
  if (buffer != nullptr && buffer == last_buffer) {
    uv_buf_t& last = bufs.back();
    if (last.base + last.len == data) {
      last.len += length;
      return;
    }
  }
  bufs.push_back(uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length)));
  last_buffer = buffer;
  if (buffer != nullptr) {
    BufferPool::addRef(buffer);
    refs.push_back(buffer);
  }
}

WritePool::~WritePool() {
  while (free_ != nullptr) {
    WriteRequest* next = free_->next_free;
    delete free_;
    free_ = next;
  }
}

WriteRequest* WritePool::acquire() {
  if (free_ == nullptr) {
    return new WriteRequest();
  }
  WriteRequest* request = free_;
  free_ = request->next_free;
  request->next_free = nullptr;
  --cached_;
  return request;
}

void WritePool::release(WriteRequest* request) {
  for (IoBuffer* buffer : request->refs) {
    buffers_.release(buffer);
  }
  request->refs.clear();
  request->bufs.clear();
  request->last_buffer = nullptr;
  request->bytes = 0;

  // A request that once carried very many pieces (tiny chunks) gives that memory back.
  constexpr size_t kKeptPieces = 64;
  if (request->bufs.capacity() > kKeptPieces) {
    std::vector<uv_buf_t>().swap(request->bufs);
    std::vector<IoBuffer*>().swap(request->refs);
  }
  if (cached_ >= max_cached_) {
    delete request;
    return;
  }
  request->next_free = free_;
  free_ = request;
  ++cached_;
}

int sendWrite(uv_stream_t* stream, WriteRequest* request, WritePool& pool, uv_write_cb callback) {
  uv_buf_t* bufs = request->bufs.data();
  auto count = static_cast<unsigned>(request->bufs.size());

  // uv_try_write refuses (UV_EAGAIN) while earlier bytes are still queued, keeping order.
  int written = uv_try_write(stream, bufs, count);
  if (written < 0 && written != UV_EAGAIN) {
    pool.release(request);
    return written;
  }
  if (written > 0) {
    auto left = static_cast<size_t>(written);
    if (left == request->bytes) {
      pool.release(request);
      return 0;
    }
    while (left >= bufs->len) {
      left -= bufs->len;
      ++bufs;
      --count;
    }
    bufs->base += left;
    bufs->len -= static_cast<unsigned>(left);
  }
  int rc = uv_write(&request->req, stream, bufs, count, callback);
  if (rc != 0) {
    pool.release(request);
  }
  return rc;
}

}  // namespace jwtgate::proxy

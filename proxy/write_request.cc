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

  // NOTE: a request that once carried many pieces keeps its capacity; bounded by max_cached_.
  if (cached_ >= max_cached_) {
    delete request;
    return;
  }
  request->next_free = free_;
  free_ = request;
  ++cached_;
}

}  // namespace jwtgate::proxy

// Upstream connections: connect, write, parse the response and report it to the client.
#include "proxy/upstream_connection.h"

#include <cstring>

#include "proxy/client_connection.h"
#include "proxy/worker.h"
#include "proxy/write_request.h"

namespace jwtgate::proxy {
namespace {

constexpr uint32_t kMinReadSpace = 4096;
// NOTE: a response head beyond 64 KiB or 1000 fields is treated as invalid (502); the limits
// protect the worker from a misbehaving upstream.
constexpr uint32_t kMaxResponseHeadBytes = 64 * 1024;
constexpr size_t kMaxResponseFields = 1000;

UpstreamConnection* fromParser(llhttp_t* parser) {
  return static_cast<UpstreamConnection*>(parser->data);
}

}  // namespace

UpstreamConnection::UpstreamConnection(Worker& worker) : worker_(worker) {
  llhttp_init(&parser_, HTTP_RESPONSE, &parserSettings());
  parser_.data = this;
}

const llhttp_settings_t& UpstreamConnection::parserSettings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = onMessageBegin;
    s.on_status = onStatus;
    s.on_header_field = onHeaderField;
    s.on_header_field_complete = onHeaderFieldComplete;
    s.on_header_value = onHeaderValue;
    s.on_header_value_complete = onHeaderValueComplete;
    s.on_headers_complete = onHeadersComplete;
    s.on_body = onBody;
    s.on_message_complete = onMessageComplete;
    return s;
  }();
  return settings;
}

int UpstreamConnection::connect(ClientConnection* client) {
  client_ = client;
  state_ = State::Connecting;
  const UpstreamAddress& target = worker_.config().upstream;
  uv_loop_t* loop = worker_.loop();

  // Both handles exist from here on, so every failure below goes through close().
  if (target.kind == UpstreamAddress::Kind::Unix) {
    uv_pipe_init(loop, &handle_.pipe, 0);
    handle_.pipe.data = this;
  } else {
    uv_tcp_init(loop, &handle_.tcp);
    uv_tcp_nodelay(&handle_.tcp, 1);
    handle_.tcp.data = this;
  }
  timer_.init(loop, onTimer, this);
  timer_.handle()->data = this;
  open_handles_ = 2;
  connect_req_.data = this;

  int rc = 0;
  if (target.kind == UpstreamAddress::Kind::Unix) {
    uv_pipe_connect(&connect_req_, &handle_.pipe, target.unix_path.c_str(), onConnect);
  } else {
    rc = uv_tcp_connect(&connect_req_, &handle_.tcp,
                        reinterpret_cast<const sockaddr*>(&target.address), onConnect);
  }
  if (rc != 0) {
    client_ = nullptr;
    close();
    return rc;
  }
  armTimer(TimerPurpose::Connect, worker_.config().timeouts.upstream_connect_ms);
  return 0;
}

void UpstreamConnection::onConnect(uv_connect_t* req, int status) noexcept {
  auto* self = static_cast<UpstreamConnection*>(req->data);
  if (self->closing_) {
    return;
  }
  if (status != 0) {
    self->fail(status == UV_ECONNREFUSED ? UpstreamFailure::ConnectRefused
                                         : UpstreamFailure::ConnectFailed);
    return;
  }
  self->armTimer(TimerPurpose::None, 0);
  self->worker_.stats().upstream_connects.add();
  self->state_ = State::Busy;
  self->updateReading();
  self->client_->onUpstreamConnected();
}

void UpstreamConnection::attach(ClientConnection* client) {
  client_ = client;
  state_ = State::Busy;
  reused_ = true;
  armTimer(TimerPurpose::None, 0);
  updateReading();
}

void UpstreamConnection::expectResponse(bool head_request) {
  head_request_ = head_request;
  response_started_ = false;
  message_complete_ = false;
  upgraded_ = false;
  interim_ = false;
  invalid_ = false;
  llhttp_reset(&parser_);
  resetResponseState();
}

void UpstreamConnection::requestProgress() {
  if (!response_started_ && !closing_) {
    armTimer(TimerPurpose::Response, worker_.config().timeouts.upstream_response_ms);
  }
}

void UpstreamConnection::detach() {
  client_ = nullptr;
  close();
}

void UpstreamConnection::finish(bool reusable) {
  client_ = nullptr;
  bool clean = reusable && !closing_ && state_ == State::Busy && message_complete_ &&
               response_keep_alive_ && !upgraded_ && window_.unparsed() == 0;
  if (!clean) {
    close();
    return;
  }

  // Back to a fresh parser and an empty window; an idle connection holds no buffer.
  llhttp_reset(&parser_);
  resetResponseState();
  window_.start = window_.parsed = window_.end;
  window_.releaseIfEmpty(worker_.buffers());
  state_ = State::Idle;
  read_blocked_ = false;
  armTimer(TimerPurpose::Idle, worker_.config().timeouts.client_idle_ms);
  updateReading();
  worker_.upstreams().putIdle(this);
}

bool UpstreamConnection::write(WriteRequest* request) {
  if (closing_ || state_ == State::Connecting) {
    worker_.writes().release(request);
    return false;
  }
  request->req.data = this;
  if (sendWrite(stream(), request, worker_.writes(), onWriteDone) != 0) {
    // A reset while writing usually means the upstream closed a pooled connection; the
    // client hears of it from the close callback. Once a response has started, the read
    // side decides.
    if (!response_started_) {
      fail(UpstreamFailure::Closed);
    }
    return false;
  }
  return true;
}

void UpstreamConnection::onWriteDone(uv_write_t* req, int status) noexcept {
  auto* request = reinterpret_cast<WriteRequest*>(req);
  auto* self = static_cast<UpstreamConnection*>(req->data);
  self->worker_.writes().release(request);
  if (self->closing_) {
    return;
  }
  if (status != 0) {
    // A reset while writing usually means the upstream closed a pooled connection; once a
    // response has started the read side decides what happens.
    if (!self->response_started_) {
      self->fail(UpstreamFailure::Closed);
    }
    return;
  }
  if (self->client_ != nullptr) {
    self->client_->onUpstreamWriteDone(self->stream()->write_queue_size);
  }
}

void UpstreamConnection::setReadBlocked(bool blocked) {
  read_blocked_ = blocked;
  updateReading();
}

void UpstreamConnection::updateReading() {
  bool want = !closing_ && state_ != State::Connecting && !read_blocked_;
  if (want == reading_) {
    return;
  }
  if (want) {
    reading_ = uv_read_start(stream(), onAlloc, onRead) == 0;
  } else {
    uv_read_stop(stream());
    reading_ = false;
  }
}

void UpstreamConnection::onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<UpstreamConnection*>(handle->data);
  if (!self->window_.reserve(self->worker_.buffers(), kMinReadSpace)) {
    *buf = uv_buf_init(nullptr, 0);  // libuv reports UV_ENOBUFS to onRead
    return;
  }
  *buf = uv_buf_init(self->window_.at(self->window_.end), self->window_.space());
}

void UpstreamConnection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) noexcept {
  auto* self = static_cast<UpstreamConnection*>(stream->data);
  self->handleRead(nread);
}

void UpstreamConnection::handleRead(ssize_t nread) {
  if (closing_) {
    return;
  }
  if (nread == 0) {
    window_.releaseIfEmpty(worker_.buffers());
    return;
  }
  if (nread < 0) {
    handleReadEnd(nread);
    return;
  }
  window_.end += static_cast<uint32_t>(nread);

  // An idle connection has no request outstanding: any byte is a protocol error.
  if (state_ == State::Idle || client_ == nullptr) {
    close();
    return;
  }
  if (state_ == State::Tunnel) {
    const char* data = window_.at(window_.start);
    uint32_t length = window_.live();
    window_.start = window_.parsed = window_.end;
    client_->onTunnelData(window_.buffer, data, length);
    window_.releaseIfEmpty(worker_.buffers());
    return;
  }
  if (!response_started_) {
    response_started_ = true;
  }
  armTimer(TimerPurpose::Stall, worker_.config().timeouts.client_idle_ms);
  parseResponse();
}

void UpstreamConnection::handleReadEnd(ssize_t status) {
  if (state_ == State::Idle || client_ == nullptr) {
    close();
    return;
  }
  if (state_ == State::Tunnel) {
    uv_read_stop(stream());
    reading_ = false;
    read_blocked_ = true;
    client_->onTunnelUpstreamEof();
    return;
  }

  // A body delimited by the end of the connection ends here (RFC 9112 section 6.3).
  if (status == UV_EOF && head_done_ && !message_complete_ &&
      llhttp_message_needs_eof(&parser_) != 0) {
    llhttp_errno_t rc = llhttp_finish(&parser_);
    if (rc == HPE_OK || rc == HPE_PAUSED) {
      message_complete_ = true;
      response_keep_alive_ = false;
      ClientConnection* client = client_;
      client->flushToClient();
      client->onResponseComplete();
      return;
    }
  }
  fail(UpstreamFailure::Closed);
}

void UpstreamConnection::parseResponse() {
  for (;;) {
    // Keep a response head within kMaxResponseHeadBytes.
    uint32_t length = window_.unparsed();
    if (!head_done_) {
      uint32_t used = window_.parsed - window_.start;
      uint32_t allowed = used < kMaxResponseHeadBytes ? kMaxResponseHeadBytes - used : 0;
      length = length < allowed ? length : allowed;
    }
    llhttp_errno_t rc = llhttp_execute(&parser_, window_.at(window_.parsed), length);
    window_.parsed =
        rc == HPE_OK ? window_.parsed + length : window_.offsetOf(llhttp_get_error_pos(&parser_));
    if (head_done_) {
      window_.start = window_.parsed;  // body bytes now belong to the client's writes
    }
    if (closing_ || client_ == nullptr) {
      return;
    }

    if (rc == HPE_OK) {
      if (!head_done_ && window_.live() >= kMaxResponseHeadBytes) {
        fail(UpstreamFailure::InvalidResponse);
        return;
      }
      break;
    }
    if (rc == HPE_PAUSED && interim_) {
      // A 1xx response: the final one follows on the same connection.
      window_.start = window_.parsed;
      llhttp_resume(&parser_);
      resetResponseState();
      continue;
    }
    if (rc == HPE_PAUSED) {
      message_complete_ = true;
      break;
    }
    if (rc == HPE_PAUSED_UPGRADE) {
      message_complete_ = true;
      upgraded_ = true;
      break;
    }
    fail(UpstreamFailure::InvalidResponse);
    return;
  }

  ClientConnection* client = client_;
  client->flushToClient();
  if (message_complete_) {
    armTimer(TimerPurpose::None, 0);
    client->onResponseComplete();
  }
}

void UpstreamConnection::startTunnel() {
  state_ = State::Tunnel;
  armTimer(TimerPurpose::None, 0);
  read_blocked_ = false;
  updateReading();
  if (window_.unparsed() > 0 && client_ != nullptr) {
    const char* data = window_.at(window_.parsed);
    uint32_t length = window_.unparsed();
    window_.start = window_.parsed = window_.end;
    client_->onTunnelData(window_.buffer, data, length);
  }
}

void UpstreamConnection::shutdownWrite() {
  if (closing_) {
    return;
  }
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, stream(), onShutdown) != 0) {
    close();
  }
}

void UpstreamConnection::onShutdown(uv_shutdown_t*, int) noexcept {}

bool UpstreamConnection::messageNeedsEof() const { return llhttp_message_needs_eof(&parser_) != 0; }

void UpstreamConnection::fail(UpstreamFailure reason) {
  failure_ = reason;
  close();
}

void UpstreamConnection::close() {
  if (closing_) {
    return;
  }
  closing_ = true;
  state_ = State::Closed;
  worker_.upstreams().onClosing(this);
  if (open_handles_ == 0) {
    worker_.upstreams().onClosed(this);
    return;
  }
  timer_.disarm();
  window_.reset(worker_.buffers());
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), onHandleClosed);
  uv_close(timer_.handle(), onHandleClosed);
}

void UpstreamConnection::onHandleClosed(uv_handle_t* handle) noexcept {
  auto* self = static_cast<UpstreamConnection*>(handle->data);
  if (--self->open_handles_ != 0) {
    return;
  }

  // Report to a client still attached (the failure happened on our side), then free. A
  // close after some response bytes is never "closed before responding" (not retried).
  ClientConnection* client = self->client_;
  UpstreamFailure failure = self->failure_;
  if (failure == UpstreamFailure::Closed && self->response_started_) {
    failure = UpstreamFailure::InvalidResponse;
  }
  self->client_ = nullptr;
  self->worker_.upstreams().onClosed(self);
  if (client != nullptr) {
    client->onUpstreamFailed(failure);
  }
}

void UpstreamConnection::armTimer(TimerPurpose purpose, uint64_t timeout_ms) {
  timer_purpose_ = purpose;
  if (purpose == TimerPurpose::None || timeout_ms == 0) {
    timer_.disarm();
    return;
  }
  timer_.arm(timeout_ms);
}

void UpstreamConnection::onTimer(void* owner) noexcept {
  static_cast<UpstreamConnection*>(owner)->handleTimer();
}

void UpstreamConnection::handleTimer() {
  switch (timer_purpose_) {
    case TimerPurpose::None:
      return;
    case TimerPurpose::Connect:
      fail(UpstreamFailure::ConnectTimeout);
      return;
    case TimerPurpose::Response:
      fail(UpstreamFailure::ResponseTimeout);
      return;
    case TimerPurpose::Stall:
      fail(UpstreamFailure::Closed);
      return;
    case TimerPurpose::Idle:
      close();
      return;
  }
}

void UpstreamConnection::resetResponseState() {
  headers_.clear();
  reason_offset_ = reason_length_ = 0;
  in_field_ = in_value_ = head_done_ = false;
  interim_ = false;
}

uint32_t UpstreamConnection::offsetFromStart(const char* at) const {
  return window_.offsetOf(at) - window_.start;
}

std::string_view UpstreamConnection::reason() const {
  return std::string_view(window_.at(window_.start + reason_offset_), reason_length_);
}

std::string_view UpstreamConnection::headerName(size_t index) const {
  const HeaderSpan& span = headers_[index];
  return std::string_view(window_.at(window_.start + span.name_offset), span.name_length);
}

std::string_view UpstreamConnection::headerValue(size_t index) const {
  const HeaderSpan& span = headers_[index];
  return std::string_view(window_.at(window_.start + span.value_offset), span.value_length);
}

// ---- llhttp callbacks: record offsets, never act on the connection ----

int UpstreamConnection::onMessageBegin(llhttp_t* parser) noexcept {
  fromParser(parser)->resetResponseState();
  return 0;
}

int UpstreamConnection::onStatus(llhttp_t* parser, const char* at, size_t length) noexcept {
  UpstreamConnection* self = fromParser(parser);
  if (self->reason_length_ == 0) {
    self->reason_offset_ = self->offsetFromStart(at);
  }
  self->reason_length_ += static_cast<uint32_t>(length);
  return 0;
}

int UpstreamConnection::onHeaderField(llhttp_t* parser, const char* at, size_t length) noexcept {
  UpstreamConnection* self = fromParser(parser);
  if (self->head_done_) {
    if (self->client_ != nullptr) {
      self->client_->trailers().addNamePiece(std::string_view(at, length));
    }
    return 0;
  }
  if (!self->in_field_) {
    if (self->headers_.size() >= kMaxResponseFields) {
      return -1;
    }
    uint32_t offset = self->offsetFromStart(at);
    self->headers_.push_back(HeaderSpan{offset, 0, offset, 0, HeaderKind::Other});
    self->in_field_ = true;
  }
  self->headers_.back().name_length += static_cast<uint32_t>(length);
  return 0;
}

int UpstreamConnection::onHeaderFieldComplete(llhttp_t* parser) noexcept {
  UpstreamConnection* self = fromParser(parser);
  if (self->head_done_) {
    return 0;
  }
  self->in_field_ = false;
  HeaderSpan& span = self->headers_.back();
  if (span.name_length == 0) {
    return -1;
  }
  span.kind = classifyHeader(self->headerName(self->headers_.size() - 1));
  span.value_offset = span.name_offset + span.name_length + 1;
  return 0;
}

int UpstreamConnection::onHeaderValue(llhttp_t* parser, const char* at, size_t length) noexcept {
  UpstreamConnection* self = fromParser(parser);
  if (self->head_done_) {
    if (self->client_ != nullptr) {
      self->client_->trailers().addValuePiece(std::string_view(at, length));
    }
    return 0;
  }
  HeaderSpan& span = self->headers_.back();
  uint32_t offset = self->offsetFromStart(at);
  if (!self->in_value_) {
    span.value_offset = offset;
    self->in_value_ = true;
  } else if (offset != span.value_offset + span.value_length) {
    return -1;  // obs-fold (RFC 9112 section 5.2): refused
  }
  span.value_length += static_cast<uint32_t>(length);
  return 0;
}

int UpstreamConnection::onHeaderValueComplete(llhttp_t* parser) noexcept {
  UpstreamConnection* self = fromParser(parser);
  if (self->head_done_) {
    if (self->client_ != nullptr) {
      self->client_->trailers().endField();
    }
    return 0;
  }
  self->in_value_ = false;
  HeaderSpan& span = self->headers_.back();
  std::string_view trimmed = trimOws(self->headerValue(self->headers_.size() - 1));
  span.value_offset = self->offsetFromStart(trimmed.data());
  span.value_length = static_cast<uint32_t>(trimmed.size());
  return 0;
}

int UpstreamConnection::onHeadersComplete(llhttp_t* parser) noexcept {
  UpstreamConnection* self = fromParser(parser);
  self->head_done_ = true;
  if (self->client_ == nullptr) {
    return -1;
  }
  int status = parser->status_code;
  self->interim_ = status >= 100 && status < 200 && status != 101;
  int rc = self->client_->onResponseHead(*self);
  if (rc < 0) {
    self->invalid_ = true;
    return -1;
  }
  return rc;
}

int UpstreamConnection::onBody(llhttp_t* parser, const char* at, size_t length) noexcept {
  UpstreamConnection* self = fromParser(parser);
  if (self->client_ != nullptr) {
    self->client_->onResponseBody(self->window_.buffer, at, length);
  }
  return 0;
}

int UpstreamConnection::onMessageComplete(llhttp_t* parser) noexcept {
  UpstreamConnection* self = fromParser(parser);
  self->response_keep_alive_ = llhttp_should_keep_alive(parser) != 0;
  // After a 101 llhttp stops by itself with HPE_PAUSED_UPGRADE.
  return parser->upgrade != 0 && parser->status_code == 101 ? 0 : HPE_PAUSED;
}

}  // namespace jwtgate::proxy

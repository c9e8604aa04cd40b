// Admin connections: reading, parsing, answering in order, timeouts and closing.
#include "admin/admin_connection.h"

#include <algorithm>
#include <new>
#include <utility>

#include "admin/admin_reply.h"
#include "admin/admin_server.h"

namespace jwtgate::admin {
namespace {

// After the last response: how long to drain input before closing, so the client reads the
// response instead of a reset.
constexpr uint64_t kLingerMs = 2'000;

struct AdminWrite {
  uv_write_t req;
  std::string bytes;
  AdminConnection* connection;
};

AdminConnection* fromParser(llhttp_t* parser) {
  return static_cast<AdminConnection*>(parser->data);
}

}  // namespace

AdminConnection::AdminConnection(AdminServer& server) : server_(&server) {
  llhttp_init(&parser_, HTTP_REQUEST, &parserSettings());
  parser_.data = this;
}

const llhttp_settings_t& AdminConnection::parserSettings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = onMessageBegin;
    s.on_url = onUrl;
    s.on_headers_complete = onHeadersComplete;
    s.on_message_complete = onMessageComplete;
    return s;
  }();
  return settings;
}

// ---- opening and closing ----

void AdminConnection::start(uv_stream_t* listener) {
  uv_tcp_init(server_->loop_, &tcp_);
  uv_timer_init(server_->loop_, &timer_);
  tcp_.data = this;
  timer_.data = this;
  open_handles_ = 2;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&tcp_)) != 0) {
    close();
    return;
  }
  uv_tcp_nodelay(&tcp_, 1);
  noteActivity();

  // A new connection gets the head timeout at once: an idle first request is a slow one.
  armTimer(TimerPurpose::Header, server_->options_.header_timeout_ms);
  updateReading();
}

void AdminConnection::close() {
  if (phase_ == Phase::Closed) {
    return;
  }
  phase_ = Phase::Closed;
  if (server_ != nullptr) {
    server_->forget(this);
    server_ = nullptr;
  }
  if (open_handles_ == 0) {
    delete this;  // start() never ran
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), onHandleClosed);
}

void AdminConnection::detach() {
  server_ = nullptr;
  close();
}

bool AdminConnection::idle() const {
  if (queued_bytes_ != 0) {
    return false;
  }
  if (phase_ == Phase::Reading) {
    return !write_blocked_ && head_bytes_ == 0 && input_.empty();
  }
  return phase_ == Phase::Finishing && shutdown_done_;
}

void AdminConnection::noteActivity() {
  if (server_ != nullptr) {
    last_activity_ = server_->nextActivity();
  }
}

void AdminConnection::onHandleClosed(uv_handle_t* handle) noexcept {
  auto* self = static_cast<AdminConnection*>(handle->data);
  if (--self->open_handles_ == 0) {
    delete self;
  }
}

// ---- reading ----

void AdminConnection::onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<AdminConnection*>(handle->data);
  *buf = uv_buf_init(self->read_buffer_, kReadSize);
}

void AdminConnection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  static_cast<AdminConnection*>(stream->data)->handleRead(nread, buf->base);
}

void AdminConnection::handleRead(ssize_t nread, const char* data) {
  if (phase_ == Phase::Closed || nread == 0) {
    return;
  }
  if (nread < 0) {
    handleEof(nread);
    return;
  }
  if (phase_ == Phase::Finishing) {
    return;  // input after the last request is drained unread
  }
  noteActivity();

  // The first byte of the next request after a keep-alive pause starts its head timeout.
  if (timer_purpose_ == TimerPurpose::Idle && !write_blocked_) {
    armTimer(TimerPurpose::Header, server_->options_.header_timeout_ms);
  }
  try {
    input_.append(data, static_cast<size_t>(nread));
  } catch (...) {
    close();  // out of memory: this admin client loses its connection, nothing else
    return;
  }
  parseInput();
}

// The client is done sending. Responses already queued still go out, so a client that
// half-closes after its requests reads every answer.
void AdminConnection::handleEof(ssize_t nread) {
  if (nread != UV_EOF) {
    close();  // a reset or read error: nothing queued can be delivered
    return;
  }
  eof_ = true;
  reading_ = false;  // libuv stops reading by itself at EOF
  if (phase_ == Phase::Reading) {
    finish();
    return;
  }
  if (shutdown_done_) {
    close();
  }
}

void AdminConnection::updateReading() {
  if (phase_ == Phase::Closed) {
    return;
  }
  bool want = phase_ == Phase::Finishing ? !eof_ : !write_blocked_;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want && !reading_) {
    reading_ = uv_read_start(stream, onAlloc, onRead) == 0;
  } else if (!want && reading_) {
    uv_read_stop(stream);
    reading_ = false;
  }
}

// ---- parsing ----

void AdminConnection::parseInput() {
  if (in_parse_) {
    return;
  }
  in_parse_ = true;
  bool answered = false;
  size_t parsed = 0;
  while (phase_ == Phase::Reading && !write_blocked_ && parsed < input_.size()) {
    // The head of a request (everything up to its end: bodies are refused) is bounded.
    size_t limit = server_->options_.max_header_bytes;
    if (head_bytes_ >= limit) {
      answerError(431, false);
      break;
    }
    size_t length = std::min(input_.size() - parsed, limit - head_bytes_);

    const char* data = input_.data() + parsed;
    parse_stop_ = ParseStop::None;
    llhttp_errno_t status = llhttp_execute(&parser_, data, length);
    size_t consumed =
        status == HPE_OK ? length : static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    parsed += consumed;
    head_bytes_ += consumed;
    if (status == HPE_OK) {
      continue;  // all parsed, or stopped at the head limit: the next round answers 431
    }
    answered = handleParseStop(status);
    if (!answered) {
      break;
    }
  }
  in_parse_ = false;
  if (phase_ == Phase::Closed) {
    return;
  }
  input_.erase(0, std::min(parsed, input_.size()));

  // Between requests the idle timeout runs; a partial head that follows an answered request
  // gets a fresh head timeout (its first byte came no later than now).
  if (phase_ == Phase::Reading && !write_blocked_) {
    if (head_bytes_ == 0 && input_.empty()) {
      armTimer(TimerPurpose::Idle, server_->options_.idle_timeout_ms);
    } else if (answered) {
      armTimer(TimerPurpose::Header, server_->options_.header_timeout_ms);
    }
  }
  updateReading();
}

// Acts on why llhttp stopped. Returns true when a request was answered and parsing may go on.
bool AdminConnection::handleParseStop(llhttp_errno_t status) {
  if (parse_stop_ == ParseStop::MessageComplete &&
      (status == HPE_PAUSED || status == HPE_PAUSED_UPGRADE)) {
    if (status == HPE_PAUSED) {
      llhttp_resume(&parser_);
    }
    answerRequest();
    return phase_ == Phase::Reading;
  }
  if (parse_stop_ == ParseStop::BodyRefused) {
    // Nothing here takes a body; a refused one is never read, so the connection closes.
    bool allowed = parser_.method == HTTP_GET || parser_.method == HTTP_HEAD;
    answerError(allowed ? 413 : 405, !allowed);
    return false;
  }
  answerError(400, false);  // the parse error itself is never echoed or logged
  return false;
}

int AdminConnection::onMessageBegin(llhttp_t* parser) noexcept {
  AdminConnection* self = fromParser(parser);
  self->target_.clear();
  self->upgrade_ = false;
  return 0;
}

int AdminConnection::onUrl(llhttp_t* parser, const char* at, size_t length) noexcept {
  try {
    fromParser(parser)->target_.append(at, length);
  } catch (...) {
    return HPE_USER;  // out of memory: answered as a malformed request
  }
  return 0;
}

int AdminConnection::onHeadersComplete(llhttp_t* parser) noexcept {
  AdminConnection* self = fromParser(parser);
  if ((parser->flags & F_CHUNKED) != 0 || parser->content_length > 0) {
    self->parse_stop_ = ParseStop::BodyRefused;
    return HPE_USER;
  }
  self->upgrade_ = parser->upgrade != 0;
  return 0;
}

int AdminConnection::onMessageComplete(llhttp_t* parser) noexcept {
  fromParser(parser)->parse_stop_ = ParseStop::MessageComplete;
  // For an upgrade request llhttp stops by itself (HPE_PAUSED_UPGRADE) after this callback.
  return parser->upgrade != 0 ? 0 : HPE_PAUSED;
}

// ---- answering ----

void AdminConnection::answerRequest() {
  // HTTP/1.0 closes after its response even when it asks for keep-alive; bytes after an
  // upgrade request belong to a protocol this listener does not speak.
  bool http11 = parser_.http_major == 1 && parser_.http_minor == 1;
  bool keep_alive = http11 && llhttp_should_keep_alive(&parser_) != 0 && !upgrade_;
  bool head_only = parser_.method == HTTP_HEAD;
  std::string_view method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
  head_bytes_ = 0;
  if (parser_.http_major != 1) {
    answerError(505, false);
    return;
  }

  AdminReply reply = routeAdminRequest(method, target_, server_->handlers_);
  if (phase_ != Phase::Reading) {
    return;  // a handler closed the server (and with it this connection)
  }
  send(serializeReply(reply, head_only, !keep_alive));
  if (!keep_alive) {
    finish();
    return;
  }

  // A client that pipelines without reading must not make the queue grow without bound.
  // Counted here are all bytes held, not libuv's write queue: that leaves out writes the
  // kernel took at once, whose buffers live on until their callbacks on the next loop turn,
  // so a whole read's worth of pipelined answers (megabytes, as much as the socket took)
  // could pile up before the pause.
  if (queued_bytes_ > server_->options_.max_queued_bytes) {
    write_blocked_ = true;
    armTimer(TimerPurpose::Idle, server_->options_.idle_timeout_ms);
  }
}

void AdminConnection::answerError(int status, bool allow_header) {
  AdminReply reply = errorReply(status);
  reply.allow_header = allow_header;
  send(serializeReply(reply, false, true));
  finish();
}

void AdminConnection::send(std::string bytes) {
  if (phase_ == Phase::Closed) {
    return;
  }
  auto* write = new (std::nothrow) AdminWrite{{}, std::move(bytes), this};
  if (write == nullptr) {
    close();
    return;
  }
  write->req.data = write;
  uv_buf_t buf = uv_buf_init(write->bytes.data(), static_cast<unsigned>(write->bytes.size()));
  if (uv_write(&write->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, onWrite) != 0) {
    delete write;
    close();
    return;
  }
  queued_bytes_ += write->bytes.size();
  if (server_ != nullptr) {
    server_->noteQueued(queued_bytes_);
  }
}

void AdminConnection::onWrite(uv_write_t* req, int status) noexcept {
  auto* write = static_cast<AdminWrite*>(req->data);
  AdminConnection* self = write->connection;
  self->queued_bytes_ -= write->bytes.size();
  delete write;
  // Write callbacks run before the handle's close callback, so `self` is still alive.
  if (status != 0) {
    self->close();
    return;
  }
  self->handleWriteDone();
}

void AdminConnection::handleWriteDone() {
  if (phase_ == Phase::Closed) {
    return;
  }
  noteActivity();
  if (phase_ != Phase::Reading || !write_blocked_) {
    return;
  }
  if (queued_bytes_ > server_->options_.max_queued_bytes / 4) {
    return;
  }
  write_blocked_ = false;
  parseInput();
}

// The last response is queued: half-close after it, then drain what the client still sends
// until its EOF or the linger timeout.
void AdminConnection::finish() {
  if (phase_ != Phase::Reading) {
    return;
  }
  phase_ = Phase::Finishing;
  input_.clear();
  input_.shrink_to_fit();
  uint64_t stall = server_->options_.idle_timeout_ms;
  armTimer(TimerPurpose::Linger, stall == 0 ? kLingerMs : stall);
  shutdown_.data = this;
  if (uv_shutdown(&shutdown_, reinterpret_cast<uv_stream_t*>(&tcp_), onShutdown) != 0) {
    close();
    return;
  }
  updateReading();
}

void AdminConnection::onShutdown(uv_shutdown_t* req, int status) noexcept {
  static_cast<AdminConnection*>(req->data)->handleShutdown(status);
}

void AdminConnection::handleShutdown(int status) {
  if (phase_ == Phase::Closed) {
    return;
  }
  shutdown_done_ = true;
  if (status != 0 || eof_) {
    close();
    return;
  }
  noteActivity();
  uint64_t stall = server_ != nullptr ? server_->options_.idle_timeout_ms : 0;
  armTimer(TimerPurpose::Linger, stall == 0 ? kLingerMs : std::min(stall, kLingerMs));
}

// ---- timeouts ----

void AdminConnection::armTimer(TimerPurpose purpose, uint64_t timeout_ms) {
  timer_purpose_ = purpose;
  uv_timer_stop(&timer_);
  if (timeout_ms != 0) {
    uv_timer_start(&timer_, onTimer, timeout_ms, 0);
  }
}

void AdminConnection::onTimer(uv_timer_t* timer) noexcept {
  static_cast<AdminConnection*>(timer->data)->handleTimer();
}

void AdminConnection::handleTimer() {
  if (phase_ != Phase::Reading) {
    close();
    return;
  }
  // A client that started a request and did not finish its head in time gets a 408; an idle
  // one (or one that stopped reading its responses) is closed without a word.
  if (timer_purpose_ == TimerPurpose::Header && !write_blocked_ &&
      (head_bytes_ > 0 || !input_.empty())) {
    answerError(408, false);
    return;
  }
  close();
}

}  // namespace jwtgate::admin

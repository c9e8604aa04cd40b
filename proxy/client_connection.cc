// Client connections: request parsing and checks, forwarding, responses, closing.
#include "proxy/client_connection.h"

#include <unistd.h>

#include <cstring>

#include "proxy/access_log.h"
#include "proxy/engine_metrics.h"
#include "proxy/local_response.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"
#include "proxy/write_request.h"

namespace jwtgate::proxy {
namespace {

constexpr uint32_t kMinReadSpace = 4096;
// Pipelined bytes kept while a request is in flight; beyond it reading pauses.
constexpr uint32_t kMaxBufferedBytes = BufferPool::kStandardSize;
// Flow control: stop reading one side while the other has this much queued, resume below
// the low mark, so a slow peer cannot make the proxy hold a large body in memory.
constexpr size_t kHighWater = 256 * 1024;
constexpr size_t kLowWater = 64 * 1024;
// Up to this many bytes for the upstream wait for the end of the loop turn (parseInput).
constexpr size_t kDeferredFlushLimit = 16 * 1024;
// A request body up to this size is read and dropped after a local reply (keeping the
// connection); a bigger or unknown one closes the connection instead.
constexpr uint64_t kMaxDiscardedBody = 64 * 1024;
// After the last response on a connection: how long to drain input before closing, so the
// client reads the response instead of a reset.
constexpr uint64_t kLingerMs = 2000;
constexpr size_t kMaxForwardedFor = 8;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";
constexpr char kNoBytes[1] = {0};

ClientConnection* fromParser(llhttp_t* parser) {
  return static_cast<ClientConnection*>(parser->data);
}

// RFC 9110 section 9.2.2.
bool isIdempotent(uint8_t method) {
  switch (method) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
    case HTTP_PUT:
    case HTTP_DELETE:
      return true;
    default:
      return false;
  }
}

// Fields the proxy writes itself; a filter may neither add nor remove them.
bool isProxyOwned(HeaderKind kind) {
  return isHopByHop(kind) || kind == HeaderKind::ContentLength || kind == HeaderKind::Host ||
         kind == HeaderKind::XForwardedFor || kind == HeaderKind::XForwardedProto ||
         kind == HeaderKind::XForwardedHost || kind == HeaderKind::XRequestId;
}

std::string_view failureMessage(UpstreamFailure failure) {
  switch (failure) {
    case UpstreamFailure::ConnectRefused:
      return "the upstream refused the connection";
    case UpstreamFailure::ConnectFailed:
      return "the upstream could not be reached";
    case UpstreamFailure::ConnectTimeout:
      return "the upstream did not accept the connection in time";
    case UpstreamFailure::ResponseTimeout:
      return "the upstream did not respond in time";
    case UpstreamFailure::Closed:
      return "the upstream closed the connection";
    case UpstreamFailure::InvalidResponse:
      return "the upstream sent an invalid response";
  }
  return "the upstream failed";
}

UpstreamErrorKind failureKind(UpstreamFailure failure) {
  switch (failure) {
    case UpstreamFailure::ConnectRefused:
    case UpstreamFailure::ConnectFailed:
      return UpstreamErrorKind::ConnectFailed;
    case UpstreamFailure::ConnectTimeout:
      return UpstreamErrorKind::ConnectTimeout;
    case UpstreamFailure::ResponseTimeout:
      return UpstreamErrorKind::ResponseTimeout;
    case UpstreamFailure::Closed:
      return UpstreamErrorKind::Reset;
    case UpstreamFailure::InvalidResponse:
      return UpstreamErrorKind::BadResponse;
  }
  return UpstreamErrorKind::Reset;
}

ProxyError failureError(UpstreamFailure failure) {
  switch (failure) {
    case UpstreamFailure::ConnectTimeout:
      return ProxyError::UpstreamConnectTimeout;
    case UpstreamFailure::ResponseTimeout:
      return ProxyError::UpstreamTimeout;
    case UpstreamFailure::ConnectRefused:
    case UpstreamFailure::ConnectFailed:
    case UpstreamFailure::Closed:
    case UpstreamFailure::InvalidResponse:
      return ProxyError::UpstreamUnreachable;
  }
  return ProxyError::UpstreamUnreachable;
}

// A fixed description of an llhttp error (never echoes input).
std::string_view parseErrorMessage(llhttp_errno_t status) {
  switch (status) {
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      return "conflicting or duplicate Content-Length";
    case HPE_INVALID_CONTENT_LENGTH:
      return "invalid Content-Length";
    case HPE_INVALID_TRANSFER_ENCODING:
      return "invalid Transfer-Encoding";
    case HPE_INVALID_CHUNK_SIZE:
      return "invalid chunk size";
    case HPE_INVALID_HEADER_TOKEN:
      return "invalid character in a header field";
    case HPE_INVALID_METHOD:
      return "invalid method";
    case HPE_INVALID_URL:
      return "invalid request target";
    case HPE_INVALID_VERSION:
      return "invalid HTTP version";
    case HPE_CLOSED_CONNECTION:
      return "data after Connection: close";
    default:
      return "malformed request";
  }
}

}  // namespace

ClientConnection::ClientConnection(Worker& worker) : worker_(worker), filter_context_(*this) {
  llhttp_init(&parser_, HTTP_REQUEST, &parserSettings());
  parser_.data = this;
}

const llhttp_settings_t& ClientConnection::parserSettings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = onMessageBegin;
    s.on_url = onUrl;
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

// ---- opening and reading ----

void ClientConnection::start(int fd) {
  uv_tcp_init(worker_.loop(), &tcp_);
  tcp_.data = this;
  timer_.init(worker_.loop(), onTimer, this);
  timer_.handle()->data = this;
  open_handles_ = 2;
  if (uv_tcp_open(&tcp_, fd) != 0) {
    ::close(fd);
    close();
    return;
  }
  uv_tcp_nodelay(&tcp_, 1);

  // The client address, formatted once per connection for X-Forwarded-For and the filter.
  int length = sizeof(peer_);
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&peer_), &length) == 0) {
    if (peer_.ss_family == AF_INET6) {
      uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&peer_), peer_address_, sizeof(peer_address_));
    } else {
      uv_ip4_name(reinterpret_cast<sockaddr_in*>(&peer_), peer_address_, sizeof(peer_address_));
    }
    peer_address_length_ = static_cast<uint8_t>(std::strlen(peer_address_));
  }
  armTimer(TimerPurpose::Idle, worker_.config().timeouts.request_header_ms);
  updateReading();
}

void ClientConnection::onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<ClientConnection*>(handle->data);
  if (!self->window_.reserve(self->worker_.buffers(), kMinReadSpace)) {
    *buf = uv_buf_init(nullptr, 0);  // libuv reports UV_ENOBUFS to onRead
    return;
  }
  *buf = uv_buf_init(self->window_.at(self->window_.end), self->window_.space());
}

void ClientConnection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) noexcept {
  static_cast<ClientConnection*>(stream->data)->handleRead(nread);
}

void ClientConnection::handleRead(ssize_t nread) {
  if (closing_) {
    return;
  }
  if (nread == 0) {
    window_.releaseIfEmpty(worker_.buffers());
    return;
  }
  if (nread < 0) {
    if (nread == UV_EOF) {
      handleEof();
    } else {
      close();
    }
    return;
  }
  window_.end += static_cast<uint32_t>(nread);

  switch (phase_) {
    case Phase::Closing:
      // Lingering: input is read and dropped until EOF or the timer.
      window_.start = window_.parsed = window_.end;
      window_.releaseIfEmpty(worker_.buffers());
      return;
    case Phase::Tunnel: {
      WriteRequest* batch = upstreamBatch();
      if (batch != nullptr) {
        batch->add(window_.buffer, window_.at(window_.start), window_.live());
      }
      window_.start = window_.parsed = window_.end;
      armTimer(TimerPurpose::Stall, worker_.config().timeouts.client_idle_ms);
      flushToUpstream();
      return;
    }
    case Phase::Idle:
      phase_ = Phase::Head;
      request_begun_ = true;
      armTimer(TimerPurpose::Head, worker_.config().timeouts.request_header_ms);
      break;
    case Phase::Forwarding:
    case Phase::Replying:
      armTimer(TimerPurpose::Stall, worker_.config().timeouts.client_idle_ms);
      break;
    case Phase::Head:
    case Phase::Filtering:
    case Phase::Connecting:
      break;
  }
  parseInput();
}

void ClientConnection::handleEof() {
  client_eof_ = true;
  reading_ = false;  // libuv stops reading at EOF
  switch (phase_) {
    case Phase::Idle:
    case Phase::Head:
    case Phase::Closing:
      close();
      return;
    case Phase::Tunnel:
      if (upstream_ == nullptr || tunnel_upstream_eof_) {
        close();
        return;
      }
      upstream_->shutdownWrite();
      return;
    case Phase::Filtering:
      // A FIN cannot tell a half-close from a client that left; while the filter waits
      // (for keys, say) nothing went upstream yet, so the request is dropped, not sent.
      close();  // the filter's pending work is cancelled
      return;
    case Phase::Connecting:
    case Phase::Forwarding:
    case Phase::Replying:
      // A complete request still gets its response; an incomplete one cannot finish.
      if (!request_complete_ && request_has_body_) {
        abort();
      }
      return;
  }
}

bool ClientConnection::parsingAllowed() const {
  switch (phase_) {
    case Phase::Head:
      return true;
    case Phase::Forwarding:
    case Phase::Replying:
      return !request_complete_;
    case Phase::Idle:
    case Phase::Filtering:
    case Phase::Connecting:
    case Phase::Tunnel:
    case Phase::Closing:
      return false;
  }
  return false;
}

void ClientConnection::parseInput() {
  if (in_parse_) {
    return;  // the loop below is already running further up the stack
  }
  in_parse_ = true;
  while (!closing_ && parsingAllowed()) {
    // The request head may not grow beyond limits.max_header_bytes.
    uint32_t length = window_.unparsed();
    if (!head_done_) {
      uint32_t used = window_.parsed - window_.start;
      auto limit = static_cast<uint32_t>(worker_.config().limits.max_header_bytes);
      if (used >= limit && length > 0) {
        in_parse_ = false;
        sendProxyError(ProxyError::HeadersTooLarge, "the request head is too large");
        return;
      }
      length = length < limit - used ? length : limit - used;
    }
    const char* data = window_.buffer != nullptr ? window_.at(window_.parsed) : kNoBytes;

    parse_stop_ = ParseStop::None;
    llhttp_errno_t status = llhttp_execute(&parser_, data, length);
    if (window_.buffer != nullptr) {
      window_.parsed = status == HPE_OK ? window_.parsed + length
                                        : window_.offsetOf(llhttp_get_error_pos(&parser_));
    }
    if (head_released_) {
      window_.start = window_.parsed;  // parsed body bytes now belong to queued writes
    }
    if (closing_ || (status == HPE_OK && window_.unparsed() == 0)) {
      break;
    }
    if (status == HPE_OK) {
      continue;  // stopped at the head size limit; the next round answers 431
    }
    if (!handleParseStop(status)) {
      break;
    }
  }
  in_parse_ = false;
  if (closing_) {
    return;
  }

  // Everything received in this read is parsed before anything of it goes upstream, so a
  // request refused on a later byte of the same read sends nothing at all. A small batch (a
  // request head, a short body) waits for the end of this loop turn, so that the requests
  // parsed in one turn reach the upstream together and wake it once instead of once each;
  // a busy proxy otherwise pays a cross-CPU wake-up per request. Bulk body bytes go at
  // once, where flow control can see them.
  if (upstream_batch_ != nullptr && !upstream_batch_->empty()) {
    if (upstream_batch_->bytes < kDeferredFlushLimit) {
      worker_.scheduleUpstreamFlush(this);
    } else {
      flushToUpstream();
    }
  }
  window_.releaseIfEmpty(worker_.buffers());
  updateReading();
}

bool ClientConnection::handleParseStop(llhttp_errno_t status) {
  switch (parse_stop_) {
    case ParseStop::HeadComplete:
      llhttp_resume(&parser_);
      processHead();
      return !closing_ && parsingAllowed();
    case ParseStop::MessageComplete:
      if (status == HPE_PAUSED_UPGRADE) {
        paused_for_upgrade_ = true;
      }
      onRequestComplete();
      return !closing_ && parsingAllowed();
    case ParseStop::TooManyHeaders:
      sendProxyError(ProxyError::HeadersTooLarge, "too many header fields");
      return false;
    case ParseStop::EmptyFieldName:
      sendProxyError(ProxyError::BadRequest, "empty header field name");
      return false;
    case ParseStop::ObsFold:
      sendProxyError(ProxyError::BadRequest, "obsolete line folding in a header field");
      return false;
    case ParseStop::BodyTooLarge:
      sendProxyError(ProxyError::BodyTooLarge, "the request body is too large");
      return false;
    case ParseStop::OutOfMemory:
      sendProxyError(ProxyError::InternalError, "out of memory");
      return false;
    case ParseStop::None:
      break;
  }
  sendProxyError(ProxyError::BadRequest, parseErrorMessage(status));
  return false;
}

void ClientConnection::onRequestComplete() {
  request_complete_ = true;
  if (phase_ == Phase::Forwarding && request_chunked_) {
    queueLastChunk(upstreamBatch(), nullptr);  // request trailers are never forwarded
  }
  if (phase_ == Phase::Replying) {
    // The local reply is out (or queued) and the discarded body has ended.
    startNextRequest();
    return;
  }
  if (response_complete_) {
    finishExchange();
  }
}

// ---- llhttp callbacks: record offsets and pause; never act on the connection ----

int ClientConnection::onMessageBegin(llhttp_t* parser) noexcept {
  ClientConnection* self = fromParser(parser);
  self->headers_.clear();
  self->url_offset_ = self->url_length_ = 0;
  self->in_field_ = self->in_value_ = self->head_done_ = false;
  return 0;
}

int ClientConnection::onUrl(llhttp_t* parser, const char* at, size_t length) noexcept {
  ClientConnection* self = fromParser(parser);
  if (self->url_length_ == 0) {
    self->url_offset_ = self->offsetFromStart(at);
  }
  self->url_length_ += static_cast<uint32_t>(length);
  return 0;
}

int ClientConnection::onHeaderField(llhttp_t* parser, const char* at, size_t length) noexcept {
  ClientConnection* self = fromParser(parser);
  if (self->head_done_) {
    return self->countTrailerBytes(length);
  }
  if (!self->in_field_) {
    if (self->headers_.size() >= self->worker_.config().limits.max_header_count) {
      self->parse_stop_ = ParseStop::TooManyHeaders;
      return HPE_USER;
    }
    uint32_t offset = self->offsetFromStart(at);
    self->headers_.push_back(HeaderSpan{offset, 0, offset, 0, HeaderKind::Other, false});
    self->in_field_ = true;
  }
  self->headers_.back().name_length += static_cast<uint32_t>(length);
  return 0;
}

int ClientConnection::onHeaderFieldComplete(llhttp_t* parser) noexcept {
  ClientConnection* self = fromParser(parser);
  if (self->head_done_) {
    return 0;
  }
  self->in_field_ = false;
  HeaderSpan& span = self->headers_.back();
  if (span.name_length == 0) {
    self->parse_stop_ = ParseStop::EmptyFieldName;
    return HPE_USER;
  }
  span.kind = classifyHeader(self->spanText(span.name_offset, span.name_length));
  span.value_offset = span.name_offset + span.name_length + 1;
  return 0;
}

int ClientConnection::onHeaderValue(llhttp_t* parser, const char* at, size_t length) noexcept {
  ClientConnection* self = fromParser(parser);
  if (self->head_done_) {
    return self->countTrailerBytes(length);
  }
  HeaderSpan& span = self->headers_.back();
  uint32_t offset = self->offsetFromStart(at);
  if (length == 0) {
    return 0;  // llhttp reports an empty value as an empty piece at the next line
  }
  if (!self->in_value_) {
    // Between the colon and the value only SP and HTAB may appear; a line break there is a
    // folded value ("Name:\r\n value"), which llhttp hands over as one piece.
    for (uint32_t i = span.name_offset + span.name_length + 1; i < offset; ++i) {
      char c = *self->window_.at(self->window_.start + i);
      if (c != ' ' && c != '\t') {
        self->parse_stop_ = ParseStop::ObsFold;
        return HPE_USER;
      }
    }
    span.value_offset = offset;
    self->in_value_ = true;
  } else if (offset != span.value_offset + span.value_length) {
    // llhttp reports a folded continuation line as a second, non-adjacent piece of the
    // value; RFC 9112 section 5.2 lets a server reject obs-fold, and a proxy must not
    // forward it.
    self->parse_stop_ = ParseStop::ObsFold;
    return HPE_USER;
  }
  span.value_length += static_cast<uint32_t>(length);
  return 0;
}

int ClientConnection::onHeaderValueComplete(llhttp_t* parser) noexcept {
  ClientConnection* self = fromParser(parser);
  if (self->head_done_) {
    return 0;  // request trailer fields are dropped (see countTrailerBytes)
  }
  self->in_value_ = false;
  HeaderSpan& span = self->headers_.back();
  std::string_view trimmed = trimOws(self->spanText(span.value_offset, span.value_length));
  span.value_offset = self->offsetFromStart(trimmed.data());
  span.value_length = static_cast<uint32_t>(trimmed.size());
  return 0;
}

int ClientConnection::onHeadersComplete(llhttp_t* parser) noexcept {
  ClientConnection* self = fromParser(parser);
  self->head_done_ = true;
  self->parse_stop_ = ParseStop::HeadComplete;
  return HPE_PAUSED;
}

int ClientConnection::onBody(llhttp_t* parser, const char* at, size_t length) noexcept {
  ClientConnection* self = fromParser(parser);
  if (self->discard_body_) {
    return 0;
  }
  self->body_bytes_ += length;
  uint64_t limit = self->worker_.config().limits.max_body_bytes;
  if (limit != 0 && self->body_bytes_ > limit) {
    self->parse_stop_ = ParseStop::BodyTooLarge;
    return HPE_USER;
  }
  if (!self->queueBody(at, length)) {
    self->parse_stop_ = ParseStop::OutOfMemory;
    return HPE_USER;
  }
  return 0;
}

int ClientConnection::onMessageComplete(llhttp_t* parser) noexcept {
  ClientConnection* self = fromParser(parser);
  self->parse_stop_ = ParseStop::MessageComplete;
  // For an upgrade request llhttp stops by itself (HPE_PAUSED_UPGRADE) after this callback.
  return parser->upgrade != 0 ? 0 : HPE_PAUSED;
}

// NOTE: the trailer section of a chunked request is parsed and dropped, never forwarded.
// Trailer fields arrive after the request filter has decided and after the head went
// upstream, so nothing could strip identity fields (X-User-Id and the like), credentials or
// client-address fields from them; forwarding them would let a client add any of these to
// any request. The body still ends with a last-chunk and an empty trailer section. The
// bytes count against limits.max_body_bytes so a trailer section cannot grow without bound.
int ClientConnection::countTrailerBytes(size_t length) {
  if (discard_body_) {
    return 0;
  }
  body_bytes_ += length;
  uint64_t limit = worker_.config().limits.max_body_bytes;
  if (limit != 0 && body_bytes_ > limit) {
    parse_stop_ = ParseStop::BodyTooLarge;
    return HPE_USER;
  }
  return 0;
}

uint32_t ClientConnection::offsetFromStart(const char* at) const {
  return window_.offsetOf(at) - window_.start;
}

std::string_view ClientConnection::spanText(uint32_t offset, uint32_t length) const {
  return std::string_view(window_.at(window_.start + offset), length);
}

// ---- the request head ----

void ClientConnection::processHead() {
  worker_.stats().requests.add();
  request_start_ns_ = monotonicNanos();
  captureLogTarget();
  armTimer(TimerPurpose::Stall, worker_.config().timeouts.client_idle_ms);
  if (!validateHead()) {
    return;
  }
  runFilter();
}

bool ClientConnection::validateHead() {
  client_minor_ = parser_.http_minor;
  if (parser_.http_major != 1 || parser_.http_minor > 1) {
    sendProxyError(ProxyError::BadRequest, "unsupported HTTP version");
    return false;
  }
  if (parser_.method == HTTP_CONNECT) {
    sendProxyError(ProxyError::BadRequest, "CONNECT is not supported");
    return false;
  }

  // RFC 9112 section 3: exactly one SP on each side of the target (llhttp allows more).
  uint32_t target_end = url_offset_ + url_length_;
  if (url_offset_ < 2 || *window_.at(window_.start + url_offset_ - 1) != ' ' ||
      *window_.at(window_.start + url_offset_ - 2) == ' ' ||
      *window_.at(window_.start + target_end) != ' ' ||
      *window_.at(window_.start + target_end + 1) != 'H') {
    sendProxyError(ProxyError::BadRequest, "malformed request line");
    return false;
  }

  // Framing (RFC 9112 section 6): llhttp already refused Content-Length with
  // Transfer-Encoding and duplicate Content-Length; a transfer coding other than a final
  // chunked cannot be delimited, and HTTP/1.0 has no transfer codings.
  uint16_t flags = parser_.flags;
  if ((flags & F_TRANSFER_ENCODING) != 0 && ((flags & F_CHUNKED) == 0 || client_minor_ == 0)) {
    sendProxyError(ProxyError::BadRequest, "unsupported Transfer-Encoding");
    return false;
  }
  request_chunked_ = (flags & F_CHUNKED) != 0;
  request_has_body_ =
      request_chunked_ || ((flags & F_CONTENT_LENGTH) != 0 && parser_.content_length > 0);
  uint64_t body_limit = worker_.config().limits.max_body_bytes;
  if (body_limit != 0 && (flags & F_CONTENT_LENGTH) != 0 && parser_.content_length > body_limit) {
    sendProxyError(ProxyError::BodyTooLarge, "the request body is too large");
    return false;
  }
  return validateFields() && validateTarget();
}

bool ClientConnection::validateTarget() {
  std::string_view target = spanText(url_offset_, url_length_);
  if (target.front() == '/' || (target == "*" && parser_.method == HTTP_OPTIONS)) {
    return true;
  }

  // Absolute-form (RFC 9112 section 3.2.2) is accepted when its authority is the Host
  // field's value, and forwarded in origin-form; anything else is ambiguous.
  std::string_view rest;
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (target.size() > scheme.size() &&
        equalsIgnoreCase(target.substr(0, scheme.size()), scheme)) {
      rest = target.substr(scheme.size());
    }
  }
  size_t path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view host;
  bool has_host = filter_context_.findHeader("host", &host);
  if (authority.empty() || !has_host || !equalsIgnoreCase(authority, host)) {
    sendProxyError(ProxyError::BadRequest, "the request target must be a path on this host");
    return false;
  }
  std::string_view path =
      path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  if (path.empty() || path.front() == '?') {
    target_override_ = "/";
    target_override_.append(path);
    return true;
  }
  url_offset_ = offsetFromStart(path.data());
  url_length_ = static_cast<uint32_t>(path.size());
  return true;
}

bool ClientConnection::validateFields() {
  ConnectionOptions options;
  size_t hosts = 0;
  std::string_view host;
  size_t forwarded_for = 0;
  size_t request_ids = 0;
  std::string_view request_id;
  for (const HeaderSpan& span : headers_) {
    std::string_view value = spanText(span.value_offset, span.value_length);
    switch (span.kind) {
      case HeaderKind::Host:
        ++hosts;
        host = value;
        break;
      case HeaderKind::Connection:
        options.addFieldValue(value);
        break;
      case HeaderKind::Upgrade:
        addUpgradeOffer(value);
        break;
      case HeaderKind::XForwardedFor:
        ++forwarded_for;
        break;
      case HeaderKind::XRequestId:
        ++request_ids;
        request_id = value;
        break;
      case HeaderKind::Expect:
        expect_continue_ = expect_continue_ || listContainsToken(value, "100-continue");
        break;
      case HeaderKind::Te:
        te_trailers_ = te_trailers_ || listContainsToken(value, "trailers");
        break;
      default:
        break;
    }
  }

  // RFC 9112 section 3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
  if (hosts > 1 || (hosts == 0 && client_minor_ == 1)) {
    sendProxyError(ProxyError::BadRequest,
                   hosts > 1 ? "more than one Host field" : "missing Host field");
    return false;
  }
  // RFC 9110 section 7.2: the route was chosen on this Host, so it must be a valid
  // authority; HTTP/1.1 requires a non-empty one (RFC 9112 section 3.2).
  if (hosts == 1 && (host.empty() ? client_minor_ == 1 : !isValidHost(host))) {
    sendProxyError(ProxyError::BadRequest,
                   host.empty() ? "empty Host field" : "invalid Host field");
    return false;
  }
  if (options.tooManyNames() || forwarded_for > kMaxForwardedFor) {
    sendProxyError(ProxyError::BadRequest, "too many connection options or forwarded fields");
    return false;
  }
  // A Connection option removes the field it names at this hop; the fields that routing,
  // framing, credentials and client addresses depend on must reach the upstream unchanged.
  if (options.namesProtectedField()) {
    sendProxyError(ProxyError::BadRequest, "a Connection option names an end-to-end field");
    return false;
  }
  keep_alive_ = llhttp_should_keep_alive(&parser_) != 0;
  head_request_ = parser_.method == HTTP_HEAD;
  expect_continue_ = expect_continue_ && client_minor_ == 1 && request_has_body_;
  upgrade_requested_ =
      parser_.upgrade != 0 && !upgrade_offer_.empty() && options.upgrade() && !request_has_body_;
  adoptRequestId(request_ids, request_id);

  // Hop-by-hop fields (Upgrade included: the allowed part of the offer is re-stated) and
  // those the Connection field names never go upstream as received.
  for (HeaderSpan& span : headers_) {
    std::string_view name = spanText(span.name_offset, span.name_length);
    // X-Request-Id is re-stated once by the proxy (the client's when it was well formed).
    span.removed = isHopByHop(span.kind) || options.names(name) ||
                   span.kind == HeaderKind::XRequestId ||
                   (span.kind == HeaderKind::Expect && expect_continue_);
  }
  return true;
}

void ClientConnection::addUpgradeOffer(std::string_view value) {
  const std::vector<std::string>& allowed = worker_.config().limits.upgrade_protocols;
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view element = trimOws(value.substr(0, comma));
    bool keep = false;
    if (isValidProtocol(element)) {
      for (const std::string& name : allowed) {
        keep = keep || equalsIgnoreCase(protocolName(element), name);
      }
    }
    if (keep) {
      upgrade_offer_.append(upgrade_offer_.empty() ? "" : ", ");
      upgrade_offer_.append(element);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
}

bool ClientConnection::offeredUpgrade(std::string_view element) const {
  std::string_view offer = upgrade_offer_;
  while (!offer.empty()) {
    size_t comma = offer.find(',');
    if (equalsIgnoreCase(protocolName(trimOws(offer.substr(0, comma))), protocolName(element))) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    offer.remove_prefix(comma + 1);
  }
  return false;
}

// RFC 9110 section 7.8: a 101 names the protocol(s) switched to in Upgrade. The tunnel is
// opened only when it does and every protocol named is one the client offered (after the
// allow-list); anything else would hand the connection to a protocol nobody checked.
bool ClientConnection::acceptsSwitch(UpstreamConnection& upstream) const {
  size_t named = 0;
  for (size_t i = 0; i < upstream.headerCount(); ++i) {
    if (upstream.headerKind(i) != HeaderKind::Upgrade) {
      continue;
    }
    std::string_view value = upstream.headerValue(i);
    while (!value.empty()) {
      size_t comma = value.find(',');
      std::string_view element = trimOws(value.substr(0, comma));
      if (!element.empty()) {
        if (!isValidProtocol(element) || !offeredUpgrade(element)) {
          return false;
        }
        ++named;
      }
      if (comma == std::string_view::npos) {
        break;
      }
      value.remove_prefix(comma + 1);
    }
  }
  return named > 0;
}

void ClientConnection::runFilter() {
  FilterVerdict verdict = worker_.filter().onRequest(filter_context_);
  if (closing_) {
    return;
  }
  applyFilterVerdict(verdict);
}

void ClientConnection::applyFilterVerdict(FilterVerdict verdict) {
  switch (verdict) {
    case FilterVerdict::Pass:
      forwardRequest();
      return;
    case FilterVerdict::Respond:
      sendLocalReply();
      return;
    case FilterVerdict::Pending:
      if (pending_id_ == 0) {
        // Pending without suspend(): nobody would ever resume the request.
        sendProxyError(ProxyError::InternalError, "the request filter did not decide");
        return;
      }
      phase_ = Phase::Filtering;
      filter_waited_ = true;
      return;
  }
}

void ClientConnection::resumeFilter(FilterVerdict verdict) {
  worker_.unregisterPending(pending_id_);
  pending_id_ = 0;
  if (closing_ || phase_ != Phase::Filtering) {
    return;
  }
  phase_ = Phase::Head;
  if (verdict == FilterVerdict::Pending) {
    sendProxyError(ProxyError::InternalError, "the request filter did not decide");
    return;
  }
  applyFilterVerdict(verdict);
  if (!closing_) {
    parseInput();
  }
}

void ClientConnection::forwardRequest() {
  if (!buildUpstreamHead()) {
    sendProxyError(ProxyError::InternalError, "out of memory");
    return;
  }

  // From here the head's bytes are no longer needed: the upstream copy is self-contained.
  head_released_ = true;
  window_.start = window_.parsed;

  UpstreamConnection* upstream = worker_.upstreams().takeIdle(this);
  if (upstream != nullptr) {
    upstream_ = upstream;
    upstream_reused_ = true;
    // NOTE: the fast path reads the clock twice per request (head parsed, response ended):
    // when the head goes out in the same turn it was parsed in, the upstream time starts
    // then too (including a filter decision made at once, usually a cache hit).
    if (!filter_waited_) {
      upstream_start_ns_ = request_start_ns_;
    }
    sendHeadUpstream();
    return;
  }
  int error = 0;
  upstream = worker_.upstreams().connect(this, &error);
  if (upstream == nullptr) {
    worker_.stats().countUpstreamError(UpstreamErrorKind::ConnectFailed);
    sendProxyError(ProxyError::UpstreamUnreachable, "the upstream could not be reached");
    return;
  }
  upstream_ = upstream;
  upstream_reused_ = false;
  phase_ = Phase::Connecting;
}

size_t ClientConnection::upstreamHeadBound() const {
  constexpr size_t kFixed = 256;  // request line, X-Forwarded-*, framing and upgrade fields
  size_t bound = kFixed + observe::kMaxRequestIdLength + url_length_ + target_override_.size() +
                 added_text_.size() +
                 upgrade_offer_.size() + 4 * added_headers_.size() + peer_address_length_ +
                 worker_.config().upstream.authority.size();
  for (const HeaderSpan& span : headers_) {
    // Host and X-Forwarded-For values can appear twice (as themselves and in X-Forwarded-*).
    bound += 2 * (span.name_length + span.value_length + 4);
  }
  return bound;
}

bool ClientConnection::buildUpstreamHead() {
  size_t bound = upstreamHeadBound();
  char* out = scratch_.reserve(worker_.buffers(), bound);
  if (out == nullptr) {
    return false;
  }
  HeadWriter writer(out, bound);
  const ProxyConfig& config = worker_.config();

  // Request line: always HTTP/1.1 upstream, the target possibly rewritten by the filter.
  writer.append(llhttp_method_name(static_cast<llhttp_method_t>(parser_.method)));
  writer.append(" ");
  writer.append(target_override_.empty() ? spanText(url_offset_, url_length_)
                                         : std::string_view(target_override_));
  writer.append(" HTTP/1.1\r\n");

  // End-to-end fields as received (names keep their case; values are trimmed).
  std::string_view host;
  std::string_view forwarded_for[kMaxForwardedFor];
  size_t forwarded_for_count = 0;
  bool kept_proto = false;
  bool kept_host = false;
  for (const HeaderSpan& span : headers_) {
    std::string_view name = spanText(span.name_offset, span.name_length);
    std::string_view value = spanText(span.value_offset, span.value_length);
    if (span.kind == HeaderKind::Host) {
      host = value;
    }
    // An empty Host (HTTP/1.0 only) is replaced by the upstream's authority below.
    if (span.removed || span.kind == HeaderKind::ContentLength ||
        (span.kind == HeaderKind::Host && value.empty())) {
      continue;
    }
    // RFC 7239 Forwarded and X-Real-IP make claims about the client that only a trusted
    // proxy in front may make; unlike X-Forwarded-* the proxy sets no value of its own.
    if ((span.kind == HeaderKind::Forwarded || span.kind == HeaderKind::XRealIp) &&
        !config.trust_forwarded) {
      continue;
    }
    if (span.kind == HeaderKind::XForwardedFor) {
      forwarded_for[forwarded_for_count++] = value;
      continue;
    }
    if (span.kind == HeaderKind::XForwardedProto || span.kind == HeaderKind::XForwardedHost) {
      if (!config.trust_forwarded) {
        continue;
      }
      (span.kind == HeaderKind::XForwardedProto ? kept_proto : kept_host) = true;
    }
    writer.appendField(name, value);
  }

  // Fields the proxy sets: Host when an HTTP/1.0 client sent none, X-Forwarded-*.
  if (host.empty() && client_minor_ == 0) {
    writer.appendField("Host", config.upstream.authority);
  }
  appendForwardedFor(writer, forwarded_for, forwarded_for_count,
                     std::string_view(peer_address_, peer_address_length_));
  if (!kept_proto) {
    writer.append("X-Forwarded-Proto: http\r\n");
  }
  if (!kept_host && !host.empty()) {
    writer.appendField("X-Forwarded-Host", host);
  }
  writer.appendField("X-Request-Id", requestId());
  for (const AddedHeader& added : added_headers_) {
    std::string_view text(added_text_);
    writer.appendField(text.substr(added.name_offset, added.name_length),
                       text.substr(added.name_offset + added.name_length, added.value_length));
  }

  // Framing is re-stated by the proxy (the body is re-encoded, never passed through raw).
  if (request_chunked_) {
    writer.append("Transfer-Encoding: chunked\r\n");
  } else if ((parser_.flags & F_CONTENT_LENGTH) != 0) {
    writer.append("Content-Length: ");
    writer.appendDecimal(parser_.content_length);
    writer.append(kCrlf);
  }
  // TE is hop-by-hop; only "trailers" is passed on, and then it must be a connection
  // option too (RFC 9110 section 10.1.4).
  if (te_trailers_) {
    writer.append("TE: trailers\r\n");
  }
  if (upgrade_requested_) {
    writer.appendField("Upgrade", upgrade_offer_);
  }
  if (upgrade_requested_ || te_trailers_) {
    writer.append("Connection: ");
    writer.append(upgrade_requested_ && te_trailers_ ? "upgrade, te"
                                                     : (upgrade_requested_ ? "upgrade" : "te"));
    writer.append(kCrlf);
  }
  writer.append(kCrlf);
  if (writer.overflowed()) {
    return false;
  }

  scratch_.commit(writer.size());
  releaseUpstreamHead();
  BufferPool::addRef(scratch_.buffer);
  upstream_head_buffer_ = scratch_.buffer;
  upstream_head_ = out;
  upstream_head_length_ = static_cast<uint32_t>(writer.size());
  return true;
}

void ClientConnection::releaseUpstreamHead() {
  if (upstream_head_buffer_ != nullptr) {
    worker_.buffers().release(upstream_head_buffer_);
    upstream_head_buffer_ = nullptr;
  }
}

void ClientConnection::onUpstreamConnected() {
  if (phase_ == Phase::Connecting && !closing_) {
    sendHeadUpstream();
  }
}

void ClientConnection::sendHeadUpstream() {
  phase_ = Phase::Forwarding;
  worker_.stats().upstream_requests.add();
  if (upstream_start_ns_ == 0) {
    upstream_start_ns_ = monotonicNanos();
  }
  upstream_->expectResponse(head_request_);
  WriteRequest* batch = upstreamBatch();
  if (batch == nullptr) {
    sendProxyError(ProxyError::InternalError, "out of memory");
    return;
  }
  batch->add(upstream_head_buffer_, upstream_head_, upstream_head_length_);

  // Expect: 100-continue is answered here, once the upstream is connected (RFC 9110
  // section 10.1.1); the expectation itself is not forwarded.
  if (expect_continue_ && window_.unparsed() == 0 && !response_started_) {
    WriteRequest* client = clientBatch();
    if (client != nullptr) {
      client->addStatic(kContinue);
      flushToClient();
    }
  }

  // Parsing what is already buffered flushes the head together with the first body bytes.
  if (in_parse_) {
    return;
  }
  parseInput();
}

bool ClientConnection::queueBody(const char* data, size_t length) {
  WriteRequest* batch = upstreamBatch();
  if (batch == nullptr) {
    return false;
  }
  if (!request_chunked_) {
    batch->add(window_.buffer, data, length);
    return true;
  }

  // Chunked in, chunked out: one chunk per parsed piece, extensions dropped.
  constexpr size_t kChunkLine = 20;
  char* line = scratch_.reserve(worker_.buffers(), kChunkLine);
  if (line == nullptr) {
    return false;
  }
  HeadWriter writer(line, kChunkLine);
  writer.appendHex(length);
  writer.append(kCrlf);
  scratch_.commit(writer.size());
  batch->add(scratch_.buffer, line, writer.size());
  batch->add(window_.buffer, data, length);
  batch->addStatic(kCrlf);
  return true;
}

void ClientConnection::flushToUpstream() {
  if (upstream_batch_ == nullptr || upstream_batch_->empty() || upstream_ == nullptr ||
      phase_ == Phase::Connecting) {
    return;
  }
  WriteRequest* request = upstream_batch_;
  upstream_batch_ = nullptr;
  if (!upstream_->write(request)) {
    return;  // the upstream reports the failure from its close callback
  }
  upstream_->requestProgress();
  size_t queued = upstream_->stream()->write_queue_size;
  if (queued > kHighWater && !read_blocked_by_upstream_) {
    read_blocked_by_upstream_ = true;
    updateReading();
  } else if (queued <= kLowWater && read_blocked_by_upstream_) {
    read_blocked_by_upstream_ = false;
    updateReading();
  }
}

void ClientConnection::onUpstreamWriteDone(size_t queued_bytes) {
  if (closing_ || !read_blocked_by_upstream_ || queued_bytes > kLowWater) {
    return;
  }
  read_blocked_by_upstream_ = false;
  updateReading();
}

void ClientConnection::onUpstreamFailed(UpstreamFailure failure) {
  upstream_ = nullptr;
  // What was queued for the failed connection goes nowhere (a retry queues the head again),
  // and its queue no longer holds up reading.
  dropUpstreamBatch();
  read_blocked_by_upstream_ = false;
  if (closing_ || phase_ == Phase::Closing) {
    return;
  }
  worker_.stats().countUpstreamError(failureKind(failure));
  if (response_started_) {
    abort();  // part of the response went out: only closing can tell the client
    return;
  }

  // A pooled connection the upstream had closed: retry once when nothing can be duplicated
  // (RFC 9110 section 9.2.2: idempotent, no body) and nothing was answered yet.
  bool retryable = failure == UpstreamFailure::Closed && upstream_reused_ && !retried_ &&
                   !response_started_ && isIdempotent(parser_.method) && !request_has_body_ &&
                   !upgrade_requested_;
  if (retryable) {
    retryOnFreshConnection();
    return;
  }
  std::string_view message = failureMessage(failure);
  worker_.warnUpstreamFailure(message.data());
  sendProxyError(failureError(failure), message);
}

void ClientConnection::retryOnFreshConnection() {
  retried_ = true;
  worker_.stats().upstream_retries.add();
  upstream_start_ns_ = 0;  // timed again from the second attempt
  int error = 0;
  UpstreamConnection* upstream = worker_.upstreams().connect(this, &error);
  if (upstream == nullptr) {
    worker_.stats().countUpstreamError(UpstreamErrorKind::ConnectFailed);
    sendProxyError(ProxyError::UpstreamUnreachable, "the upstream could not be reached");
    return;
  }
  upstream_ = upstream;
  upstream_reused_ = false;
  phase_ = Phase::Connecting;
}

// ---- the response ----

int ClientConnection::onResponseHead(UpstreamConnection& upstream) {
  int status = upstream.status();
  if (status == 101) {
    if (!upgrade_requested_ || !acceptsSwitch(upstream)) {
      keep_alive_ = false;  // 502, and what the client sent after its request is never read
      return -1;
    }
    tunnel_accepted_ = true;
    response_started_ = true;
    response_status_ = status;
    writeResponseHead(upstream, status);
    return 1;
  }
  if (status < 200) {
    // Interim responses: 100 was answered by the proxy already; others reach HTTP/1.1
    // clients only (RFC 9110 section 15.2).
    if (status != 100 && client_minor_ == 1) {
      writeResponseHead(upstream, status);
    }
    return 1;
  }

  // The final response: decide how its body is framed for this client.
  response_started_ = true;
  response_status_ = status;
  bool no_body = head_request_ || status == 204 || status == 304;
  if (!no_body && (upstream.chunked() || !upstream.hasContentLength())) {
    response_chunked_ = client_minor_ == 1;
    response_until_close_ = client_minor_ == 0;
  }
  if (!request_complete_ && request_has_body_) {
    close_after_response_ = true;  // answered early: the rest of the body will not be read
  }
  if (response_until_close_ || !keep_alive_ || worker_.draining() || client_eof_) {
    close_after_response_ = true;
  }
  writeResponseHead(upstream, status);
  return no_body ? 1 : 0;
}

void ClientConnection::writeResponseHead(UpstreamConnection& upstream, int status) {
  constexpr size_t kFixed = 160;
  size_t bound = kFixed + upstream.reason().size();
  ConnectionOptions options;
  for (size_t i = 0; i < upstream.headerCount(); ++i) {
    bound += upstream.headerName(i).size() + upstream.headerValue(i).size() + 4;
    if (upstream.headerKind(i) == HeaderKind::Connection) {
      options.addFieldValue(upstream.headerValue(i));
    }
  }
  char* out = scratch_.reserve(worker_.buffers(), bound);
  if (out == nullptr) {
    return;  // the client gets no head; the exchange is cut when the body cannot follow
  }
  HeadWriter writer(out, bound);
  writer.append("HTTP/1.1 ");
  writer.appendDecimal(static_cast<uint64_t>(status));
  writer.append(" ");
  writer.append(upstream.reason());
  writer.append(kCrlf);

  // End-to-end fields; framing and connection fields are re-stated below.
  for (size_t i = 0; i < upstream.headerCount(); ++i) {
    HeaderKind kind = upstream.headerKind(i);
    bool keep_upgrade = status == 101 && kind == HeaderKind::Upgrade;
    if (!keep_upgrade && (kind == HeaderKind::ContentLength || isHopByHop(kind) ||
                          options.names(upstream.headerName(i)))) {
      continue;
    }
    writer.appendField(upstream.headerName(i), upstream.headerValue(i));
  }
  if (status == 101) {
    writer.append("Connection: upgrade\r\n");
  } else if (status >= 200) {
    if (response_chunked_) {
      writer.append("Transfer-Encoding: chunked\r\n");
    } else if (upstream.hasContentLength() && !response_until_close_) {
      writer.append("Content-Length: ");
      writer.appendDecimal(upstream.contentLength());
      writer.append(kCrlf);
    }
    if (close_after_response_) {
      writer.append("Connection: close\r\n");
    } else if (client_minor_ == 0) {
      writer.append("Connection: keep-alive\r\n");
    }
  }
  writer.append(kCrlf);
  if (writer.overflowed()) {
    return;
  }
  scratch_.commit(writer.size());
  response_bytes_ += writer.size();
  queueToClient(scratch_.buffer, out, writer.size());
}

void ClientConnection::onResponseBody(IoBuffer* buffer, const char* data, size_t length) {
  response_bytes_ += length;
  if (!response_chunked_) {
    queueToClient(buffer, data, length);
    return;
  }
  constexpr size_t kChunkLine = 20;
  char* line = scratch_.reserve(worker_.buffers(), kChunkLine);
  if (line == nullptr) {
    return;
  }
  HeadWriter writer(line, kChunkLine);
  writer.appendHex(length);
  writer.append(kCrlf);
  scratch_.commit(writer.size());
  queueToClient(scratch_.buffer, line, writer.size());
  queueToClient(buffer, data, length);
  WriteRequest* batch = clientBatch();
  if (batch != nullptr) {
    batch->addStatic(kCrlf);
  }
}

void ClientConnection::onResponseComplete() {
  // One clock read ends both the upstream exchange and the request (the last byte is
  // handed to the client's socket in this same call).
  uint64_t end_ns = monotonicNanos();
  if (upstream_start_ns_ != 0) {
    upstream_ns_ = end_ns - upstream_start_ns_;
    upstream_timed_ = true;
    worker_.stats().upstream_duration.observeNanos(upstream_ns_);
  }
  if (tunnel_accepted_) {
    endRequest(101, false, end_ns);
    startTunnel();
    return;
  }
  if (response_chunked_) {
    queueLastChunk(clientBatch(), response_trailers_.get());
  }
  response_complete_ = true;
  flushToClient();
  endRequest(response_status_, false, end_ns);
  if (closing_) {
    return;
  }
  if (request_complete_ || close_after_response_) {
    finishExchange();
  }
}

void ClientConnection::finishExchange() {
  releaseUpstream(request_complete_ && !response_until_close_);
  releaseUpstreamHead();
  if (close_after_response_ || !keep_alive_ || worker_.draining() || client_eof_) {
    closeGracefully();
    return;
  }
  startNextRequest();
}

void ClientConnection::releaseUpstream(bool reusable) {
  // Bytes still waiting for the end-of-turn flush (the end of a body the upstream answered
  // before reading it) were never sent. They are dropped, and the connection that is owed
  // them is closed rather than pooled: pooled, it would read the next request's head as the
  // rest of this body, and left queued they would precede this client's next request.
  if (dropUpstreamBatch()) {
    reusable = false;
  }
  // Reading may have stopped for this upstream's queue; its write callbacks will not come
  // back here once it is released, so the block ends with the exchange.
  read_blocked_by_upstream_ = false;
  if (upstream_ == nullptr) {
    return;
  }
  UpstreamConnection* upstream = upstream_;
  upstream_ = nullptr;
  upstream->finish(reusable);
}

bool ClientConnection::dropUpstreamBatch() {
  if (upstream_batch_ == nullptr) {
    return false;
  }
  bool had_bytes = !upstream_batch_->empty();
  worker_.writes().release(upstream_batch_);
  upstream_batch_ = nullptr;
  return had_bytes;
}

void ClientConnection::resetRequestState() {
  headers_.clear();
  added_headers_.clear();
  added_text_.clear();
  target_override_.clear();
  url_offset_ = url_length_ = 0;
  in_field_ = in_value_ = head_done_ = head_released_ = false;
  body_bytes_ = 0;
  parse_stop_ = ParseStop::None;
  keep_alive_ = close_after_response_ = expect_continue_ = false;
  request_chunked_ = request_has_body_ = request_complete_ = false;
  head_request_ = upgrade_requested_ = retried_ = discard_body_ = te_trailers_ = false;
  upstream_reused_ = false;
  response_started_ = response_chunked_ = response_until_close_ = false;
  response_complete_ = tunnel_accepted_ = false;
  upgrade_offer_.clear();
  request_start_ns_ = upstream_start_ns_ = upstream_ns_ = response_bytes_ = 0;
  response_status_ = 0;
  upstream_timed_ = filter_waited_ = log_target_taken_ = false;
  request_id_length_ = 0;
  log_target_.clear();
  note_route_.clear();
  note_provider_.clear();
  note_subject_.clear();
  note_outcome_.clear();
  note_reason_.clear();
  if (response_trailers_ != nullptr) {
    response_trailers_->clear();
  }
}

void ClientConnection::startNextRequest() {
  resetRequestState();
  if (paused_for_upgrade_) {
    llhttp_resume_after_upgrade(&parser_);
    paused_for_upgrade_ = false;
  } else {
    llhttp_resume(&parser_);
  }

  // Pipelined bytes already buffered start the next request at once.
  window_.start = window_.parsed;
  if (window_.unparsed() > 0) {
    phase_ = Phase::Head;
    request_begun_ = true;
    armTimer(TimerPurpose::Head, worker_.config().timeouts.request_header_ms);
    parseInput();
    return;
  }
  phase_ = Phase::Idle;
  armTimer(TimerPurpose::Idle, worker_.config().timeouts.client_idle_ms);
  window_.releaseIfEmpty(worker_.buffers());
  scratch_.reset(worker_.buffers());
  if (worker_.draining()) {
    closeGracefully();
    return;
  }
  updateReading();
}

// ---- tunnels (after 101 Switching Protocols) ----

void ClientConnection::startTunnel() {
  phase_ = Phase::Tunnel;
  releaseUpstreamHead();
  armTimer(TimerPurpose::Stall, worker_.config().timeouts.client_idle_ms);
  flushToClient();
  if (closing_ || upstream_ == nullptr) {
    return;
  }

  // Bytes the client sent after its request belong to the new protocol.
  if (window_.unparsed() > 0) {
    WriteRequest* batch = upstreamBatch();
    if (batch != nullptr) {
      batch->add(window_.buffer, window_.at(window_.parsed), window_.unparsed());
    }
  }
  window_.start = window_.parsed = window_.end;
  flushToUpstream();
  upstream_->startTunnel();
  updateReading();
}

void ClientConnection::onTunnelData(IoBuffer* buffer, const char* data, size_t length) {
  if (closing_) {
    return;
  }
  queueToClient(buffer, data, length);
  armTimer(TimerPurpose::Stall, worker_.config().timeouts.client_idle_ms);
  flushToClient();
}

void ClientConnection::onTunnelUpstreamEof() {
  tunnel_upstream_eof_ = true;
  if (client_eof_) {
    close();
    return;
  }
  shutdown_started_ = true;
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&tcp_), onShutdown) != 0) {
    close();
  }
}

TrailerFields& ClientConnection::trailers() {
  if (response_trailers_ == nullptr) {
    response_trailers_ = std::make_unique<TrailerFields>();
  }
  return *response_trailers_;
}

void ClientConnection::queueLastChunk(WriteRequest* batch, TrailerFields* trailers) {
  if (batch == nullptr) {
    return;
  }
  if (trailers == nullptr || trailers->empty()) {
    batch->addStatic(kLastChunk);
    return;
  }

  // last-chunk, the trailer section collected from the parser, and the final CRLF.
  const std::string& text = trailers->text();
  char* out = scratch_.reserve(worker_.buffers(), text.size() + 5);
  if (out == nullptr) {
    batch->addStatic(kLastChunk);
    return;
  }
  std::memcpy(out, "0\r\n", 3);
  std::memcpy(out + 3, text.data(), text.size());
  std::memcpy(out + 3 + text.size(), "\r\n", 2);
  scratch_.commit(text.size() + 5);
  batch->add(scratch_.buffer, out, text.size() + 5);
  trailers->clear();
}

// ---- writing to the client ----

WriteRequest* ClientConnection::clientBatch() {
  if (client_batch_ == nullptr) {
    client_batch_ = worker_.writes().acquire();
  }
  return client_batch_;
}

WriteRequest* ClientConnection::upstreamBatch() {
  if (upstream_batch_ == nullptr) {
    upstream_batch_ = worker_.writes().acquire();
  }
  return upstream_batch_;
}

void ClientConnection::queueToClient(IoBuffer* buffer, const char* data, size_t length) {
  WriteRequest* batch = clientBatch();
  if (batch != nullptr) {
    batch->add(buffer, data, length);
  }
}

void ClientConnection::flushToClient() {
  if (closing_ || client_batch_ == nullptr || client_batch_->empty()) {
    return;
  }
  WriteRequest* request = client_batch_;
  client_batch_ = nullptr;
  request->req.data = this;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (sendWrite(stream, request, worker_.writes(), onWriteDone) != 0) {
    close();
    return;
  }
  if (phase_ == Phase::Forwarding || phase_ == Phase::Tunnel) {
    armTimer(TimerPurpose::Stall, worker_.config().timeouts.client_idle_ms);
  }
  if (upstream_ != nullptr && stream->write_queue_size > kHighWater && !upstream_blocked_) {
    upstream_blocked_ = true;
    upstream_->setReadBlocked(true);
  }
}

void ClientConnection::onWriteDone(uv_write_t* req, int status) noexcept {
  auto* request = reinterpret_cast<WriteRequest*>(req);
  auto* self = static_cast<ClientConnection*>(req->data);
  self->worker_.writes().release(request);
  if (self->closing_) {
    return;
  }
  if (status != 0) {
    self->close();
    return;
  }
  size_t queued = self->tcp_.write_queue_size;
  if (self->upstream_blocked_ && queued <= kLowWater) {
    self->upstream_blocked_ = false;
    if (self->upstream_ != nullptr) {
      self->upstream_->setReadBlocked(false);
    }
  }
  if (self->phase_ == Phase::Forwarding || self->phase_ == Phase::Tunnel) {
    self->armTimer(TimerPurpose::Stall, self->worker_.config().timeouts.client_idle_ms);
  }
}

// ---- locally generated responses ----

void ClientConnection::sendProxyError(ProxyError error, std::string_view message) {
  if (response_started_) {
    abort();  // part of a response went out already: only closing can signal the error
    return;
  }
  worker_.stats().proxy_errors.add();
  ProxyErrorInfo info = describe(error);
  captureLogTarget();  // a framing error: the target, when parsed, is still in the window

  // Keep the connection only for upstream errors on a complete, keep-alive request.
  bool upstream_error = info.status >= 502;
  bool close_connection =
      !upstream_error || !keep_alive_ || request_has_body_ || worker_.draining() || client_eof_;
  dropUpstreamBatch();  // nothing of a refused request goes upstream
  if (upstream_ != nullptr) {
    UpstreamConnection* upstream = upstream_;
    upstream_ = nullptr;
    upstream->detach();
  }
  releaseUpstreamHead();

  size_t bound = proxyErrorSize(message.size());
  char* out = scratch_.reserve(worker_.buffers(), bound);
  if (out == nullptr) {
    close();
    return;
  }
  HeadWriter writer(out, bound);
  writeProxyError(writer, error, message, close_connection, requestId());
  scratch_.commit(writer.size());
  response_bytes_ += writer.size();
  queueToClient(scratch_.buffer, out, writer.size());
  flushToClient();
  endRequest(info.status, false);
  finishLocalResponse(close_connection);
}

void ClientConnection::sendLocalReply() {
  worker_.stats().local_replies.add();
  const LocalReply& reply = worker_.localReply();

  // The body of a refused request is read and dropped only when it is small and framed by
  // Content-Length; a client waiting for 100-continue might never send it.
  bool small_body = !request_chunked_ && parser_.content_length <= kMaxDiscardedBody;
  bool close_connection = !keep_alive_ || worker_.draining() || client_eof_ ||
                          (request_has_body_ && (!small_body || expect_continue_));
  size_t bound = localReplySize(reply);
  char* out = scratch_.reserve(worker_.buffers(), bound);
  if (out == nullptr) {
    close();
    return;
  }
  HeadWriter writer(out, bound);
  writeLocalReply(writer, reply, close_connection, requestId());
  if (writer.overflowed()) {
    close();
    return;
  }
  scratch_.commit(writer.size());
  response_bytes_ += writer.size();
  queueToClient(scratch_.buffer, out, writer.size());
  flushToClient();
  endRequest((reply.status >= 200 && reply.status <= 599) ? reply.status : 500, false);
  finishLocalResponse(close_connection);
}

void ClientConnection::finishLocalResponse(bool close_connection) {
  if (closing_) {
    return;
  }
  if (close_connection) {
    closeGracefully();
    return;
  }

  // Keep the connection: read the rest of the request (if any) and drop it.
  response_started_ = true;
  response_complete_ = true;
  discard_body_ = true;
  head_released_ = true;
  window_.start = window_.parsed;
  phase_ = Phase::Replying;
  if (request_complete_) {
    startNextRequest();
    return;
  }
  parseInput();
}

// ---- closing ----

void ClientConnection::startDrain() {
  if (closing_) {
    return;
  }
  if (phase_ == Phase::Idle) {
    close();
    return;
  }
  if (!response_started_) {
    close_after_response_ = true;
  }
}

void ClientConnection::closeGracefully() {
  if (closing_ || phase_ == Phase::Closing) {
    return;
  }
  phase_ = Phase::Closing;
  flushToClient();
  if (upstream_ != nullptr) {
    UpstreamConnection* upstream = upstream_;
    upstream_ = nullptr;
    upstream->detach();
  }
  if (closing_) {
    return;
  }
  if (client_eof_) {
    // The client is gone for reading; the queued writes still complete before the close.
    shutdown_started_ = true;
  }

  // Shut down our side after the queued writes, keep reading (and dropping) until EOF.
  window_.start = window_.parsed = window_.end;
  window_.releaseIfEmpty(worker_.buffers());
  read_blocked_by_upstream_ = false;
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&tcp_), onShutdown) != 0) {
    close();
    return;
  }
  shutdown_started_ = true;
  armTimer(TimerPurpose::Stall, worker_.config().timeouts.client_idle_ms);
  updateReading();
}

void ClientConnection::onShutdown(uv_shutdown_t* req, int status) noexcept {
  auto* self = static_cast<ClientConnection*>(req->data);
  if (self->closing_) {
    return;
  }
  if (status != 0 || self->client_eof_) {
    self->close();
    return;
  }
  self->armTimer(TimerPurpose::Linger, kLingerMs);
}

void ClientConnection::abort() { close(); }

void ClientConnection::close() {
  if (closing_) {
    return;
  }
  closing_ = true;
  phase_ = Phase::Closing;
  worker_.cancelUpstreamFlush(this);
  endRequest(response_status_, /*aborted=*/true);  // only when a request was cut short
  if (pending_id_ != 0) {
    uint64_t id = pending_id_;
    pending_id_ = 0;
    worker_.unregisterPending(id);
    worker_.filter().onCancelled(id);
  }
  if (upstream_ != nullptr) {
    UpstreamConnection* upstream = upstream_;
    upstream_ = nullptr;
    upstream->detach();
  }
  if (client_batch_ != nullptr) {
    worker_.writes().release(client_batch_);
    client_batch_ = nullptr;
  }
  dropUpstreamBatch();
  releaseUpstreamHead();
  window_.reset(worker_.buffers());
  scratch_.reset(worker_.buffers());
  timer_.disarm();
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onHandleClosed);
  uv_close(timer_.handle(), onHandleClosed);
}

void ClientConnection::onHandleClosed(uv_handle_t* handle) noexcept {
  auto* self = static_cast<ClientConnection*>(handle->data);
  if (--self->open_handles_ == 0) {
    self->worker_.onClientClosed(self);
  }
}

// ---- reading control and timers ----

void ClientConnection::updateReading() {
  if (closing_) {
    return;
  }
  bool buffer_full = !parsingAllowed() && phase_ != Phase::Closing && phase_ != Phase::Tunnel &&
                     window_.live() >= kMaxBufferedBytes;
  bool want = !client_eof_ && !read_blocked_by_upstream_ && !buffer_full;
  if (want == reading_) {
    return;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want) {
    reading_ = uv_read_start(stream, onAlloc, onRead) == 0;
  } else {
    uv_read_stop(stream);
    reading_ = false;
  }
}

void ClientConnection::armTimer(TimerPurpose purpose, uint64_t timeout_ms) {
  timer_purpose_ = purpose;
  if (purpose == TimerPurpose::None || timeout_ms == 0) {
    timer_.disarm();
    return;
  }
  timer_.arm(timeout_ms);
}

void ClientConnection::onTimer(void* owner) noexcept {
  static_cast<ClientConnection*>(owner)->handleTimer();
}

void ClientConnection::handleTimer() {
  switch (timer_purpose_) {
    case TimerPurpose::None:
      return;
    case TimerPurpose::Idle:
    case TimerPurpose::Linger:
      close();
      return;
    case TimerPurpose::Head:
      sendProxyError(ProxyError::RequestTimeout, "the request head did not arrive in time");
      return;
    case TimerPurpose::Stall:
      // Waiting for the upstream is timed by the upstream connection.
      if (phase_ == Phase::Connecting ||
          (phase_ == Phase::Forwarding && request_complete_ && !response_started_)) {
        armTimer(TimerPurpose::Stall, worker_.config().timeouts.client_idle_ms);
        return;
      }
      abort();
      return;
  }
}

// ---- the end of a request: metrics and the access log ----

// The client's id when it sent exactly one well-formed X-Request-Id, else a fresh one.
void ClientConnection::adoptRequestId(size_t count, std::string_view value) {
  if (count == 1 && observe::isValidRequestId(value)) {
    std::memcpy(request_id_, value.data(), value.size());
    request_id_length_ = static_cast<uint8_t>(value.size());
    return;
  }
  worker_.requestIds().next(request_id_);
  request_id_length_ = static_cast<uint8_t>(observe::kRequestIdLength);
}

std::string_view ClientConnection::requestId() {
  if (request_id_length_ == 0) {
    adoptRequestId(0, {});  // a request refused before its fields were read
  }
  return std::string_view(request_id_, request_id_length_);
}

// Keeps the target as received (the head's bytes are reused once it is forwarded).
void ClientConnection::captureLogTarget() {
  if (log_target_taken_ || worker_.accessLog() == nullptr || head_released_ ||
      url_length_ == 0 || window_.buffer == nullptr) {
    return;
  }
  std::string_view target = spanText(url_offset_, url_length_);
  log_target_.assign(target.substr(0, kMaxLoggedTarget + 1));
  log_target_taken_ = true;
}

std::string_view ClientConnection::protocolText(char* out) const {
  if (!head_done_) {
    return {};
  }
  if (parser_.http_major == 1 && parser_.http_minor <= 1) {
    return parser_.http_minor == 1 ? "HTTP/1.1" : "HTTP/1.0";
  }
  std::memcpy(out, "HTTP/x.y", 8);
  out[5] = static_cast<char>('0' + parser_.http_major % 10);
  out[7] = static_cast<char>('0' + parser_.http_minor % 10);
  return std::string_view(out, 8);
}

// Called once per request that began: when its response ended (aborted = false) or when
// the connection closed first. `end_ns` 0 reads the clock.
void ClientConnection::endRequest(int status, bool aborted, uint64_t end_ns) {
  if (!request_begun_) {
    return;
  }
  request_begun_ = false;
  WorkerStats& stats = worker_.stats();
  stats.countResponse(status);
  if (end_ns == 0) {
    end_ns = monotonicNanos();
  }
  if (request_start_ns_ != 0 && !aborted) {
    stats.request_duration.observeNanos(end_ns - request_start_ns_);
  }
  if (worker_.accessLog() != nullptr) {
    writeAccessLine(status, aborted, end_ns);
  }
}

void ClientConnection::writeAccessLine(int status, bool aborted, uint64_t end_ns) {
  AccessLogEntry entry;
  char protocol[8];
  entry.time = worker_.logClock().format(end_ns);
  entry.request_id = requestId();
  entry.client = std::string_view(peer_address_, peer_address_length_);
  std::string& path = worker_.logPath();
  path.clear();
  if (log_target_taken_) {
    entry.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
    appendLoggedTarget(path, log_target_, worker_.redactedQueryParams());
    entry.path = path;
    entry.protocol = protocolText(protocol);
  }
  entry.status = status;
  if (request_start_ns_ != 0) {
    entry.duration_ms = static_cast<double>(end_ns - request_start_ns_) / 1e6;
  }
  if (upstream_timed_) {
    entry.upstream_ms = static_cast<double>(upstream_ns_) / 1e6;
  }
  entry.bytes_in = body_bytes_;
  entry.bytes_out = response_bytes_;
  entry.route = note_route_;
  entry.provider = note_provider_;
  entry.subject = note_subject_;
  entry.outcome = note_outcome_;
  entry.reason = note_reason_;
  entry.aborted = aborted;

  std::string& line = worker_.logLine();
  line.clear();
  formatAccessLine(line, entry);
  worker_.accessLog()->write(line);  // a full buffer drops (and counts) the line
}

// ---- RequestContext ----

std::string_view RequestContext::method() const {
  return llhttp_method_name(static_cast<llhttp_method_t>(connection_.parser_.method));
}

std::string_view RequestContext::target() const {
  if (!connection_.target_override_.empty()) {
    return connection_.target_override_;
  }
  return connection_.spanText(connection_.url_offset_, connection_.url_length_);
}

int RequestContext::httpMajor() const { return connection_.parser_.http_major; }
int RequestContext::httpMinor() const { return connection_.parser_.http_minor; }

std::string_view RequestContext::clientAddress() const {
  return std::string_view(connection_.peer_address_, connection_.peer_address_length_);
}

const sockaddr* RequestContext::clientSocketAddress() const {
  return reinterpret_cast<const sockaddr*>(&connection_.peer_);
}

size_t RequestContext::headerCount() const { return connection_.headers_.size(); }

HeaderField RequestContext::header(size_t index) const {
  const auto& span = connection_.headers_[index];
  return HeaderField{connection_.spanText(span.name_offset, span.name_length),
                     connection_.spanText(span.value_offset, span.value_length)};
}

bool RequestContext::isRemoved(size_t index) const { return connection_.headers_[index].removed; }

bool RequestContext::findHeader(std::string_view name, std::string_view* value) const {
  for (size_t i = 0; i < headerCount(); ++i) {
    HeaderField field = header(i);
    if (!isRemoved(i) && equalsIgnoreCase(field.name, name)) {
      *value = field.value;
      return true;
    }
  }
  return false;
}

bool RequestContext::removeHeader(size_t index) {
  if (index >= headerCount() || isProxyOwned(connection_.headers_[index].kind)) {
    return false;
  }
  connection_.headers_[index].removed = true;
  return true;
}

size_t RequestContext::removeHeaders(std::string_view name) {
  size_t removed = 0;
  for (size_t i = 0; i < headerCount(); ++i) {
    if (!isRemoved(i) && equalsIgnoreCase(header(i).name, name) && removeHeader(i)) {
      ++removed;
    }
  }
  return removed;
}

bool RequestContext::addHeader(std::string_view name, std::string_view value) {
  if (!isValidFieldName(name) || !isValidFieldValue(value) || isProxyOwned(classifyHeader(name))) {
    return false;
  }
  auto offset = static_cast<uint32_t>(connection_.added_text_.size());
  connection_.added_text_.append(name);
  connection_.added_text_.append(value);
  connection_.added_headers_.push_back(ClientConnection::AddedHeader{
      offset, static_cast<uint32_t>(name.size()), static_cast<uint32_t>(value.size())});
  return true;
}

bool RequestContext::setTarget(std::string_view target) {
  if (!isValidOriginTarget(target)) {
    return false;
  }
  connection_.target_override_.assign(target);
  return true;
}

void RequestContext::note(const FilterNote& note) {
  if (connection_.worker_.accessLog() == nullptr) {
    return;  // only the access line reads the notes
  }
  connection_.note_route_.assign(note.route);
  connection_.note_provider_.assign(note.provider);
  connection_.note_subject_.assign(note.subject);
  connection_.note_outcome_.assign(note.outcome);
  connection_.note_reason_.assign(note.reason);
}

LocalReply& RequestContext::respond(int status) {
  LocalReply& reply = connection_.worker_.localReply();
  reply.clear();
  reply.status = status;
  return reply;
}

PendingRequest RequestContext::suspend() {
  if (connection_.pending_id_ == 0) {
    connection_.pending_id_ = connection_.worker_.registerPending(&connection_);
  }
  return PendingRequest(&connection_.worker_, connection_.pending_id_);
}

}  // namespace jwtgate::proxy

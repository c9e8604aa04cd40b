// One client connection and the request it is serving: parses requests with llhttp (strict
// mode), checks their framing, asks the filter, re-serialises the head for the upstream,
// streams bodies both ways and answers pipelined requests one at a time, in order.
//
// Lifetime: owned by its worker; close() is idempotent and the object is freed in the last
// close callback. Never closed or freed inside an llhttp callback: callbacks pause the
// parser and the code after llhttp_execute acts.
#pragma once

#include <llhttp.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "observe/request_id.h"
#include "proxy/http_headers.h"
#include "proxy/intrusive_list.h"
#include "proxy/io_buffer.h"
#include "proxy/lazy_timer.h"
#include "proxy/local_response.h"
#include "proxy/request_filter.h"
#include "proxy/trailer_fields.h"
#include "proxy/upstream_connection.h"

namespace jwtgate::proxy {

class Worker;
struct WriteRequest;

class ClientConnection {
 public:
  explicit ClientConnection(Worker& worker);
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Takes over an accepted socket and starts reading. On failure the fd is closed and the
  // connection closes itself (the worker's onClientClosed follows).
  void start(int fd);

  // Idempotent; frees the connection once libuv has closed its handles.
  void close();

  // Drain: closes now when idle, otherwise after the current response.
  void startDrain();

  // ---- called by the UpstreamConnection serving this client ----
  void onUpstreamConnected();
  // The upstream connection is gone (its handles are closed). Before the response started
  // the client gets a proxy error (or a retry); after, the client connection is closed.
  void onUpstreamFailed(UpstreamFailure failure);
  // Returns 0 (body follows), 1 (no body: HEAD, 1xx, 204, 304, 101) or -1 (invalid).
  int onResponseHead(UpstreamConnection& upstream);
  void onResponseBody(IoBuffer* buffer, const char* data, size_t length);
  // Where the response's trailer fields go (forwarded after the last chunk when the body is
  // re-sent chunked).
  TrailerFields& trailers();
  void onResponseComplete();
  // Bytes after a 101 head, and later tunnel traffic from the upstream.
  void onTunnelData(IoBuffer* buffer, const char* data, size_t length);
  void onTunnelUpstreamEof();
  void flushToClient();
  void onUpstreamWriteDone(size_t queued_bytes);

  // ---- used by RequestContext and PendingRequest ----
  RequestContext& filterContext() { return filter_context_; }
  void resumeFilter(FilterVerdict verdict);

  // Sends what was queued for the upstream (the worker calls it once per loop turn).
  void flushToUpstream();

  ListLink<ClientConnection> worker_link_;
  ListLink<ClientConnection> flush_link_;

 private:
  friend class RequestContext;

  enum class Phase : uint8_t {
    Idle,        // between requests (or before the first)
    Head,        // receiving a request head
    Filtering,   // the filter suspended the request
    Connecting,  // waiting for an upstream connection; nothing sent yet
    Forwarding,  // head sent upstream; bodies streaming
    Replying,    // a proxy-generated response is going out; the request body is discarded
    Tunnel,      // after 101: bytes both ways
    Closing,     // response done; shutting down, discarding input until EOF or the timer
  };

  enum class TimerPurpose : uint8_t { None, Idle, Head, Stall, Linger };

  // Why llhttp was paused by one of our callbacks (HPE_PAUSED or HPE_USER).
  enum class ParseStop : uint8_t {
    None,
    HeadComplete,
    MessageComplete,
    TooManyHeaders,
    EmptyFieldName,
    ObsFold,
    BodyTooLarge,
    OutOfMemory,
  };

  struct HeaderSpan {
    uint32_t name_offset;  // relative to window_.start (the message start)
    uint32_t name_length;
    uint32_t value_offset;
    uint32_t value_length;
    HeaderKind kind;
    bool removed;
  };

  struct AddedHeader {
    uint32_t name_offset;  // into added_text_
    uint32_t name_length;
    uint32_t value_length;
  };

  // llhttp trampolines.
  static int onMessageBegin(llhttp_t* parser) noexcept;
  static int onUrl(llhttp_t* parser, const char* at, size_t length) noexcept;
  static int onHeaderField(llhttp_t* parser, const char* at, size_t length) noexcept;
  static int onHeaderFieldComplete(llhttp_t* parser) noexcept;
  static int onHeaderValue(llhttp_t* parser, const char* at, size_t length) noexcept;
  static int onHeaderValueComplete(llhttp_t* parser) noexcept;
  static int onHeadersComplete(llhttp_t* parser) noexcept;
  static int onBody(llhttp_t* parser, const char* at, size_t length) noexcept;
  static int onMessageComplete(llhttp_t* parser) noexcept;
  static const llhttp_settings_t& parserSettings();

  // libuv trampolines.
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void onWriteDone(uv_write_t* req, int status) noexcept;
  static void onShutdown(uv_shutdown_t* req, int status) noexcept;
  static void onTimer(void* owner) noexcept;
  static void onHandleClosed(uv_handle_t* handle) noexcept;

  // Reading and parsing.
  void handleRead(ssize_t nread);
  void handleEof();
  bool parsingAllowed() const;
  void parseInput();
  bool handleParseStop(llhttp_errno_t status);
  void onRequestComplete();
  int countTrailerBytes(size_t length);
  uint32_t offsetFromStart(const char* at) const;
  std::string_view spanText(uint32_t offset, uint32_t length) const;

  // The request head: checks, filter, forwarding.
  void processHead();
  bool validateHead();
  bool validateFields();
  void addUpgradeOffer(std::string_view value);
  bool offeredUpgrade(std::string_view element) const;
  bool acceptsSwitch(UpstreamConnection& upstream) const;
  bool validateTarget();
  void runFilter();
  void applyFilterVerdict(FilterVerdict verdict);
  void forwardRequest();
  size_t upstreamHeadBound() const;
  bool buildUpstreamHead();
  void releaseUpstreamHead();
  void sendHeadUpstream();
  bool queueBody(const char* data, size_t length);
  void retryOnFreshConnection();

  // The response and the end of an exchange.
  void writeResponseHead(UpstreamConnection& upstream, int status);
  void finishExchange();
  void releaseUpstream(bool reusable);
  // Releases the batch queued for the upstream; true when it held bytes.
  bool dropUpstreamBatch();
  void resetRequestState();
  void startNextRequest();
  void startTunnel();

  // Locally generated responses and closing.
  void sendProxyError(ProxyError error, std::string_view message);
  void sendLocalReply();
  void finishLocalResponse(bool close_connection);
  void queueToClient(IoBuffer* buffer, const char* data, size_t length);
  void queueLastChunk(WriteRequest* batch, TrailerFields* trailers);
  WriteRequest* clientBatch();
  WriteRequest* upstreamBatch();
  void closeGracefully();
  void abort();

  // The end of a request: metrics and the access log line (once per request).
  std::string_view requestId();
  void adoptRequestId(size_t count, std::string_view value);
  void captureLogTarget();
  std::string_view protocolText(char* out) const;
  void endRequest(int status, bool aborted, uint64_t end_ns = 0);
  void writeAccessLine(int status, bool aborted, uint64_t end_ns);

  // Reading control and timers.
  void updateReading();
  void armTimer(TimerPurpose purpose, uint64_t timeout_ms);
  void handleTimer();

  Worker& worker_;
  uv_tcp_t tcp_;
  LazyTimer timer_;
  uv_shutdown_t shutdown_req_;
  llhttp_t parser_;
  RequestContext filter_context_;

  ReadWindow window_;
  ScratchSpace scratch_;
  WriteRequest* client_batch_ = nullptr;    // pieces queued for the client, not yet written
  WriteRequest* upstream_batch_ = nullptr;  // pieces queued for the upstream
  UpstreamConnection* upstream_ = nullptr;

  // The parsed request head (offsets relative to window_.start).
  std::vector<HeaderSpan> headers_;
  std::vector<AddedHeader> added_headers_;
  std::string added_text_;
  std::string target_override_;
  // The trailer section of a chunked response, made on its first field (they are rare).
  // Request trailers are dropped (see countTrailerBytes).
  std::unique_ptr<TrailerFields> response_trailers_;
  // The allowed elements of the request's Upgrade fields, joined with ", ".
  std::string upgrade_offer_;
  uint32_t url_offset_ = 0;
  uint32_t url_length_ = 0;
  bool in_field_ = false;
  bool in_value_ = false;
  bool head_done_ = false;
  bool head_released_ = false;  // the head was processed; its bytes are no longer needed
  bool in_parse_ = false;
  bool paused_for_upgrade_ = false;  // llhttp stopped with HPE_PAUSED_UPGRADE
  uint8_t client_minor_ = 1;

  // The upstream copy of the head, kept for one retry.
  IoBuffer* upstream_head_buffer_ = nullptr;
  const char* upstream_head_ = nullptr;
  uint32_t upstream_head_length_ = 0;

  uint64_t body_bytes_ = 0;
  uint64_t pending_id_ = 0;
  ParseStop parse_stop_ = ParseStop::None;
  Phase phase_ = Phase::Idle;
  TimerPurpose timer_purpose_ = TimerPurpose::None;
  uint8_t open_handles_ = 0;

  // Request facts, set when the head is processed.
  bool keep_alive_ = false;
  bool close_after_response_ = false;
  bool expect_continue_ = false;
  bool request_chunked_ = false;
  bool request_has_body_ = false;
  bool request_complete_ = false;
  bool head_request_ = false;
  bool upgrade_requested_ = false;
  bool retried_ = false;
  bool discard_body_ = false;
  bool upstream_reused_ = false;
  bool te_trailers_ = false;  // the client accepts trailers (TE: trailers)

  // What the filter noted for the access log (RequestContext::note); cleared per request,
  // capacity kept so that a warm connection does not allocate.
  std::string note_route_;
  std::string note_provider_;
  std::string note_subject_;
  std::string note_outcome_;
  std::string note_reason_;

  // Timings, size and identity of the current request, for metrics and the access log.
  uint64_t request_start_ns_ = 0;   // the head was parsed; 0 before
  uint64_t upstream_start_ns_ = 0;  // the head was sent upstream; 0 when not (yet)
  uint64_t upstream_ns_ = 0;        // the upstream exchange's duration, once it ended
  uint64_t response_bytes_ = 0;     // head and body bytes queued for the client
  int response_status_ = 0;         // the final (or 101) status sent, 0 before
  bool request_begun_ = false;      // bytes of a request arrived: a log line is owed
  bool upstream_timed_ = false;     // upstream_ns_ is set
  bool filter_waited_ = false;      // the filter suspended this request
  bool log_target_taken_ = false;   // log_target_ holds the target as received
  uint8_t request_id_length_ = 0;
  char request_id_[observe::kMaxRequestIdLength];
  std::string log_target_;  // up to kMaxLoggedTarget + 1 bytes; only with the access log

  // Response facts.
  bool response_started_ = false;
  bool response_chunked_ = false;      // re-encoded as chunked for the client
  bool response_until_close_ = false;  // the client connection ends the body
  bool response_complete_ = false;
  bool tunnel_accepted_ = false;

  // Connection state.
  bool closing_ = false;
  bool reading_ = false;
  bool read_blocked_by_upstream_ = false;
  bool upstream_blocked_ = false;  // we stopped the upstream's reading (client is full)
  bool tunnel_upstream_eof_ = false;
  bool client_eof_ = false;
  bool shutdown_started_ = false;
  char peer_address_[46] = {};
  uint8_t peer_address_length_ = 0;
  sockaddr_storage peer_{};
};

}  // namespace jwtgate::proxy

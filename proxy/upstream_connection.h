// One connection to the upstream (TCP or Unix socket): connects, sends what its client
// queues, parses the response with llhttp and hands head, body and end to the client. Kept
// in its worker's pool between requests.
//
// Lifetime: owned by the worker's UpstreamPool; close() is idempotent and the object is freed
// in the last close callback. A client that goes away detaches first.
#pragma once

#include <llhttp.h>
#include <uv.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "proxy/http_headers.h"
#include "proxy/intrusive_list.h"
#include "proxy/io_buffer.h"
#include "proxy/lazy_timer.h"

namespace jwtgate::proxy {

class ClientConnection;
class Worker;
struct WriteRequest;

// Why an upstream exchange ended before a usable response head arrived.
enum class UpstreamFailure : uint8_t {
  ConnectRefused,   // 502
  ConnectFailed,    // 502 (unreachable, reset during connect, no memory)
  ConnectTimeout,   // 503
  ResponseTimeout,  // 504
  Closed,           // EOF or reset before a response byte: retried when safe, else 502
  InvalidResponse,  // 502
};

class UpstreamConnection {
 public:
  enum class State : uint8_t { Connecting, Idle, Busy, Tunnel, Closed };

  explicit UpstreamConnection(Worker& worker);
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  // Starts connecting for `client`. Returns 0, or a libuv error when the attempt failed at
  // once (the connection is then closing and the client is not called back).
  int connect(ClientConnection* client);

  // Takes an idle pooled connection for `client`.
  void attach(ClientConnection* client);

  // Prepares for the response to a request with this method.
  void expectResponse(bool head_request);

  // (Re)starts the wait for the first response byte (timeouts.upstream_response): called
  // when the head and each piece of the request body have been queued.
  void requestProgress();

  // The client no longer wants this exchange (it closed, or answered itself).
  void detach();

  // Returns to the pool when the last response ended cleanly; otherwise closes.
  void finish(bool reusable);

  // Sends a write built by the client. Takes ownership of `request`. Returns false when the
  // write failed at once (the failure is reported to the client later, from the loop).
  bool write(WriteRequest* request);

  // Flow control from the client side: stop reading while the client is full.
  void setReadBlocked(bool blocked);

  // Switches to raw byte forwarding (after a 101 response).
  void startTunnel();
  void shutdownWrite();

  void close();

  State state() const { return state_; }
  bool reused() const { return reused_; }
  bool responseStarted() const { return response_started_; }
  bool messageNeedsEof() const;
  bool responseKeepAlive() const { return response_keep_alive_; }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&handle_); }

  // ---- the response head, for ClientConnection::onResponseHead (views valid in that call)
  int status() const { return parser_.status_code; }
  std::string_view reason() const;
  size_t headerCount() const { return headers_.size(); }
  std::string_view headerName(size_t index) const;
  std::string_view headerValue(size_t index) const;
  HeaderKind headerKind(size_t index) const { return headers_[index].kind; }
  bool chunked() const { return (parser_.flags & F_CHUNKED) != 0; }
  bool hasContentLength() const { return (parser_.flags & F_CONTENT_LENGTH) != 0; }
  uint64_t contentLength() const { return parser_.content_length; }
  int httpMinor() const { return parser_.http_minor; }

  ListLink<UpstreamConnection> all_link_;
  ListLink<UpstreamConnection> idle_link_;

 private:
  enum class TimerPurpose : uint8_t { None, Connect, Response, Stall, Idle };

  struct HeaderSpan {
    uint32_t name_offset;  // relative to window_.start (the message start)
    uint32_t name_length;
    uint32_t value_offset;
    uint32_t value_length;
    HeaderKind kind;
  };

  static int onMessageBegin(llhttp_t* parser) noexcept;
  static int onStatus(llhttp_t* parser, const char* at, size_t length) noexcept;
  static int onHeaderField(llhttp_t* parser, const char* at, size_t length) noexcept;
  static int onHeaderFieldComplete(llhttp_t* parser) noexcept;
  static int onHeaderValue(llhttp_t* parser, const char* at, size_t length) noexcept;
  static int onHeaderValueComplete(llhttp_t* parser) noexcept;
  static int onHeadersComplete(llhttp_t* parser) noexcept;
  static int onBody(llhttp_t* parser, const char* at, size_t length) noexcept;
  static int onMessageComplete(llhttp_t* parser) noexcept;
  static const llhttp_settings_t& parserSettings();

  static void onConnect(uv_connect_t* req, int status) noexcept;
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void onWriteDone(uv_write_t* req, int status) noexcept;
  static void onShutdown(uv_shutdown_t* req, int status) noexcept;
  static void onTimer(void* owner) noexcept;
  static void onHandleClosed(uv_handle_t* handle) noexcept;

  void handleRead(ssize_t nread);
  void handleReadEnd(ssize_t status);
  void parseResponse();
  void fail(UpstreamFailure reason);
  uint32_t offsetFromStart(const char* at) const;
  void armTimer(TimerPurpose purpose, uint64_t timeout_ms);
  void handleTimer();
  void updateReading();
  void resetResponseState();

  Worker& worker_;
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } handle_;
  uv_connect_t connect_req_;
  uv_shutdown_t shutdown_req_;
  LazyTimer timer_;
  llhttp_t parser_;
  ReadWindow window_;
  ClientConnection* client_ = nullptr;

  std::vector<HeaderSpan> headers_;
  uint32_t reason_offset_ = 0;
  uint32_t reason_length_ = 0;
  bool in_field_ = false;
  bool in_value_ = false;
  bool head_done_ = false;

  State state_ = State::Connecting;
  TimerPurpose timer_purpose_ = TimerPurpose::None;
  uint8_t open_handles_ = 0;
  bool closing_ = false;
  bool reading_ = false;
  bool read_blocked_ = false;
  bool reused_ = false;
  bool head_request_ = false;
  bool response_started_ = false;
  bool response_keep_alive_ = false;
  bool message_complete_ = false;
  bool interim_ = false;
  bool upgraded_ = false;
  bool invalid_ = false;
  UpstreamFailure failure_ = UpstreamFailure::Closed;
};

}  // namespace jwtgate::proxy

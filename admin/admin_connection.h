// One admin client connection: reads and parses requests with llhttp (strict), answers them
// in order through the admin routes, enforces the head limit and timeouts, and closes.
#pragma once

#include <llhttp.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace jwtgate::admin {

class AdminServer;

// Owned by itself: freed in the last close callback of its two handles. While open it is
// registered with its server; close() (or the server's close) unregisters it at once, so
// the server may be gone before the close callbacks run.
class AdminConnection {
 public:
  explicit AdminConnection(AdminServer& server);
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;

  // Accepts the pending client of `listener`; on failure the connection closes itself.
  void start(uv_stream_t* listener);

  // Closes at once (queued responses are dropped); idempotent.
  void close();

  // The server is closing: forget it, then close.
  void detach();

  // Between requests: nothing being parsed, no response queued or being written (also after
  // the last response, while lingering for the client's EOF). Such a connection may be
  // closed to make room for a new one.
  bool idle() const;

  // When it last read or finished writing, on the server's activity clock: among idle
  // connections, the smallest value has been idle the longest.
  uint64_t lastActivity() const { return last_activity_; }

 private:
  enum class Phase : uint8_t {
    Reading,    // requests are parsed and answered
    Finishing,  // the last response is queued: write it, send FIN, drain input, close
    Closed,
  };
  enum class TimerPurpose : uint8_t { Header, Idle, Linger };
  enum class ParseStop : uint8_t { None, MessageComplete, BodyRefused };

  ~AdminConnection() = default;

  static const llhttp_settings_t& parserSettings();
  static int onMessageBegin(llhttp_t* parser) noexcept;
  static int onUrl(llhttp_t* parser, const char* at, size_t length) noexcept;
  static int onHeadersComplete(llhttp_t* parser) noexcept;
  static int onMessageComplete(llhttp_t* parser) noexcept;

  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void onWrite(uv_write_t* req, int status) noexcept;
  static void onShutdown(uv_shutdown_t* req, int status) noexcept;
  static void onTimer(uv_timer_t* timer) noexcept;
  static void onHandleClosed(uv_handle_t* handle) noexcept;

  void handleRead(ssize_t nread, const char* data);
  void handleEof(ssize_t nread);
  void parseInput();
  bool handleParseStop(llhttp_errno_t status);
  void answerRequest();
  void answerError(int status, bool allow_header);
  void send(std::string bytes);
  void finish();
  void handleWriteDone();
  void handleShutdown(int status);
  void handleTimer();
  void armTimer(TimerPurpose purpose, uint64_t timeout_ms);
  void updateReading();
  void noteActivity();

  AdminServer* server_;  // null once detached or closed
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_shutdown_t shutdown_;
  int open_handles_ = 0;
  Phase phase_ = Phase::Reading;
  TimerPurpose timer_purpose_ = TimerPurpose::Header;
  ParseStop parse_stop_ = ParseStop::None;

  llhttp_t parser_;
  std::string input_;      // received bytes not yet parsed
  std::string target_;     // the current request's target (bounded by the head limit)
  size_t head_bytes_ = 0;  // bytes of the current request parsed so far
  bool upgrade_ = false;   // the current request asked for a protocol upgrade
  bool in_parse_ = false;
  bool reading_ = false;
  size_t queued_bytes_ = 0;     // response bytes held until their write callbacks
  uint64_t last_activity_ = 0;
  bool write_blocked_ = false;  // the client does not read: parsing waits for the writes
  bool eof_ = false;
  bool shutdown_done_ = false;

  static constexpr size_t kReadSize = 16 * 1024;
  char read_buffer_[kReadSize];
};

}  // namespace jwtgate::admin

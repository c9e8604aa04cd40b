// The access log's pieces that do not depend on a connection: the JSON line of one request,
// the logged form of a request target (token query parameters redacted, long ones cut), and
// the wall-clock text of a line derived from the monotonic clock the timings already read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace jwtgate::proxy {

// Targets longer than this are cut (before redaction) and end with "…".
inline constexpr size_t kMaxLoggedTarget = 2048;
inline constexpr std::string_view kRedactedValue = "[redacted]";

// Appends `target` to `out` with the value of every query parameter whose name, after
// percent- and '+'-decoding, equals one of `redacted` or of a built-in list of credential
// names (access_token, token, jwt, api_key, password, code, ...), ASCII case-insensitively
// (so it redacts at least what the auth filter reads as a token), replaced by "[redacted]".
// Anything else shaped like a compact JWT ("eyJ<10+>.<10+>[.…]" between non-base64url
// characters), in the path or any parameter, is replaced by "[redacted]" too.
void appendLoggedTarget(std::string& out, std::string_view target,
                        std::span<const std::string> redacted);

// What one line says. Views are only read during formatAccessLine; empty strings and
// negative times are left out of the line.
struct AccessLogEntry {
  std::string_view time;        // "2026-12-04T18:30:00.123Z"
  std::string_view request_id;  // as forwarded
  std::string_view client;      // numeric address
  std::string_view method;      // empty when the request line was not parsed
  std::string_view path;        // already passed through appendLoggedTarget
  std::string_view protocol;    // "HTTP/1.1"
  int status = 0;               // 0: no response was sent
  double duration_ms = -1;
  double upstream_ms = -1;  // < 0: nothing went upstream
  uint64_t bytes_in = 0;    // request body bytes received
  uint64_t bytes_out = 0;   // response body bytes sent
  std::string_view route;
  std::string_view provider;
  std::string_view subject;
  std::string_view outcome;
  std::string_view reason;
  bool aborted = false;  // the request ended without a complete response
};

// Appends one JSON object and '\n' to `out`, fields in the documented order.
void formatAccessLine(std::string& out, const AccessLogEntry& entry);

// Turns CLOCK_MONOTONIC nanoseconds into UTC text without reading the clock again: the
// offset to CLOCK_REALTIME is taken by sync() (at start and once a second), and the text of
// the current second is cached. One per worker thread.
class LogClock {
 public:
  static constexpr size_t kTextLength = 24;  // "2026-12-04T18:30:00.123Z"

  LogClock() { sync(); }

  void sync();

  // The text for `monotonic_ns`; the view is valid until the next call.
  std::string_view format(uint64_t monotonic_ns);

 private:
  int64_t offset_ns_ = 0;  // realtime - monotonic
  int64_t cached_second_ = -1;
  char text_[kTextLength + 1] = {};
};

}  // namespace jwtgate::proxy

// Leveled diagnostics for every layer: "jwtgate: <level>: <text>\n" on stderr, one write() per
// line. Lifecycle at info, degraded service at warn (rate-limited by the caller), fatal at
// error, per-request decisions at debug. Never pass tokens, header values or query strings.
#pragma once

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <optional>
#include <string_view>

#include "observe/line_writer.h"

namespace jwtgate::observe {

enum class Level : uint8_t { Debug, Info, Warn, Error };

namespace detail {
// The lowest level that is written; read with relaxed loads on every log call.
inline std::atomic<uint8_t> min_level{static_cast<uint8_t>(Level::Info)};
}  // namespace detail

// Sets the lowest level written (default Info). Thread-safe: a relaxed atomic, so other
// threads see the change at their next log call.
inline void setLevel(Level level) {
  detail::min_level.store(static_cast<uint8_t>(level), std::memory_order_relaxed);
}

inline Level currentLevel() {
  return static_cast<Level>(detail::min_level.load(std::memory_order_relaxed));
}

// True when a line of `level` would be written; check it before formatting costly text.
inline bool enabled(Level level) {
  return static_cast<uint8_t>(level) >= detail::min_level.load(std::memory_order_relaxed);
}

// Formats and writes one line when `level` is enabled. The text is cut at kMaxLogText bytes
// and every control byte in it (except tab) becomes '?', so a line stays one line.
void log(Level level, const char* format, ...) __attribute__((format(printf, 2, 3)));
void vlog(Level level, const char* format, va_list args) __attribute__((format(printf, 2, 0)));

// Writes already formed text (same cut and screening as log()).
void logText(Level level, std::string_view text);

inline constexpr size_t kMaxLogText = 2048;

// Where diagnostics go. By default (nullptr) each line is one synchronous write() to fd 2,
// retried on EINTR; it never waits on EAGAIN (a non-blocking stderr that is full loses the
// line). With a channel, lines are appended to it under a process-wide mutex (the channel
// is single-producer; the mutex makes the many logging threads one producer at a time), so
// they are written by that channel's LineWriter, in order and never split by access-log
// lines on the same fd; a full channel drops the line (counted by the channel).
// The channel must stay valid until routeDiagnostics(nullptr) returns: call that before
// LineWriter::stop(). Thread-safe.
void routeDiagnostics(LineWriter::Channel* channel);

// "debug" | "info" | "warn" | "error" (exactly, lower case); nullopt otherwise.
std::optional<Level> parseLevel(std::string_view text);

// The lower-case name above; the returned view is static.
std::string_view toString(Level level);

// Returns true at most once per `interval_ms` for one `last_ms` slot (state held by the
// caller, one thread per slot), so warnings on a hot failure path stay rate-limited.
// The first call always allows.
bool rateLimitAllows(uint64_t* last_ms, uint64_t now_ms, uint64_t interval_ms);

}  // namespace jwtgate::observe

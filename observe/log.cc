// Diagnostics: format, screen and write one line per call.
#include "observe/log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <mutex>

namespace jwtgate::observe {
namespace {

// The routed channel; loaded without the lock to keep the default path lock-free.
std::atomic<LineWriter::Channel*> routed_channel{nullptr};
std::mutex& routeMutex() {
  static std::mutex mutex;
  return mutex;
}

constexpr std::string_view kPrefix = "jwtgate: ";

// A newline or another control byte in the text would split or forge a line.
void screen(char* text, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7F) {
      text[i] = '?';
    }
  }
}

void writeAll(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(STDERR_FILENO, data, size);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;  // nothing sensible to do when stderr itself fails
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// Builds "jwtgate: <level>: " into line and returns its length.
size_t writePrefix(char* line, Level level) {
  const std::string_view name = toString(level);
  size_t at = 0;
  kPrefix.copy(line, kPrefix.size());
  at += kPrefix.size();
  name.copy(line + at, name.size());
  at += name.size();
  line[at++] = ':';
  line[at++] = ' ';
  return at;
}

void emit(char* line, size_t size) {
  line[size++] = '\n';
  if (routed_channel.load(std::memory_order_acquire) != nullptr) {
    std::lock_guard lock(routeMutex());
    LineWriter::Channel* channel = routed_channel.load(std::memory_order_relaxed);
    if (channel != nullptr) {
      channel->write(std::string_view(line, size));
      return;
    }
  }
  writeAll(line, size);
}

constexpr size_t kMaxPrefix = 32;

}  // namespace

void vlog(Level level, const char* format, va_list args) {
  if (!enabled(level)) {
    return;
  }
  char line[kMaxPrefix + kMaxLogText + 2];
  const size_t prefix = writePrefix(line, level);

  // vsnprintf reports the untruncated length; the buffer keeps kMaxLogText bytes of text.
  const int n = std::vsnprintf(line + prefix, kMaxLogText + 1, format, args);
  size_t text = n < 0 ? 0 : static_cast<size_t>(n);
  if (text > kMaxLogText) {
    text = kMaxLogText;
  }
  screen(line + prefix, text);
  emit(line, prefix + text);
}

void log(Level level, const char* format, ...) {
  if (!enabled(level)) {
    return;
  }
  va_list args;
  va_start(args, format);
  vlog(level, format, args);
  va_end(args);
}

void logText(Level level, std::string_view text) {
  if (!enabled(level)) {
    return;
  }
  char line[kMaxPrefix + kMaxLogText + 2];
  const size_t prefix = writePrefix(line, level);
  const size_t size = text.size() < kMaxLogText ? text.size() : kMaxLogText;
  text.copy(line + prefix, size);
  screen(line + prefix, size);
  emit(line, prefix + size);
}

void routeDiagnostics(LineWriter::Channel* channel) {
  std::lock_guard lock(routeMutex());
  routed_channel.store(channel, std::memory_order_release);
}

std::optional<Level> parseLevel(std::string_view text) {
  for (Level level : {Level::Debug, Level::Info, Level::Warn, Level::Error}) {
    if (text == toString(level)) {
      return level;
    }
  }
  return std::nullopt;
}

std::string_view toString(Level level) {
  switch (level) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "error";
}

bool rateLimitAllows(uint64_t* last_ms, uint64_t now_ms, uint64_t interval_ms) {
  // 0 means "never": a first call at time 0 is stored as 1 so the next one is limited.
  if (*last_ms != 0 && now_ms - *last_ms < interval_ms) {
    return false;
  }
  *last_ms = now_ms == 0 ? 1 : now_ms;
  return true;
}

}  // namespace jwtgate::observe

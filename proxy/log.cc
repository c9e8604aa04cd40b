// stderr logging for the proxy engine.
#include "proxy/log.h"

#include <cstdarg>
#include <cstdio>

namespace jwtgate::proxy {

void logMessage(LogLevel level, const char* format, ...) {
  const char* name = "info";
  switch (level) {
    case LogLevel::Debug:
      return;
    case LogLevel::Info:
      name = "info";
      break;
    case LogLevel::Warn:
      name = "warn";
      break;
    case LogLevel::Error:
      name = "error";
      break;
  }

  // One fprintf per line keeps lines from different workers from interleaving.
  char text[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof(text), format, args);
  va_end(args);
  std::fprintf(stderr, "jwtgate: %s: %s\n", name, text);
}

bool rateLimitAllows(uint64_t* last_ms, uint64_t now_ms, uint64_t interval_ms) {
  if (*last_ms != 0 && now_ms - *last_ms < interval_ms) {
    return false;
  }
  *last_ms = now_ms == 0 ? 1 : now_ms;
  return true;
}

}  // namespace jwtgate::proxy

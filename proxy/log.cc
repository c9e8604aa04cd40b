// The proxy engine's logging entry point, forwarded to observe/log.
#include "proxy/log.h"

#include <cstdarg>

namespace jwtgate::proxy {

void logMessage(LogLevel level, const char* format, ...) {
  if (!observe::enabled(level)) {
    return;
  }
  va_list args;
  va_start(args, format);
  observe::vlog(level, format, args);
  va_end(args);
}

}  // namespace jwtgate::proxy

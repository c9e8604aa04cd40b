// The default log sink: the process-wide diagnostics of observe/log.
#include "jwks/log_sink.h"

namespace jwtgate::jwks {

observe::Level toObserveLevel(LogLevel level) {
  switch (level) {
    case LogLevel::Info:
      return observe::Level::Info;
    case LogLevel::Warn:
      return observe::Level::Warn;
    case LogLevel::Error:
      return observe::Level::Error;
  }
  return observe::Level::Error;
}

LogSink stderrLogSink() {
  return
      [](LogLevel level, std::string_view text) { observe::logText(toObserveLevel(level), text); };
}

}  // namespace jwtgate::jwks

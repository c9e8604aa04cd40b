// Access log lines: target redaction, JSON formatting and the wall-clock text.
#include "proxy/access_log.h"

#include <time.h>

#include <cstring>
#include <utility>

#include "observe/json_line.h"

namespace jwtgate::proxy {
namespace {

constexpr std::string_view kEllipsis = "\xe2\x80\xa6";  // U+2026

int hexDigit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Compares a raw (encoded) parameter name with a plain one, decoding as it goes.
bool decodedNameEquals(std::string_view raw, std::string_view name) {
  size_t matched = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < raw.size()) {
      int high = hexDigit(raw[i + 1]);
      int low = hexDigit(raw[i + 2]);
      if (high >= 0 && low >= 0) {
        c = static_cast<char>(high * 16 + low);
        i += 2;
      }
    }
    if (matched == name.size() || lowerAscii(name[matched]) != lowerAscii(c)) {
      return false;
    }
    ++matched;
  }
  return matched == name.size();
}

// Credential parameters redacted whatever the providers say: a token sent to a route that
// does not read it (or with auth off) must not reach the log either.
constexpr std::string_view kAlwaysRedacted[] = {
    "access_token", "id_token", "refresh_token", "token",         "jwt",      "api_key",
    "apikey",       "password", "secret",        "client_secret", "signature", "code",
};

bool isRedacted(std::string_view raw_name, std::span<const std::string> redacted) {
  for (std::string_view name : kAlwaysRedacted) {
    if (decodedNameEquals(raw_name, name)) {
      return true;
    }
  }
  for (const std::string& name : redacted) {
    if (decodedNameEquals(raw_name, name)) {
      return true;
    }
  }
  return false;
}

void appendQuery(std::string& out, std::string_view query, std::span<const std::string> redacted) {
  for (;;) {
    size_t amp = query.find('&');
    std::string_view parameter = query.substr(0, amp);
    size_t equals = parameter.find('=');
    if (equals != std::string_view::npos && isRedacted(parameter.substr(0, equals), redacted)) {
      out.append(parameter.substr(0, equals + 1));
      out.append(kRedactedValue);
    } else {
      out.append(parameter);
    }
    if (amp == std::string_view::npos) {
      return;
    }
    out.push_back('&');
    query.remove_prefix(amp + 1);
  }
}

bool isBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Length of the run of base64url characters at the start of `text`.
size_t base64UrlRun(std::string_view text) {
  size_t n = 0;
  while (n < text.size() && isBase64UrlChar(text[n])) {
    ++n;
  }
  return n;
}

// The length of the compact JWS or JWE at the start of `text` ("eyJ" is a JSON object's
// "{\"" in base64url, which every JOSE header is): a long first segment, a dot and a long
// second one, then any further segments. 0 when `text` does not start with one.
size_t tokenShapeAt(std::string_view text) {
  constexpr size_t kMinSegment = 10;
  if (!text.starts_with("eyJ")) {
    return 0;
  }
  size_t length = base64UrlRun(text);
  if (length < kMinSegment || length >= text.size() || text[length] != '.') {
    return 0;
  }
  const size_t second = base64UrlRun(text.substr(length + 1));
  if (second < kMinSegment) {
    return 0;
  }
  length += 1 + second;
  while (length < text.size() && text[length] == '.') {
    length += 1 + base64UrlRun(text.substr(length + 1));
  }
  return length;
}

// Replaces every token-shaped run in out[from..] by "[redacted]": a token sent somewhere
// jwtgate does not read credentials from (a path segment, another parameter) is still a
// credential, and the log is no place for it.
void maskTokenShapes(std::string& out, size_t from) {
  size_t at = out.find("eyJ", from);
  if (at == std::string::npos) {
    return;
  }
  std::string masked(out, 0, from);
  size_t copied = from;
  while (at != std::string::npos) {
    const bool boundary = at == from || !isBase64UrlChar(out[at - 1]);
    const size_t length = boundary ? tokenShapeAt(std::string_view(out).substr(at)) : 0;
    if (length == 0) {
      at = out.find("eyJ", at + 1);
      continue;
    }
    masked.append(out, copied, at - copied);
    masked.append(kRedactedValue);
    copied = at + length;
    at = out.find("eyJ", copied);
  }
  masked.append(out, copied, std::string::npos);
  out = std::move(masked);
}

}  // namespace

void appendLoggedTarget(std::string& out, std::string_view target,
                        std::span<const std::string> redacted) {
  // Cut first: a value cut short is still redacted when its name is listed, and a name cut
  // short has no value after it.
  bool cut = target.size() > kMaxLoggedTarget;
  if (cut) {
    target = target.substr(0, kMaxLoggedTarget);
  }
  const size_t start = out.size();
  size_t question = target.find('?');
  if (question == std::string_view::npos) {
    out.append(target);
  } else {
    out.append(target.substr(0, question + 1));
    appendQuery(out, target.substr(question + 1), redacted);
  }
  maskTokenShapes(out, start);
  if (cut) {
    out.append(kEllipsis);
  }
}

void formatAccessLine(std::string& out, const AccessLogEntry& entry) {
  observe::JsonLine line(out);
  auto optional = [&line](std::string_view name, std::string_view value) {
    if (!value.empty()) {
      line.field(name, value);
    }
  };
  optional("time", entry.time);
  optional("request_id", entry.request_id);
  optional("client", entry.client);
  optional("method", entry.method);
  optional("path", entry.path);
  optional("protocol", entry.protocol);
  line.field("status", entry.status);
  if (entry.duration_ms >= 0) {
    line.field("duration_ms", entry.duration_ms, 3);
  }
  if (entry.upstream_ms >= 0) {
    line.field("upstream_ms", entry.upstream_ms, 3);
  }
  line.field("bytes_in", entry.bytes_in);
  line.field("bytes_out", entry.bytes_out);
  optional("route", entry.route);
  optional("provider", entry.provider);
  optional("subject", entry.subject);
  optional("outcome", entry.outcome);
  optional("reason", entry.reason);
  if (entry.aborted) {
    line.field("aborted", true);
  }
  line.end();
}

void LogClock::sync() {
  timespec real{};
  timespec mono{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  int64_t real_ns = static_cast<int64_t>(real.tv_sec) * 1'000'000'000 + real.tv_nsec;
  int64_t mono_ns = static_cast<int64_t>(mono.tv_sec) * 1'000'000'000 + mono.tv_nsec;
  offset_ns_ = real_ns - mono_ns;
}

std::string_view LogClock::format(uint64_t monotonic_ns) {
  int64_t real_ns = static_cast<int64_t>(monotonic_ns) + offset_ns_;
  int64_t second = real_ns / 1'000'000'000;
  auto millis = static_cast<int>((real_ns / 1'000'000) % 1000);
  if (second != cached_second_) {
    // "YYYY-MM-DDTHH:MM:SS" changes once a second; gmtime_r only then.
    time_t seconds = static_cast<time_t>(second);
    tm parts{};
    gmtime_r(&seconds, &parts);
    auto put = [this](size_t at, int value, int digits) {
      for (int i = digits - 1; i >= 0; --i) {
        text_[at + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
        value /= 10;
      }
    };
    std::memcpy(text_, "0000-00-00T00:00:00.000Z", kTextLength);
    put(0, (parts.tm_year + 1900) % 10000, 4);
    put(5, parts.tm_mon + 1, 2);
    put(8, parts.tm_mday, 2);
    put(11, parts.tm_hour, 2);
    put(14, parts.tm_min, 2);
    put(17, parts.tm_sec, 2);
    cached_second_ = second;
  }
  text_[20] = static_cast<char>('0' + millis / 100);
  text_[21] = static_cast<char>('0' + millis / 10 % 10);
  text_[22] = static_cast<char>('0' + millis % 10);
  return std::string_view(text_, kTextLength);
}

}  // namespace jwtgate::proxy

// Scalar value parsers for the configuration file.
#include "proxy/config_values.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sched.h>

#include <charconv>
#include <cstring>
#include <limits>

namespace jwtgate::proxy {
namespace {

// Splits the leading decimal digits from the unit that follows them.
struct NumberAndUnit {
  uint64_t number = 0;
  std::string_view unit;
};

Result<NumberAndUnit, std::string> splitNumber(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  if (digits == 0) {
    return makeError(std::string("expected a number"));
  }
  NumberAndUnit out;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, out.number);
  if (ec != std::errc() || end != text.data() + digits) {
    return makeError(std::string("number is too large"));
  }
  out.unit = text.substr(digits);
  return out;
}

bool multiplyChecked(uint64_t value, uint64_t factor, uint64_t* out) {
  if (factor != 0 && value > std::numeric_limits<uint64_t>::max() / factor) {
    return false;
  }
  *out = value * factor;
  return true;
}

// Splits "host:port" or "[v6]:port"; the host comes back without brackets.
Result<std::pair<std::string, uint16_t>, std::string> splitHostPort(std::string_view text,
                                                                    bool allow_port_zero) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return makeError(std::string("expected [ipv6]:port"));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return makeError(std::string("expected host:port"));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return makeError(std::string("an IPv6 address must be in brackets: [::1]:port"));
    }
  }
  if (host.empty()) {
    return makeError(std::string("the host is empty"));
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535 ||
      (value == 0 && !allow_port_zero)) {
    return makeError(std::string("the port must be a number from ") +
                     (allow_port_zero ? "0" : "1") + " to 65535");
  }
  return std::pair<std::string, uint16_t>(std::string(host), static_cast<uint16_t>(value));
}

// Fills a numeric IPv4 or IPv6 socket address; false when `host` is not numeric.
bool numericAddress(const std::string& host, uint16_t port, sockaddr_storage* out,
                    socklen_t* length) {
  std::memset(out, 0, sizeof(*out));
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *length = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

}  // namespace

Result<uint64_t, std::string> parseDuration(std::string_view text) {
  auto parts = splitNumber(text);
  if (!parts) {
    return makeError("invalid duration '" + std::string(text) + "': " + parts.error() +
                     " followed by ms, s, m or h");
  }

  // A bare 0 is unambiguous; any other number needs its unit.
  uint64_t factor = 0;
  std::string_view unit = parts->unit;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60'000;
  } else if (unit == "h") {
    factor = 3'600'000;
  } else if (unit.empty() && parts->number == 0) {
    return uint64_t{0};
  } else {
    return makeError("invalid duration '" + std::string(text) +
                     "': the unit must be ms, s, m or h");
  }
  uint64_t ms = 0;
  if (!multiplyChecked(parts->number, factor, &ms)) {
    return makeError("invalid duration '" + std::string(text) + "': too large");
  }
  return ms;
}

Result<uint64_t, std::string> parseSize(std::string_view text) {
  auto parts = splitNumber(text);
  if (!parts) {
    return makeError("invalid size '" + std::string(text) + "': " + parts.error() +
                     " optionally followed by KiB, MiB or GiB");
  }
  uint64_t factor = 0;
  std::string_view unit = parts->unit;
  if (unit.empty() || unit == "B") {
    factor = 1;
  } else if (unit == "KiB") {
    factor = uint64_t{1} << 10;
  } else if (unit == "MiB") {
    factor = uint64_t{1} << 20;
  } else if (unit == "GiB") {
    factor = uint64_t{1} << 30;
  } else {
    return makeError("invalid size '" + std::string(text) +
                     "': the unit must be KiB, MiB or GiB (or none for bytes)");
  }
  uint64_t bytes = 0;
  if (!multiplyChecked(parts->number, factor, &bytes)) {
    return makeError("invalid size '" + std::string(text) + "': too large");
  }
  return bytes;
}

Result<AccessLogSettings::Output, std::string> parseLogOutput(std::string_view text) {
  if (text == "stdout") {
    return AccessLogSettings::Output::Stdout;
  }
  if (text == "stderr") {
    return AccessLogSettings::Output::Stderr;
  }
  if (text == "off") {
    return AccessLogSettings::Output::Off;
  }
  return makeError("expected stdout, stderr or off, got '" + std::string(text) + "'");
}

Result<ListenAddress, std::string> parseListenAddress(std::string_view text) {
  auto split = splitHostPort(text, /*allow_port_zero=*/true);
  if (!split) {
    return makeError("invalid listen address '" + std::string(text) + "': " + split.error());
  }
  ListenAddress out;
  out.text = std::string(text);
  if (!numericAddress(split->first, split->second, &out.address, &out.address_length)) {
    return makeError("invalid listen address '" + std::string(text) +
                     "': the host must be a numeric IPv4 or IPv6 address");
  }
  return out;
}

Result<UpstreamAddress, std::string> parseUpstreamAddress(std::string_view text) {
  UpstreamAddress out;
  out.text = std::string(text);

  // A Unix domain socket: the path must fit sockaddr_un.
  constexpr std::string_view kUnixPrefix = "unix:";
  if (text.substr(0, kUnixPrefix.size()) == kUnixPrefix) {
    std::string_view path = text.substr(kUnixPrefix.size());
    sockaddr_un probe{};
    if (path.empty() || path.size() >= sizeof(probe.sun_path)) {
      return makeError("invalid upstream '" + std::string(text) +
                       "': the socket path must have 1 to " +
                       std::to_string(sizeof(probe.sun_path) - 1) + " bytes");
    }
    out.kind = UpstreamAddress::Kind::Unix;
    out.unix_path = std::string(path);
    out.authority = "localhost";
    return out;
  }

  auto split = splitHostPort(text, /*allow_port_zero=*/false);
  if (!split) {
    return makeError("invalid upstream '" + std::string(text) + "': " + split.error());
  }
  out.authority = std::string(text);
  if (numericAddress(split->first, split->second, &out.address, &out.address_length)) {
    return out;
  }

  // A host name: resolved once, now; the first stream address wins.
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(split->second);
  int rc = getaddrinfo(split->first.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return makeError("invalid upstream '" + std::string(text) + "': cannot resolve '" +
                     split->first + "': " + gai_strerror(rc));
  }
  std::memcpy(&out.address, found->ai_addr, found->ai_addrlen);
  out.address_length = found->ai_addrlen;
  freeaddrinfo(found);
  return out;
}

Result<uint32_t, std::string> parseWorkers(std::string_view text) {
  if (text == "auto") {
    return usableCoreCount();
  }
  constexpr uint32_t kMaxWorkers = 1024;
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > kMaxWorkers) {
    return makeError("invalid workers '" + std::string(text) + "': expected 1 to " +
                     std::to_string(kMaxWorkers) + " or auto");
  }
  return value;
}

uint32_t usableCoreCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) {
      return static_cast<uint32_t>(count);
    }
  }
  return 1;
}

}  // namespace jwtgate::proxy

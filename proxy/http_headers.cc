// Header classification and serialisation helpers.
#include "proxy/http_headers.h"

#include <arpa/inet.h>

#include <cstring>

namespace jwtgate::proxy {
namespace {

constexpr char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// RFC 9110 section 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "."
// / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
constexpr std::array<bool, 256> makeTokenTable() {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) {
    table[c] = true;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    table[c] = true;
    table[c - 32] = true;
  }
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  return table;
}

constexpr std::array<bool, 256> kTokenTable = makeTokenTable();

bool isFieldVChar(unsigned char c) { return (c >= 0x21 && c != 0x7f) || c == ' ' || c == '\t'; }

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// RFC 3986 section 2.3 unreserved and section 2.2 sub-delims.
bool isUnreservedOrSubDelim(char c) {
  return isAlpha(c) || isDigit(c) ||
         std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}

// RFC 3986 section 3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ), here
// non-empty. An IPv4 address is a reg-name as far as the characters go.
bool isValidRegName(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%') {
      if (i + 2 >= name.size() || !isHexDigit(name[i + 1]) || !isHexDigit(name[i + 2])) {
        return false;
      }
      i += 2;
    } else if (!isUnreservedOrSubDelim(name[i])) {
      return false;
    }
  }
  return true;
}

// The inside of an IP-literal: an IPv6 address (no zone identifier) or an IPvFuture.
bool isValidIpLiteral(std::string_view inside) {
  if (!inside.empty() && (inside.front() == 'v' || inside.front() == 'V')) {
    // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
    size_t dot = inside.find('.');
    if (dot == std::string_view::npos || dot < 2 || dot + 1 >= inside.size()) {
      return false;
    }
    for (size_t i = 1; i < dot; ++i) {
      if (!isHexDigit(inside[i])) {
        return false;
      }
    }
    for (char c : inside.substr(dot + 1)) {
      if (c != ':' && !isUnreservedOrSubDelim(c)) {
        return false;
      }
    }
    return true;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (inside.empty() || inside.size() >= sizeof(text)) {
    return false;
  }
  std::memcpy(text, inside.data(), inside.size());
  in6_addr address{};
  return inet_pton(AF_INET6, text, &address) == 1;
}

bool isValidPort(std::string_view port) {
  if (port.empty() || port.size() > 5) {
    return false;
  }
  uint32_t value = 0;
  for (char c : port) {
    if (!isDigit(c)) {
      return false;
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  return value <= 65535;
}

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLower(a[i]) != toLower(b[i])) {
      return false;
    }
  }
  return true;
}

bool equalsIgnoreCaseAndSeparator(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] == '_' ? '-' : toLower(a[i]);
    char y = b[i] == '_' ? '-' : toLower(b[i]);
    if (x != y) {
      return false;
    }
  }
  return true;
}

HeaderKind classifyHeader(std::string_view name) {
  // Dispatch on length first: most fields are rejected by one comparison or none.
  switch (name.size()) {
    case 2:
      return equalsIgnoreCase(name, "te") ? HeaderKind::Te : HeaderKind::Other;
    case 4:
      return equalsIgnoreCase(name, "host") ? HeaderKind::Host : HeaderKind::Other;
    case 9:
      if (equalsIgnoreCase(name, "forwarded")) {
        return HeaderKind::Forwarded;
      }
      return equalsIgnoreCase(name, "x-real-ip") ? HeaderKind::XRealIp : HeaderKind::Other;
    case 6:
      return equalsIgnoreCase(name, "expect") ? HeaderKind::Expect : HeaderKind::Other;
    case 7:
      if (equalsIgnoreCase(name, "upgrade")) {
        return HeaderKind::Upgrade;
      }
      return equalsIgnoreCase(name, "trailer") ? HeaderKind::Trailer : HeaderKind::Other;
    case 10:
      if (equalsIgnoreCase(name, "connection")) {
        return HeaderKind::Connection;
      }
      return equalsIgnoreCase(name, "keep-alive") ? HeaderKind::KeepAlive : HeaderKind::Other;
    case 12:
      return equalsIgnoreCase(name, "x-request-id") ? HeaderKind::XRequestId : HeaderKind::Other;
    case 14:
      return equalsIgnoreCase(name, "content-length") ? HeaderKind::ContentLength
                                                      : HeaderKind::Other;
    case 15:
      return equalsIgnoreCase(name, "x-forwarded-for") ? HeaderKind::XForwardedFor
                                                       : HeaderKind::Other;
    case 16:
      if (equalsIgnoreCase(name, "proxy-connection")) {
        return HeaderKind::ProxyConnection;
      }
      if (equalsIgnoreCase(name, "x-forwarded-host")) {
        return HeaderKind::XForwardedHost;
      }
      return HeaderKind::Other;
    case 17:
      if (equalsIgnoreCase(name, "transfer-encoding")) {
        return HeaderKind::TransferEncoding;
      }
      return equalsIgnoreCase(name, "x-forwarded-proto") ? HeaderKind::XForwardedProto
                                                         : HeaderKind::Other;
    default:
      return HeaderKind::Other;
  }
}

bool isHopByHop(HeaderKind kind) {
  switch (kind) {
    case HeaderKind::Connection:
    case HeaderKind::KeepAlive:
    case HeaderKind::ProxyConnection:
    case HeaderKind::Te:
    case HeaderKind::Trailer:
    case HeaderKind::TransferEncoding:
    case HeaderKind::Upgrade:
      return true;
    case HeaderKind::Other:
    case HeaderKind::ContentLength:
    case HeaderKind::Host:
    case HeaderKind::Expect:
    case HeaderKind::XForwardedFor:
    case HeaderKind::XForwardedProto:
    case HeaderKind::XForwardedHost:
    case HeaderKind::Forwarded:
    case HeaderKind::XRequestId:
    case HeaderKind::XRealIp:
      return false;
  }
  return false;
}

std::string_view trimOws(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) {
    ++begin;
  }
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t')) {
    --end;
  }
  return text.substr(begin, end - begin);
}

bool isTokenChar(char c) { return kTokenTable[static_cast<unsigned char>(c)]; }

bool isValidFieldName(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (char c : name) {
    if (!isTokenChar(c)) {
      return false;
    }
  }
  return true;
}

bool isValidFieldValue(std::string_view value) {
  if (!value.empty() && (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
                         value.back() == '\t')) {
    return false;
  }
  for (char c : value) {
    if (!isFieldVChar(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

bool isValidOriginTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return false;
  }
  for (char c : target) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) {
      return false;
    }
  }
  return true;
}

bool listContainsToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view element = trimOws(value.substr(0, comma));
    if (equalsIgnoreCase(element, token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool isValidHost(std::string_view value) {
  std::string_view host = value;
  std::string_view rest;
  if (!value.empty() && value.front() == '[') {
    size_t close = value.find(']');
    if (close == std::string_view::npos || !isValidIpLiteral(value.substr(1, close - 1))) {
      return false;
    }
    host = value.substr(0, close + 1);
    rest = value.substr(close + 1);
  } else {
    size_t colon = value.find(':');
    host = value.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : value.substr(colon);
    if (!isValidRegName(host)) {
      return false;
    }
  }
  if (rest.empty()) {
    return true;
  }
  return rest.front() == ':' && isValidPort(rest.substr(1));
}

std::string_view protocolName(std::string_view element) {
  return element.substr(0, element.find('/'));
}

bool isValidProtocol(std::string_view element) {
  size_t slash = element.find('/');
  if (slash == std::string_view::npos) {
    return isValidFieldName(element);
  }
  return isValidFieldName(element.substr(0, slash)) && isValidFieldName(element.substr(slash + 1));
}

bool isProtectedFromConnectionOption(std::string_view name) {
  switch (classifyHeader(name)) {
    case HeaderKind::Host:
    case HeaderKind::ContentLength:
    case HeaderKind::TransferEncoding:
    case HeaderKind::XForwardedFor:
    case HeaderKind::XForwardedProto:
    case HeaderKind::XForwardedHost:
    case HeaderKind::Forwarded:
    case HeaderKind::XRealIp:
      return true;
    default:
      break;
  }
  constexpr std::string_view kForwardedPrefix = "x-forwarded-";
  if (name.size() >= kForwardedPrefix.size() &&
      equalsIgnoreCase(name.substr(0, kForwardedPrefix.size()), kForwardedPrefix)) {
    return true;
  }
  return equalsIgnoreCase(name, "authorization") || equalsIgnoreCase(name, "cookie");
}

void ConnectionOptions::addFieldValue(std::string_view value) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view option = trimOws(value.substr(0, comma));
    if (equalsIgnoreCase(option, "close")) {
      close_ = true;
    } else if (equalsIgnoreCase(option, "keep-alive")) {
      keep_alive_ = true;
    } else if (equalsIgnoreCase(option, "upgrade")) {
      upgrade_ = true;
    } else if (equalsIgnoreCase(option, "te")) {
      te_ = true;
    } else if (!option.empty()) {
      if (count_ < kMaxNames) {
        names_[count_++] = option;
      } else {
        too_many_ = true;
      }
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
}

bool ConnectionOptions::names(std::string_view name) const {
  if ((keep_alive_ && equalsIgnoreCase(name, "keep-alive")) ||
      (upgrade_ && equalsIgnoreCase(name, "upgrade")) || (te_ && equalsIgnoreCase(name, "te"))) {
    return true;
  }
  for (uint8_t i = 0; i < count_; ++i) {
    if (equalsIgnoreCase(names_[i], name)) {
      return true;
    }
  }
  return false;
}

bool ConnectionOptions::namesProtectedField() const {
  for (uint8_t i = 0; i < count_; ++i) {
    if (isProtectedFromConnectionOption(names_[i])) {
      return true;
    }
  }
  return false;
}

void HeadWriter::append(std::string_view text) {
  if (text.size() > static_cast<size_t>(end_ - pos_)) {
    overflowed_ = true;
    return;
  }
  std::memcpy(pos_, text.data(), text.size());
  pos_ += text.size();
}

void HeadWriter::appendDecimal(uint64_t value) {
  char digits[20];
  size_t count = 0;
  do {
    digits[sizeof(digits) - 1 - count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  append(std::string_view(digits + sizeof(digits) - count, count));
}

void HeadWriter::appendHex(uint64_t value) {
  static constexpr char kHex[] = "0123456789abcdef";
  char digits[16];
  size_t count = 0;
  do {
    digits[sizeof(digits) - 1 - count++] = kHex[value & 0xf];
    value >>= 4;
  } while (value != 0);
  append(std::string_view(digits + sizeof(digits) - count, count));
}

void HeadWriter::appendField(std::string_view name, std::string_view value) {
  append(name);
  append(": ");
  append(value);
  append("\r\n");
}

void appendForwardedFor(HeadWriter& out, const std::string_view* existing, size_t count,
                        std::string_view client) {
  out.append("X-Forwarded-For: ");
  for (size_t i = 0; i < count; ++i) {
    std::string_view value = trimOws(existing[i]);
    if (value.empty()) {
      continue;
    }
    out.append(value);
    out.append(", ");
  }
  out.append(client);
  out.append("\r\n");
}

}  // namespace jwtgate::proxy

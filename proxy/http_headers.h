// Header rules of a forwarding proxy (RFC 9110 section 7.6.1, RFC 9112): which fields are
// hop-by-hop, what the Connection field names, and the X-Forwarded-* values. Pure functions
// over string views; nothing here allocates.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace jwtgate::proxy {

// The fields the proxy treats specially; everything else is Other and is forwarded as is.
enum class HeaderKind : uint8_t {
  Other,
  Connection,
  KeepAlive,
  ProxyConnection,
  Te,
  Trailer,
  TransferEncoding,
  Upgrade,
  ContentLength,
  Host,
  Expect,
  XForwardedFor,
  XForwardedProto,
  XForwardedHost,
  Forwarded,  // RFC 7239
  XRealIp,
  XRequestId,
};

// Classifies a field name (case-insensitive).
HeaderKind classifyHeader(std::string_view name);

// True for the fields that describe one connection and are never forwarded as received:
// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade.
bool isHopByHop(HeaderKind kind);

bool equalsIgnoreCase(std::string_view a, std::string_view b);

// Also treats '_' and '-' as equal (for matching names that proxies and CGI mangle).
bool equalsIgnoreCaseAndSeparator(std::string_view a, std::string_view b);

// Strips optional whitespace (SP, HTAB) from both ends.
std::string_view trimOws(std::string_view text);

// RFC 9110 token characters (field names, Connection options).
bool isTokenChar(char c);
bool isValidFieldName(std::string_view name);

// A field value the proxy may emit: visible characters, SP, HTAB and obs-text, with no
// leading or trailing whitespace and no CR, LF or NUL.
bool isValidFieldValue(std::string_view value);

// An origin-form request target ("/path?query") without spaces or control characters.
bool isValidOriginTarget(std::string_view target);

// True when the comma-separated list `value` has `token` as an element (case-insensitive).
bool listContainsToken(std::string_view value, std::string_view token);

// A Host field value (RFC 9110 section 7.2): uri-host [":" port] with the host an IP-literal
// in brackets, an IPv4 address or a reg-name (RFC 3986 section 3.2.2), and the port, when
// present, 1 to 5 digits up to 65535. An empty value is refused here; callers that allow it
// (HTTP/1.0) check that first.
bool isValidHost(std::string_view value);

// One element of an Upgrade field (RFC 9110 section 7.8): protocol-name ["/" version], both
// tokens. protocolName returns the name part (a view into `element`).
bool isValidProtocol(std::string_view element);
std::string_view protocolName(std::string_view element);

// Fields a Connection option may not name: the proxy and the request filter rely on them
// end to end (routing, framing, credentials, client-address fields), so a client must not
// be able to make a hop remove them.
bool isProtectedFromConnectionOption(std::string_view name);

// What the Connection fields of one message say. The option names are views into the
// message's buffer and live as long as it.
class ConnectionOptions {
 public:
  static constexpr size_t kMaxNames = 16;

  // Adds the options of one Connection field value.
  void addFieldValue(std::string_view value);

  bool close() const { return close_; }
  bool keepAlive() const { return keep_alive_; }
  bool upgrade() const { return upgrade_; }
  bool te() const { return te_; }

  // True when `name` is listed as a connection option (so the field must not be forwarded).
  bool names(std::string_view name) const;

  // More than kMaxNames options were listed; callers refuse such a message (400).
  bool tooManyNames() const { return too_many_; }

  // An option names a field that isProtectedFromConnectionOption; callers refuse (400).
  bool namesProtectedField() const;

  void clear() { *this = ConnectionOptions(); }

 private:
  std::array<std::string_view, kMaxNames> names_{};
  uint8_t count_ = 0;
  bool close_ = false;
  bool keep_alive_ = false;
  bool upgrade_ = false;
  bool te_ = false;
  bool too_many_ = false;
};

// Appends text to a fixed buffer; reports overflow instead of writing past the end.
class HeadWriter {
 public:
  HeadWriter(char* begin, size_t capacity) : begin_(begin), pos_(begin), end_(begin + capacity) {}

  void append(std::string_view text);
  void appendDecimal(uint64_t value);
  void appendHex(uint64_t value);

  // Writes "name: value\r\n".
  void appendField(std::string_view name, std::string_view value);

  size_t size() const { return static_cast<size_t>(pos_ - begin_); }
  bool overflowed() const { return overflowed_; }

 private:
  char* begin_;
  char* pos_;
  char* end_;
  bool overflowed_ = false;
};

// Writes the X-Forwarded-For field: the values of the incoming X-Forwarded-For fields in
// order, joined with ", ", then `client`. `existing` may be empty.
void appendForwardedFor(HeadWriter& out, const std::string_view* existing, size_t count,
                        std::string_view client);

}  // namespace jwtgate::proxy

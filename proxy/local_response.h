// The responses the proxy writes itself: its own errors (400, 408, 413, 431, 502, 503, 504)
// and the replies of a request filter. The mapping from error to status, code and body lives
// here and nowhere else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/http_headers.h"
#include "proxy/request_filter.h"

namespace jwtgate::proxy {

enum class ProxyError : uint8_t {
  BadRequest,              // 400: malformed or ambiguous framing, invalid fields
  RequestTimeout,          // 408: the request head did not arrive in time
  BodyTooLarge,            // 413: beyond limits.max_body_bytes
  HeadersTooLarge,         // 431: beyond limits.max_header_bytes or max_header_count
  InternalError,           // 500: the proxy could not handle the request (out of memory)
  UpstreamUnreachable,     // 502: connection refused or reset, invalid upstream response
  UpstreamConnectTimeout,  // 503: the upstream did not accept the connection in time
  UpstreamTimeout,         // 504: no response byte within timeouts.upstream_response
};

struct ProxyErrorInfo {
  int status;
  std::string_view code;  // stable; used in the JSON body and in counters
};

ProxyErrorInfo describe(ProxyError error);

// The reason phrase for a status (empty for unknown ones; the status line stays valid).
std::string_view reasonPhrase(int status);

// Upper bound of the bytes writeProxyError needs for a message of `message_size` bytes.
size_t proxyErrorSize(size_t message_size);

// Writes a complete response: status line, X-Request-Id (when `request_id` is not empty),
// Content-Type: application/json, Content-Length, Connection: close when `close`, and
// {"error":"<code>","message":"<message>"}. `message` must be a fixed text of the proxy (it
// is not escaped).
void writeProxyError(HeadWriter& out, ProxyError error, std::string_view message, bool close,
                     std::string_view request_id = {});

// Upper bound of the bytes writeLocalReply needs.
size_t localReplySize(const LocalReply& reply);

// Writes a filter's reply with X-Request-Id (when not empty), Content-Length and, when
// `close`, Connection: close. Extra headers that are not valid fields, or that the proxy
// owns (X-Request-Id included), are left out.
void writeLocalReply(HeadWriter& out, const LocalReply& reply, bool close,
                     std::string_view request_id = {});

}  // namespace jwtgate::proxy

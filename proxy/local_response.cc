// Proxy-generated responses.
#include "proxy/local_response.h"

namespace jwtgate::proxy {
namespace {

constexpr size_t kFixedOverhead = 256;
constexpr size_t kRequestIdField = 16 + 128;  // "X-Request-Id: " id CRLF

void writeStatusLine(HeadWriter& out, int status) {
  out.append("HTTP/1.1 ");
  out.appendDecimal(static_cast<uint64_t>(status));
  out.append(" ");
  out.append(reasonPhrase(status));
  out.append("\r\n");
}

// The fields a filter must not set on a reply: the proxy writes the framing and the
// request id itself.
bool isReservedReplyField(std::string_view name) {
  HeaderKind kind = classifyHeader(name);
  return isHopByHop(kind) || kind == HeaderKind::ContentLength ||
         kind == HeaderKind::XRequestId || equalsIgnoreCase(name, "content-type");
}

void writeRequestId(HeadWriter& out, std::string_view request_id) {
  if (!request_id.empty() && request_id.size() <= 128 && isValidFieldValue(request_id)) {
    out.appendField("X-Request-Id", request_id);
  }
}

}  // namespace

ProxyErrorInfo describe(ProxyError error) {
  switch (error) {
    case ProxyError::BadRequest:
      return {400, "bad_request"};
    case ProxyError::RequestTimeout:
      return {408, "request_timeout"};
    case ProxyError::BodyTooLarge:
      return {413, "payload_too_large"};
    case ProxyError::HeadersTooLarge:
      return {431, "request_header_fields_too_large"};
    case ProxyError::InternalError:
      return {500, "internal_error"};
    case ProxyError::UpstreamUnreachable:
      return {502, "bad_gateway"};
    case ProxyError::UpstreamConnectTimeout:
      return {503, "service_unavailable"};
    case ProxyError::UpstreamTimeout:
      return {504, "gateway_timeout"};
  }
  return {500, "internal_error"};
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

size_t proxyErrorSize(size_t message_size) {
  return kFixedOverhead + kRequestIdField + message_size;
}

void writeProxyError(HeadWriter& out, ProxyError error, std::string_view message, bool close,
                     std::string_view request_id) {
  ProxyErrorInfo info = describe(error);
  constexpr std::string_view kBodyStart = "{\"error\":\"";
  constexpr std::string_view kBodyMiddle = "\",\"message\":\"";
  constexpr std::string_view kBodyEnd = "\"}";
  size_t body_size =
      kBodyStart.size() + info.code.size() + kBodyMiddle.size() + message.size() + kBodyEnd.size();

  writeStatusLine(out, info.status);
  writeRequestId(out, request_id);
  out.append("Content-Type: application/json\r\nContent-Length: ");
  out.appendDecimal(body_size);
  out.append(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
  out.append(kBodyStart);
  out.append(info.code);
  out.append(kBodyMiddle);
  out.append(message);
  out.append(kBodyEnd);
}

size_t localReplySize(const LocalReply& reply) {
  size_t size = kFixedOverhead + kRequestIdField + reply.content_type.size() + reply.body.size();
  for (const auto& [name, value] : reply.headers) {
    size += name.size() + value.size() + 4;
  }
  return size;
}

void writeLocalReply(HeadWriter& out, const LocalReply& reply, bool close,
                     std::string_view request_id) {
  int status = (reply.status >= 200 && reply.status <= 599) ? reply.status : 500;
  writeStatusLine(out, status);
  writeRequestId(out, request_id);
  for (const auto& [name, value] : reply.headers) {
    if (isValidFieldName(name) && isValidFieldValue(value) && !isReservedReplyField(name)) {
      out.appendField(name, value);
    }
  }
  if (!reply.content_type.empty() && isValidFieldValue(reply.content_type)) {
    out.appendField("Content-Type", reply.content_type);
  }
  out.append("Content-Length: ");
  out.appendDecimal(reply.body.size());
  out.append(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
  out.append(reply.body);
}

}  // namespace jwtgate::proxy

// Routing and framing of admin responses.
#include "admin/admin_reply.h"

namespace jwtgate::admin {
namespace {

constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kJsonType = "application/json";
constexpr std::string_view kTextType = "text/plain; charset=utf-8";

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

AdminReply textReply(int status, std::string_view text) {
  AdminReply reply;
  reply.status = status;
  reply.content_type = kTextType;
  reply.body.assign(text);
  reply.body.push_back('\n');
  return reply;
}

AdminReply healthReply(const std::function<bool(std::string*)>& handler) {
  AdminReply reply;
  reply.content_type = kJsonType;
  reply.status = handler(&reply.body) ? 200 : 503;
  return reply;
}

AdminReply metricsReply(const std::function<std::string()>& handler) {
  AdminReply reply;
  reply.content_type = kMetricsType;
  reply.body = handler();
  return reply;
}

// The path of an origin-form target: everything before '?'. A fragment is not part of a
// request target (RFC 9112 section 3.2), so '#' needs no handling here.
std::string_view pathOf(std::string_view target) {
  size_t query = target.find('?');
  return query == std::string_view::npos ? target : target.substr(0, query);
}

}  // namespace

AdminReply errorReply(int status) {
  switch (status) {
    case 400:
      return textReply(status, "bad request");
    case 404:
      return textReply(status, "not found");
    case 405:
      return textReply(status, "method not allowed");
    case 408:
      return textReply(status, "request timeout");
    case 413:
      return textReply(status, "request bodies are not accepted");
    case 431:
      return textReply(status, "request header fields too large");
    case 505:
      return textReply(status, "HTTP version not supported");
    default:
      return textReply(status, "internal error");
  }
}

AdminReply routeAdminRequest(std::string_view method_name, std::string_view target,
                             const AdminHandlers& handlers) {
  if (method_name != "GET" && method_name != "HEAD") {
    AdminReply reply = errorReply(405);
    reply.allow_header = true;
    return reply;
  }

  // The handlers are the application's; whatever they throw must not reach the loop.
  std::string_view path = pathOf(target);
  try {
    if (path == "/metrics" && handlers.metrics) {
      return metricsReply(handlers.metrics);
    }
    if (path == "/healthz" && handlers.healthz) {
      return healthReply(handlers.healthz);
    }
    if (path == "/readyz" && handlers.readyz) {
      return healthReply(handlers.readyz);
    }
  } catch (...) {
    return errorReply(500);
  }
  return errorReply(404);
}

std::string serializeReply(const AdminReply& reply, bool head_only, bool close) {
  std::string out;
  out.reserve(160 + (head_only ? 0 : reply.body.size()));
  out.append("HTTP/1.1 ").append(std::to_string(reply.status)).append(" ");
  out.append(reasonPhrase(reply.status)).append("\r\n");
  out.append("Content-Type: ").append(reply.content_type).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(reply.body.size())).append("\r\n");
  // Probes and scrapers must always see the current state, never a cached copy.
  out.append("Cache-Control: no-store\r\n");
  if (reply.allow_header) {
    out.append("Allow: GET, HEAD\r\n");
  }
  if (close) {
    out.append("Connection: close\r\n");
  }
  out.append("\r\n");
  if (!head_only) {
    out.append(reply.body);
  }
  return out;
}

}  // namespace jwtgate::admin

// Proxy-generated responses: status, JSON body, exact Content-Length, Connection: close.
#include "proxy/local_response.h"

#include <doctest/doctest.h>

#include <string>

namespace jwtgate::proxy {
namespace {

std::string render(ProxyError error, std::string_view message, bool close) {
  std::string out(proxyErrorSize(message.size()), '\0');
  HeadWriter writer(out.data(), out.size());
  writeProxyError(writer, error, message, close);
  REQUIRE_FALSE(writer.overflowed());
  out.resize(writer.size());
  return out;
}

// Splits a rendered response into head and body and checks Content-Length against the body.
std::string bodyOf(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  std::string head = response.substr(0, end);
  std::string body = response.substr(end + 4);
  size_t length_at = head.find("Content-Length: ");
  REQUIRE(length_at != std::string::npos);
  CHECK(std::stoul(head.substr(length_at + 16)) == body.size());
  return body;
}

}  // namespace

TEST_SUITE("proxy/local_response") {
  TEST_CASE("each proxy error has its status, code and a JSON body of the right length") {
    struct Row {
      ProxyError error;
      const char* status_line;
      const char* code;
    };
    const Row rows[] = {
        {ProxyError::BadRequest, "HTTP/1.1 400 Bad Request\r\n", "bad_request"},
        {ProxyError::RequestTimeout, "HTTP/1.1 408 Request Timeout\r\n", "request_timeout"},
        {ProxyError::BodyTooLarge, "HTTP/1.1 413 Content Too Large\r\n", "payload_too_large"},
        {ProxyError::HeadersTooLarge, "HTTP/1.1 431 Request Header Fields Too Large\r\n",
         "request_header_fields_too_large"},
        {ProxyError::InternalError, "HTTP/1.1 500 Internal Server Error\r\n", "internal_error"},
        {ProxyError::UpstreamUnreachable, "HTTP/1.1 502 Bad Gateway\r\n", "bad_gateway"},
        {ProxyError::UpstreamConnectTimeout, "HTTP/1.1 503 Service Unavailable\r\n",
         "service_unavailable"},
        {ProxyError::UpstreamTimeout, "HTTP/1.1 504 Gateway Timeout\r\n", "gateway_timeout"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.code);
      std::string response = render(row.error, "why it failed", true);
      CHECK(response.rfind(row.status_line, 0) == 0);
      CHECK(response.find("Content-Type: application/json\r\n") != std::string::npos);
      CHECK(response.find("Connection: close\r\n") != std::string::npos);
      CHECK(bodyOf(response) ==
            std::string("{\"error\":\"") + row.code + "\",\"message\":\"why it failed\"}");
    }
  }

  TEST_CASE("a kept connection gets no Connection: close") {
    std::string response = render(ProxyError::UpstreamUnreachable, "x", false);
    CHECK(response.find("Connection:") == std::string::npos);
    CHECK(bodyOf(response) == "{\"error\":\"bad_gateway\",\"message\":\"x\"}");
  }

  TEST_CASE("a filter reply carries its headers, body and framing, minus reserved fields") {
    LocalReply reply;
    reply.status = 401;
    reply.body = "{\"error\":\"invalid_token\"}";
    reply.headers = {{"WWW-Authenticate", "Bearer error=\"invalid_token\""},
                     {"Content-Length", "1"},
                     {"Transfer-Encoding", "chunked"},
                     {"X-Bad", "a\r\nInjected: yes"},
                     {"Bad Name", "v"}};
    std::string out(localReplySize(reply), '\0');
    HeadWriter writer(out.data(), out.size());
    writeLocalReply(writer, reply, false);
    REQUIRE_FALSE(writer.overflowed());
    out.resize(writer.size());
    CHECK(out.rfind("HTTP/1.1 401 Unauthorized\r\n", 0) == 0);
    CHECK(out.find("WWW-Authenticate: Bearer error=\"invalid_token\"\r\n") != std::string::npos);
    CHECK(out.find("Transfer-Encoding") == std::string::npos);
    CHECK(out.find("Injected") == std::string::npos);
    CHECK(out.find("Bad Name") == std::string::npos);
    CHECK(out.find("Content-Type: application/json\r\n") != std::string::npos);
    CHECK(bodyOf(out) == reply.body);
  }

  TEST_CASE("local replies carry the request id; a filter cannot set its own") {
    LocalReply reply;
    reply.status = 403;
    reply.headers = {{"X-Request-Id", "forged"}};
    std::string out(localReplySize(reply), '\0');
    HeadWriter writer(out.data(), out.size());
    writeLocalReply(writer, reply, false, std::string(128, 'r'));
    REQUIRE_FALSE(writer.overflowed());
    out.resize(writer.size());
    CHECK(out.find("X-Request-Id: " + std::string(128, 'r') + "\r\n") != std::string::npos);
    CHECK(out.find("forged") == std::string::npos);

    std::string error(proxyErrorSize(10), '\0');
    HeadWriter error_writer(error.data(), error.size());
    writeProxyError(error_writer, ProxyError::UpstreamUnreachable, "0123456789", true, "id-1");
    REQUIRE_FALSE(error_writer.overflowed());
    error.resize(error_writer.size());
    CHECK(error.rfind("HTTP/1.1 502 Bad Gateway\r\nX-Request-Id: id-1\r\n", 0) == 0);
  }

  TEST_CASE("a filter reply with an impossible status becomes 500") {
    LocalReply reply;
    reply.status = 42;
    std::string out(localReplySize(reply), '\0');
    HeadWriter writer(out.data(), out.size());
    writeLocalReply(writer, reply, true);
    out.resize(writer.size());
    CHECK(out.rfind("HTTP/1.1 500 ", 0) == 0);
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
  }
}

}  // namespace jwtgate::proxy

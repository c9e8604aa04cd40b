// Header rules: hop-by-hop classification, Connection options, X-Forwarded-For, serialising.
#include "proxy/http_headers.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace jwtgate::proxy {
namespace {

std::string forwardedFor(const std::vector<std::string_view>& existing, std::string_view client) {
  char buffer[512];
  HeadWriter writer(buffer, sizeof(buffer));
  appendForwardedFor(writer, existing.data(), existing.size(), client);
  REQUIRE_FALSE(writer.overflowed());
  return std::string(buffer, writer.size());
}

}  // namespace

TEST_SUITE("proxy/http_headers") {
  TEST_CASE("every hop-by-hop field is classified as such, in any case") {
    struct Row {
      const char* name;
      HeaderKind kind;
      bool hop_by_hop;
    };
    const Row rows[] = {
        {"Connection", HeaderKind::Connection, true},
        {"CONNECTION", HeaderKind::Connection, true},
        {"keep-alive", HeaderKind::KeepAlive, true},
        {"Proxy-Connection", HeaderKind::ProxyConnection, true},
        {"TE", HeaderKind::Te, true},
        {"te", HeaderKind::Te, true},
        {"Trailer", HeaderKind::Trailer, true},
        {"Transfer-Encoding", HeaderKind::TransferEncoding, true},
        {"transfer-encoding", HeaderKind::TransferEncoding, true},
        {"Upgrade", HeaderKind::Upgrade, true},
        {"Content-Length", HeaderKind::ContentLength, false},
        {"Host", HeaderKind::Host, false},
        {"Expect", HeaderKind::Expect, false},
        {"X-Forwarded-For", HeaderKind::XForwardedFor, false},
        {"x-forwarded-proto", HeaderKind::XForwardedProto, false},
        {"X-Forwarded-Host", HeaderKind::XForwardedHost, false},
        {"Forwarded", HeaderKind::Forwarded, false},
        {"x-real-ip", HeaderKind::XRealIp, false},
        {"X-Real-IP", HeaderKind::XRealIp, false},
        {"X-Request-Id", HeaderKind::XRequestId, false},
        {"x-request-id", HeaderKind::XRequestId, false},
        {"x-request-ix", HeaderKind::Other, false},
        {"Forwarder", HeaderKind::Other, false},
        {"Trailers", HeaderKind::Other, false},
        {"Connections", HeaderKind::Other, false},
        {"Upgrade-Insecure-Requests", HeaderKind::Other, false},
        {"Authorization", HeaderKind::Other, false},
        {"T", HeaderKind::Other, false},
        {"", HeaderKind::Other, false},
        {"Transfer_Encoding", HeaderKind::Other, false},
    };
    for (const Row& row : rows) {
      CAPTURE(row.name);
      CHECK(classifyHeader(row.name) == row.kind);
      CHECK(isHopByHop(classifyHeader(row.name)) == row.hop_by_hop);
    }
  }

  TEST_CASE("Connection options name the fields to drop and set the connection flags") {
    ConnectionOptions options;
    options.addFieldValue("close, X-Private ,  Keep-Alive");
    options.addFieldValue("x-other,upgrade");
    CHECK(options.close());
    CHECK(options.keepAlive());
    CHECK(options.upgrade());
    CHECK_FALSE(options.te());
    CHECK(options.names("x-private"));
    CHECK(options.names("X-OTHER"));
    CHECK(options.names("Keep-Alive"));
    CHECK(options.names("Upgrade"));
    CHECK_FALSE(options.names("X-Private-2"));
    CHECK_FALSE(options.names("close"));
    CHECK_FALSE(options.tooManyNames());
  }

  TEST_CASE("empty Connection elements are ignored") {
    ConnectionOptions options;
    options.addFieldValue(" , ,,");
    options.addFieldValue("");
    CHECK_FALSE(options.close());
    CHECK_FALSE(options.names(""));
    CHECK_FALSE(options.tooManyNames());
  }

  TEST_CASE("more Connection options than the proxy tracks are reported") {
    ConnectionOptions options;
    std::string value;
    for (size_t i = 0; i <= ConnectionOptions::kMaxNames; ++i) {
      value += "X-Name-" + std::to_string(i) + ",";
    }
    options.addFieldValue(value);
    CHECK(options.tooManyNames());
    CHECK(options.names("x-name-0"));
  }

  TEST_CASE("token lists are matched element by element, case-insensitively") {
    CHECK(listContainsToken("gzip, trailers", "trailers"));
    CHECK(listContainsToken("TRAILERS", "trailers"));
    CHECK(listContainsToken("100-Continue", "100-continue"));
    CHECK_FALSE(listContainsToken("trailersx", "trailers"));
    CHECK_FALSE(listContainsToken("", "trailers"));
    CHECK_FALSE(listContainsToken("gzip;trailers", "trailers"));
  }

  TEST_CASE("X-Forwarded-For appends the client after the values received, in order") {
    CHECK(forwardedFor({}, "192.0.2.1") == "X-Forwarded-For: 192.0.2.1\r\n");
    CHECK(forwardedFor({"203.0.113.7"}, "::1") == "X-Forwarded-For: 203.0.113.7, ::1\r\n");
    CHECK(forwardedFor({"203.0.113.7, 198.51.100.2", " 10.0.0.1 "}, "127.0.0.1") ==
          "X-Forwarded-For: 203.0.113.7, 198.51.100.2, 10.0.0.1, 127.0.0.1\r\n");
    CHECK(forwardedFor({"", "  "}, "127.0.0.1") == "X-Forwarded-For: 127.0.0.1\r\n");
  }

  TEST_CASE("field names and values the proxy may emit are checked") {
    CHECK(isValidFieldName("X-Claim_Sub"));
    CHECK_FALSE(isValidFieldName(""));
    CHECK_FALSE(isValidFieldName("X Claim"));
    CHECK_FALSE(isValidFieldName("X:Claim"));
    CHECK_FALSE(isValidFieldName("X\x01"));
    CHECK(isValidFieldValue("Bearer realm=\"api\", error=\"invalid_token\""));
    CHECK(isValidFieldValue(""));
    CHECK(isValidFieldValue("caf\xc3\xa9"));
    CHECK_FALSE(isValidFieldValue(" leading"));
    CHECK_FALSE(isValidFieldValue("trailing\t"));
    CHECK_FALSE(isValidFieldValue("a\r\nInjected: 1"));
    CHECK_FALSE(isValidFieldValue(std::string_view("a\0b", 3)));
    CHECK_FALSE(isValidFieldValue("a\x7f"));
  }

  TEST_CASE("rewritten targets must be origin-form without spaces or controls") {
    CHECK(isValidOriginTarget("/"));
    CHECK(isValidOriginTarget("/a/b?x=1&y=%20"));
    CHECK_FALSE(isValidOriginTarget(""));
    CHECK_FALSE(isValidOriginTarget("a/b"));
    CHECK_FALSE(isValidOriginTarget("/a b"));
    CHECK_FALSE(isValidOriginTarget("/a\r\nHost: x"));
    CHECK_FALSE(isValidOriginTarget("http://x/"));
  }

  TEST_CASE("names compare ignoring case, and optionally '_' against '-'") {
    CHECK(equalsIgnoreCase("X-Api-Key", "x-api-key"));
    CHECK_FALSE(equalsIgnoreCase("X_Api_Key", "x-api-key"));
    CHECK(equalsIgnoreCaseAndSeparator("X_Api_Key", "x-api-key"));
    CHECK(equalsIgnoreCaseAndSeparator("authorization", "Authorization"));
    CHECK_FALSE(equalsIgnoreCaseAndSeparator("X-Api-Key", "X-Api-Keys"));
  }

  TEST_CASE("OWS is trimmed on both sides only") {
    CHECK(trimOws("  a b \t") == "a b");
    CHECK(trimOws("\t\t") == "");
    CHECK(trimOws("") == "");
  }

  TEST_CASE("the head writer stops at its capacity instead of overflowing") {
    char buffer[8];
    HeadWriter writer(buffer, sizeof(buffer));
    writer.append("12345");
    CHECK_FALSE(writer.overflowed());
    writer.append("6789");
    CHECK(writer.overflowed());
    CHECK(writer.size() == 5);
  }

  TEST_CASE("numbers are written in decimal and hex") {
    char buffer[64];
    HeadWriter writer(buffer, sizeof(buffer));
    writer.appendDecimal(0);
    writer.append(" ");
    writer.appendDecimal(18446744073709551615ull);
    writer.append(" ");
    writer.appendHex(0);
    writer.append(" ");
    writer.appendHex(0x1f40);
    CHECK(std::string(buffer, writer.size()) == "0 18446744073709551615 0 1f40");
  }
  TEST_CASE("a Host value must be a valid authority") {
    struct Row {
      const char* host;
      bool valid;
    };
    const Row rows[] = {
        {"api.example.com", true},
        {"API.Example.COM:8080", true},
        {"127.0.0.1", true},
        {"127.0.0.1:80", true},
        {"a", true},
        {"a_b~c-d.e", true},
        {"exa%2Dmple.com", true},
        {"sub!$&'()*+,;=delims", true},
        {"host:0", true},
        {"host:65535", true},
        {"host:00080", true},
        {"[::1]", true},
        {"[::1]:443", true},
        {"[2001:db8::7]:8080", true},
        {"[::ffff:192.0.2.1]", true},
        {"[v1.fe]", true},
        {"[v1a.x:y]", true},
        {"", false},
        {"a b", false},
        {"a\tb", false},
        {"a/admin", false},
        {"a?b", false},
        {"a#b", false},
        {"a\\b", false},
        {"user@host", false},
        {"host:", false},
        {"host:abc", false},
        {"host:65536", false},
        {"host:123456", false},
        {"host:-1", false},
        {"a:1:2", false},
        {":80", false},
        {"exa%zzmple.com", false},
        {"exa%2", false},
        {"%", false},
        {"[::1", false},
        {"[]", false},
        {"[zz]", false},
        {"[::1]x", false},
        {"[::1]:", false},
        {"[::1]:99999", false},
        {"[fe80::1%25lo]", false},
        {"[127.0.0.1]", false},
        {"[v.x]", false},
        {"[v1.]", false},
        {"[vz.x]", false},
        {"\xc3\xa9.example", false},
    };
    for (const Row& row : rows) {
      CAPTURE(row.host);
      CHECK(isValidHost(row.host) == row.valid);
    }
  }

  TEST_CASE("Upgrade elements are a protocol name with an optional version") {
    CHECK(isValidProtocol("websocket"));
    CHECK(isValidProtocol("HTTP/2.0"));
    CHECK_FALSE(isValidProtocol(""));
    CHECK_FALSE(isValidProtocol("/1"));
    CHECK_FALSE(isValidProtocol("a/"));
    CHECK_FALSE(isValidProtocol("a/b/c"));
    CHECK_FALSE(isValidProtocol("web socket"));
    CHECK(protocolName("HTTP/2.0") == "HTTP");
    CHECK(protocolName("websocket") == "websocket");
  }

  TEST_CASE("a Connection option may not name a field relied on end to end") {
    for (const char* name : {"Host", "host", "Content-Length", "Transfer-Encoding", "Authorization",
                             "COOKIE", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                             "x-forwarded-prefix", "Forwarded", "X-Real-IP"}) {
      CAPTURE(name);
      CHECK(isProtectedFromConnectionOption(name));
      // The options are views into the field value, which must outlive them.
      const std::string value = std::string("keep-alive, X-Hop, ") + name;
      ConnectionOptions options;
      options.addFieldValue(value);
      CHECK(options.namesProtectedField());
    }
    for (const char* name : {"X-Hop", "Keep-Alive", "X-Forwarded", "Cookies", "Hosts",
                             "Proxy-Authorization", "X-User-Id"}) {
      CAPTURE(name);
      CHECK_FALSE(isProtectedFromConnectionOption(name));
    }
    ConnectionOptions options;
    options.addFieldValue("close, upgrade, te, X-Hop");
    CHECK_FALSE(options.namesProtectedField());
  }
}

}  // namespace jwtgate::proxy

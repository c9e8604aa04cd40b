// Durations, sizes, addresses and worker counts as written in the configuration file.
#include "proxy/config_values.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <doctest/doctest.h>

namespace jwtgate::proxy {

TEST_SUITE("proxy/config_values") {
  TEST_CASE("durations take ms, s, m or h") {
    struct Row {
      const char* text;
      uint64_t ms;
    };
    const Row rows[] = {{"500ms", 500}, {"10s", 10'000}, {"5m", 300'000}, {"1h", 3'600'000},
                        {"0", 0},       {"0s", 0},       {"0ms", 0},      {"007s", 7'000}};
    for (const Row& row : rows) {
      CAPTURE(row.text);
      auto parsed = parseDuration(row.text);
      REQUIRE(parsed.ok());
      CHECK(*parsed == row.ms);
    }
  }

  TEST_CASE("durations without a unit, with other units or signs are refused") {
    const char* rows[] = {"30",
                          "",
                          "s",
                          "10 s",
                          "1.5s",
                          "-1s",
                          "+1s",
                          "10S",
                          "10sec",
                          "1d",
                          "10s5",
                          "99999999999999999999s",
                          "18446744073709551615h"};
    for (const char* text : rows) {
      CAPTURE(text);
      auto parsed = parseDuration(text);
      CHECK_FALSE(parsed.ok());
      if (!parsed.ok()) {
        CHECK(parsed.error().find("duration") != std::string::npos);
      }
    }
  }

  TEST_CASE("sizes take bytes, KiB, MiB or GiB") {
    struct Row {
      const char* text;
      uint64_t bytes;
    };
    const Row rows[] = {{"0", 0},         {"4096", 4096},      {"4096B", 4096},
                        {"16KiB", 16384}, {"10MiB", 10485760}, {"1GiB", 1073741824},
                        {"32KiB", 32768}};
    for (const Row& row : rows) {
      CAPTURE(row.text);
      auto parsed = parseSize(row.text);
      REQUIRE(parsed.ok());
      CHECK(*parsed == row.bytes);
    }
  }

  TEST_CASE("decimal, unknown or malformed size units are refused") {
    const char* rows[] = {"16KB", "16kb", "16k", "10MB",   "1.5KiB",
                          "KiB",  "",     "-1",  "16 KiB", "99999999999GiB"};
    for (const char* text : rows) {
      CAPTURE(text);
      CHECK_FALSE(parseSize(text).ok());
    }
  }

  TEST_CASE("listen addresses are numeric IPv4 or bracketed IPv6 with a port") {
    auto v4 = parseListenAddress("127.0.0.1:8080");
    REQUIRE(v4.ok());
    CHECK(v4->address.ss_family == AF_INET);
    CHECK(ntohs(reinterpret_cast<const sockaddr_in*>(&v4->address)->sin_port) == 8080);

    auto v6 = parseListenAddress("[::1]:0");
    REQUIRE(v6.ok());
    CHECK(v6->address.ss_family == AF_INET6);
    CHECK(v6->address_length == sizeof(sockaddr_in6));

    const char* bad[] = {"127.0.0.1",  "::1:80",    "[::1]",       "[::1]80",
                         ":80",        "host:80",   "1.2.3.4:",    "1.2.3.4:65536",
                         "1.2.3.4:-1", "1.2.3.4:x", "[::1]:8080x", "[zz]:80"};
    for (const char* text : bad) {
      CAPTURE(text);
      CHECK_FALSE(parseListenAddress(text).ok());
    }
  }

  TEST_CASE("upstreams are host:port, [v6]:port or a unix socket path") {
    auto tcp = parseUpstreamAddress("127.0.0.1:3000");
    REQUIRE(tcp.ok());
    CHECK(tcp->kind == UpstreamAddress::Kind::Tcp);
    CHECK(tcp->authority == "127.0.0.1:3000");

    auto v6 = parseUpstreamAddress("[::1]:3000");
    REQUIRE(v6.ok());
    CHECK(v6->address.ss_family == AF_INET6);

    auto unix_socket = parseUpstreamAddress("unix:/run/app.sock");
    REQUIRE(unix_socket.ok());
    CHECK(unix_socket->kind == UpstreamAddress::Kind::Unix);
    CHECK(unix_socket->unix_path == "/run/app.sock");

    // Names resolve through the system (/etc/hosts); a bare chroot may have no entry for
    // localhost, and then only the resolver is missing, not the parser.
    addrinfo* found = nullptr;
    if (::getaddrinfo("localhost", nullptr, nullptr, &found) == 0) {
      ::freeaddrinfo(found);
      auto named = parseUpstreamAddress("localhost:3000");
      REQUIRE(named.ok());
      CHECK((named->address.ss_family == AF_INET || named->address.ss_family == AF_INET6));
    } else {
      MESSAGE("this system cannot resolve localhost: the host-name case is skipped");
    }

    CHECK_FALSE(parseUpstreamAddress("127.0.0.1:0").ok());
    CHECK_FALSE(parseUpstreamAddress("127.0.0.1").ok());
    CHECK_FALSE(parseUpstreamAddress("unix:").ok());
    CHECK_FALSE(parseUpstreamAddress("unix:/" + std::string(200, 'a')).ok());
  }

  TEST_CASE("workers are 1 to 1024 or auto") {
    CHECK(*parseWorkers("1") == 1);
    CHECK(*parseWorkers("64") == 64);
    auto automatic = parseWorkers("auto");
    REQUIRE(automatic.ok());
    CHECK(*automatic == usableCoreCount());
    CHECK(*automatic >= 1);
    for (const char* text : {"0", "1025", "-1", "two", "", "1.5", "AUTO"}) {
      CAPTURE(text);
      CHECK_FALSE(parseWorkers(text).ok());
    }
  }
}

}  // namespace jwtgate::proxy

// The access log's connection-free pieces: the logged target (redaction and cut), the JSON
// line and its field order, and the wall-clock text derived from the monotonic clock.
#include "proxy/access_log.h"

#include <doctest/doctest.h>
#include <time.h>

#include <string>
#include <vector>

namespace jwtgate::proxy {
namespace {

std::string logged(std::string_view target, const std::vector<std::string>& names) {
  std::string out;
  appendLoggedTarget(out, target, names);
  return out;
}

}  // namespace

TEST_SUITE("proxy/access_log") {
  TEST_CASE("listed query parameters are redacted, the rest is kept as received") {
    const std::vector<std::string> names = {"access_token", "sig"};
    struct Row {
      const char* target;
      const char* expected;
    };
    const Row rows[] = {
        {"/orders", "/orders"},
        {"/orders?x=1", "/orders?x=1"},
        {"/orders?x=1&access_token=abc.def", "/orders?x=1&access_token=[redacted]"},
        {"/o?sig=1&sig=2", "/o?sig=[redacted]&sig=[redacted]"},
        {"/o?access%5Ftoken=abc", "/o?access%5Ftoken=[redacted]"},  // decoded name
        {"/o?ACCESS_TOKEN=abc", "/o?ACCESS_TOKEN=[redacted]"},     // any case
        {"/o?sig", "/o?sig"},                                      // no value to hide
        {"/o?sig=", "/o?sig=[redacted]"},
        {"/o?signature_x=1", "/o?signature_x=1"},  // a longer name is another name
        {"/o?x=access_token=1", "/o?x=access_token=1"},
        {"/o?&&sig=a&", "/o?&&sig=[redacted]&"},
        {"/o?a=1&b=2", "/o?a=1&b=2"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.target);
      CHECK(logged(row.target, names) == row.expected);
    }
  }

  TEST_CASE("common credential parameters are redacted even with no provider names") {
    CHECK(logged("/p?token=Q7secret&page=2", {}) == "/p?token=[redacted]&page=2");
    CHECK(logged("/p?id_token=a&code=b&x=c", {}) == "/p?id_token=[redacted]&code=[redacted]&x=c");
    CHECK(logged("/p?Api%5Fkey=k", {}) == "/p?Api%5Fkey=[redacted]");
    CHECK(logged("/p?page=2", {}) == "/p?page=2");
  }

  TEST_CASE("anything shaped like a token is redacted wherever it is in the target") {
    const std::string jwt =
        "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz_-x";
    struct Row {
      std::string target;
      std::string expected;
    };
    const Row rows[] = {
        {"/q/" + jwt + "/x", "/q/[redacted]/x"},
        {"/q?x=" + jwt, "/q?x=[redacted]"},
        {"/q?" + jwt, "/q?[redacted]"},
        {"/q?a=1;b=" + jwt + "&c=2", "/q?a=1;b=[redacted]&c=2"},
        {"/" + jwt + "/" + jwt, "/[redacted]/[redacted]"},
        // Two segments only (a JWS with its signature cut off) still look like a token.
        {"/q/eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9", "/q/[redacted]"},
        // Not tokens: no boundary before eyJ, short segments, no second segment.
        {"/keyJarFileName.eyJsomethinglong", "/keyJarFileName.eyJsomethinglong"},
        {"/eyJohn.smith.doc", "/eyJohn.smith.doc"},
        {"/eyJabcdefghijkl", "/eyJabcdefghijkl"},
        {"/eyJabcdefghijkl.short", "/eyJabcdefghijkl.short"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.target);
      CHECK(logged(row.target, {}) == row.expected);
    }
  }

  TEST_CASE("long targets are cut at 2048 bytes with an ellipsis, redaction still applied") {
    std::string path = "/" + std::string(3000, 'a');
    std::string out = logged(path, {});
    CHECK(out.size() == kMaxLoggedTarget + 3);
    CHECK(out.substr(kMaxLoggedTarget) == "\xe2\x80\xa6");
    CHECK(logged(std::string(kMaxLoggedTarget, 'b'), {}) == std::string(kMaxLoggedTarget, 'b'));

    // A listed value cut short is still hidden.
    std::string query = "/p?access_token=" + std::string(4000, 'x');
    CHECK(logged(query, {"access_token"}) == "/p?access_token=[redacted]\xe2\x80\xa6");
  }

  TEST_CASE("a line has the documented fields in order and leaves absent ones out") {
    AccessLogEntry entry;
    entry.time = "2026-12-04T18:30:00.123Z";
    entry.request_id = "abc";
    entry.client = "127.0.0.1";
    entry.method = "GET";
    entry.path = "/orders?x=1";
    entry.protocol = "HTTP/1.1";
    entry.status = 200;
    entry.duration_ms = 1.2345;
    entry.upstream_ms = 0.9;
    entry.bytes_in = 0;
    entry.bytes_out = 123;
    entry.route = "default";
    entry.provider = "corp";
    entry.subject = "alice";
    entry.outcome = "allowed";
    std::string line;
    formatAccessLine(line, entry);
    CHECK(line ==
          "{\"time\":\"2026-12-04T18:30:00.123Z\",\"request_id\":\"abc\",\"client\":\"127.0.0.1\","
          "\"method\":\"GET\",\"path\":\"/orders?x=1\",\"protocol\":\"HTTP/1.1\",\"status\":200,"
          "\"duration_ms\":1.234,\"upstream_ms\":0.900,\"bytes_in\":0,\"bytes_out\":123,"
          "\"route\":\"default\",\"provider\":\"corp\",\"subject\":\"alice\","
          "\"outcome\":\"allowed\"}\n");

    AccessLogEntry aborted;
    aborted.client = "::1";
    aborted.aborted = true;
    line.clear();
    formatAccessLine(line, aborted);
    CHECK(line == "{\"client\":\"::1\",\"status\":0,\"bytes_in\":0,\"bytes_out\":0,"
                  "\"aborted\":true}\n");
  }

  TEST_CASE("hostile bytes in a field stay inside one JSON string") {
    AccessLogEntry entry;
    entry.path = "/a\"b\\c\n{\"x\":1}\xff\x01";
    std::string line;
    formatAccessLine(line, entry);
    CHECK(line.find('\n') == line.size() - 1);
    CHECK(line.find("\"path\":\"/a\\\"b\\\\c\\u000a{\\\"x\\\":1}\xef\xbf\xbd\\u0001\"") !=
          std::string::npos);
  }

  TEST_CASE("the clock's text is UTC with milliseconds and follows the monotonic time") {
    LogClock clock;
    timespec real{};
    timespec mono{};
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    uint64_t now = static_cast<uint64_t>(mono.tv_sec) * 1'000'000'000u +
                   static_cast<uint64_t>(mono.tv_nsec);
    std::string text(clock.format(now));
    REQUIRE(text.size() == LogClock::kTextLength);
    CHECK(text[4] == '-');
    CHECK(text[10] == 'T');
    CHECK(text[19] == '.');
    CHECK(text.back() == 'Z');

    // The date part is today's (unless the test runs across midnight UTC).
    time_t seconds = real.tv_sec;
    tm parts{};
    gmtime_r(&seconds, &parts);
    CHECK(text.substr(0, 4) == std::to_string(parts.tm_year + 1900));

    // 1.5 s later: the seconds move on and the milliseconds are those of the new time.
    std::string later(clock.format(now + 1'500'000'000u));
    CHECK(later != text);
    int ms_now = std::stoi(text.substr(20, 3));
    int ms_later = std::stoi(later.substr(20, 3));
    CHECK((ms_now + 500) % 1000 == ms_later);
  }
}

}  // namespace jwtgate::proxy

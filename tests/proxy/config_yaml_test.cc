// The proxy's configuration section: defaults, values, and errors that name file and line.
#include "proxy/config_yaml.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace jwtgate::proxy {
namespace {

Result<ProxyConfig, ConfigError> parse(const std::string& text) {
  return parseProxySettings(YAML::Load(text), "test.yaml");
}

// Expects a failure at `line` whose message contains `fragment`.
void expectError(const std::string& text, int line, const std::string& fragment) {
  auto parsed = parse(text);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().file == "test.yaml");
  CHECK(parsed.error().line == line);
  CHECK(parsed.error().message.find(fragment) != std::string::npos);
  CHECK(parsed.error().toString().rfind("test.yaml:" + std::to_string(line) + ": ", 0) == 0);
}

}  // namespace

TEST_SUITE("proxy/config_yaml") {
  TEST_CASE("a minimal file gets the documented defaults") {
    auto parsed = parse("listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\n");
    REQUIRE(parsed.ok());
    const ProxyConfig& config = *parsed;
    REQUIRE(config.listen.size() == 1);
    CHECK(config.listen[0].text == "127.0.0.1:8080");
    CHECK(config.upstream.text == "127.0.0.1:3000");
    CHECK(config.workers == 1);
    CHECK_FALSE(config.trust_forwarded);
    CHECK(config.limits.max_header_bytes == 32 * 1024);
    CHECK(config.limits.max_header_count == 100);
    CHECK(config.limits.max_body_bytes == 0);
    CHECK(config.limits.max_connections == 10000);
    CHECK(config.limits.max_idle_upstream == 64);
    CHECK(config.limits.upgrade_protocols == std::vector<std::string>{"websocket"});
    CHECK(config.timeouts.request_header_ms == 10'000);
    CHECK(config.timeouts.client_idle_ms == 60'000);
    CHECK(config.timeouts.upstream_connect_ms == 2'000);
    CHECK(config.timeouts.upstream_response_ms == 30'000);
    CHECK(config.timeouts.drain_ms == 15'000);
  }

  TEST_CASE("every documented key is read") {
    auto parsed = parse(
        "listen: [127.0.0.1:0, '[::1]:0']\n"
        "upstream: unix:/tmp/app.sock\n"
        "workers: 3\n"
        "trust_forwarded: true\n"
        "limits:\n"
        "  max_header_bytes: 16KiB\n"
        "  max_header_count: 50\n"
        "  max_body_bytes: 10MiB\n"
        "  max_connections: 500\n"
        "  max_idle_upstream: 0\n"
        "timeouts:\n"
        "  request_header: 500ms\n"
        "  client_idle: 5m\n"
        "  upstream_connect: 1s\n"
        "  upstream_response: 1h\n"
        "  drain: 0\n");
    REQUIRE(parsed.ok());
    const ProxyConfig& config = *parsed;
    CHECK(config.listen.size() == 2);
    CHECK(config.upstream.kind == UpstreamAddress::Kind::Unix);
    CHECK(config.workers == 3);
    CHECK(config.trust_forwarded);
    CHECK(config.limits.max_header_bytes == 16384);
    CHECK(config.limits.max_header_count == 50);
    CHECK(config.limits.max_body_bytes == 10485760);
    CHECK(config.limits.max_connections == 500);
    CHECK(config.limits.max_idle_upstream == 0);
    CHECK(config.timeouts.request_header_ms == 500);
    CHECK(config.timeouts.client_idle_ms == 300'000);
    CHECK(config.timeouts.upstream_connect_ms == 1000);
    CHECK(config.timeouts.upstream_response_ms == 3'600'000);
    CHECK(config.timeouts.drain_ms == 0);
  }

  TEST_CASE("empty limits and timeouts sections keep the defaults") {
    auto parsed = parse("listen: 127.0.0.1:1\nupstream: 127.0.0.1:2\nlimits:\ntimeouts:\n");
    REQUIRE(parsed.ok());
    CHECK(parsed->limits.max_header_count == 100);
  }

  TEST_CASE("errors name the line of the offending key or value") {
    const std::string head = "listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\n";
    expectError(head + "limits:\n  max_header_bytes: 32KB\n", 4, "max_header_bytes");
    expectError(head + "limits:\n  max_body_bytes: 1\n  max_bodybytes: 2\n", 5,
                "unknown key 'max_bodybytes' in limits");
    expectError(head + "timeouts:\n  drain: 15\n", 4, "drain");
    expectError(head + "timeouts:\n\n  client_idel: 5s\n", 5,
                "unknown key 'client_idel' in timeouts");
    expectError(head + "workers: many\n", 3, "workers");
    expectError(head + "trust_forwarded: yes\n", 3, "true or false");
    expectError(head + "limits: 5\n", 3, "mapping");
    expectError(head + "limits:\n  max_header_count: 0\n", 4, "from 1");
    expectError(head + "limits:\n  max_header_bytes: 100\n", 4, "from 1024");
    expectError(head + "timeouts:\n  drain: 5s\n  drain: 6s\n", 5, "duplicate key 'drain'");
    expectError("listen: 127.0.0.1\nupstream: 127.0.0.1:3000\n", 1, "listen");
    expectError("listen: []\nupstream: 127.0.0.1:3000\n", 1, "empty");
    expectError("listen:\n  - 127.0.0.1:1\n  - nowhere:2\nupstream: 127.0.0.1:3000\n", 3,
                "numeric");
    expectError("listen: 127.0.0.1:1\nupstream: [127.0.0.1:3000]\n", 2, "single value");
  }

  TEST_CASE("listen and upstream are required") {
    auto missing_upstream = parse("listen: 127.0.0.1:8080\n");
    REQUIRE_FALSE(missing_upstream.ok());
    CHECK(missing_upstream.error().message.find("upstream") != std::string::npos);
    auto missing_listen = parse("upstream: 127.0.0.1:8080\n");
    REQUIRE_FALSE(missing_listen.ok());
    CHECK(missing_listen.error().message.find("listen") != std::string::npos);
  }

  TEST_CASE("unknown keys of any mapping are reported with their line") {
    YAML::Node node = YAML::Load("a: 1\nb: 2\n\nzzz: 3\n");
    auto failed = checkMappingKeys(node, {"a", "b"}, "f.yaml", "section");
    REQUIRE(failed.has_value());
    CHECK(failed->line == 4);
    CHECK(failed->toString() == "f.yaml:4: unknown key 'zzz' in section");
    CHECK_FALSE(checkMappingKeys(node, {"a", "b", "zzz"}, "f.yaml", "section").has_value());
    CHECK_FALSE(checkMappingKeys(YAML::Load("~"), {"a"}, "f.yaml", "section").has_value());
  }

  TEST_CASE("upgrade_protocols is a list of protocol names, kept in lower case") {
    const std::string head = "listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\nlimits:\n";
    auto parsed = parse(head + "  upgrade_protocols: [WebSocket, h2c]\n");
    REQUIRE(parsed.ok());
    CHECK(parsed->limits.upgrade_protocols == std::vector<std::string>{"websocket", "h2c"});

    parsed = parse(head + "  upgrade_protocols: []\n");
    REQUIRE(parsed.ok());
    CHECK(parsed->limits.upgrade_protocols.empty());

    expectError(head + "  upgrade_protocols: websocket\n", 4, "expected a list");
    expectError(head + "  upgrade_protocols: [\"web socket\"]\n", 4, "not a protocol name");
    expectError(head + "  upgrade_protocols: [websocket/13]\n", 4, "not a protocol name");
    expectError(head + "  upgrade_protocols: [[a]]\n", 4, "expected a single value");
  }

  TEST_CASE("the proxy's top-level keys are published for the file loader") {
    const auto& keys = proxyTopLevelKeys();
    for (std::string_view key :
         {"listen", "upstream", "workers", "trust_forwarded", "limits", "timeouts",
          "access_log"}) {
      CAPTURE(key);
      CHECK(std::find(keys.begin(), keys.end(), key) != keys.end());
    }
    CHECK(keys.size() == 7);
  }

  TEST_CASE("access_log and shutdown_grace default to stdout, sub, 1 MiB and no grace") {
    auto parsed = parse("listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\n");
    REQUIRE(parsed.ok());
    CHECK(parsed->access_log.output == AccessLogSettings::Output::Stdout);
    CHECK(parsed->access_log.subject_claim == "sub");
    CHECK(parsed->access_log.secret_claims.empty());
    CHECK(parsed->access_log.buffer_bytes == 1024 * 1024);
    CHECK(parsed->timeouts.shutdown_grace_ms == 0);

    auto empty = parse("listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\naccess_log:\n");
    REQUIRE(empty.ok());
    CHECK(empty->access_log.output == AccessLogSettings::Output::Stdout);
    CHECK(empty->access_log.buffer_bytes == 1024 * 1024);
  }

  TEST_CASE("every access_log key and shutdown_grace are read") {
    auto parsed = parse(
        "listen: 127.0.0.1:8080\n"
        "upstream: 127.0.0.1:3000\n"
        "timeouts:\n"
        "  shutdown_grace: 5s\n"
        "access_log:\n"
        "  output: stderr\n"
        "  subject_claim: user.email\n"
        "  secret_claims: [email, address.street]\n"
        "  buffer: 256KiB\n");
    REQUIRE(parsed.ok());
    CHECK(parsed->timeouts.shutdown_grace_ms == 5000);
    CHECK(parsed->access_log.output == AccessLogSettings::Output::Stderr);
    CHECK(parsed->access_log.subject_claim == "user.email");
    CHECK(parsed->access_log.secret_claims ==
          std::vector<std::string>{"email", "address.street"});
    CHECK(parsed->access_log.buffer_bytes == 256 * 1024);

    const std::string head = "listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\naccess_log:\n";
    auto off = parse(head + "  output: off\n  subject_claim: ''\n");
    REQUIRE(off.ok());
    CHECK(off->access_log.output == AccessLogSettings::Output::Off);
    CHECK(off->access_log.subject_claim.empty());
    auto null_subject = parse(head + "  subject_claim:\n");
    REQUIRE(null_subject.ok());
    CHECK(null_subject->access_log.subject_claim.empty());
  }

  TEST_CASE("access_log and shutdown_grace errors name their line") {
    const std::string head = "listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\naccess_log:\n";
    expectError(head + "  output: file\n", 4, "expected stdout, stderr or off");
    expectError(head + "  output: [stdout]\n", 4, "expected a single value");
    expectError(head + "  buffer: 1MB\n", 4, "KiB, MiB or GiB");
    expectError(head + "  buffer: 1KiB\n", 4, "must be from 65536");
    expectError(head + "  buffer: 2GiB\n", 4, "must be from");
    expectError(head + "  secret_claims: email\n", 4, "expected a list of claim paths");
    expectError(head + "  secret_claims: [email, '']\n", 4, "invalid claim path");
    expectError(head + "  subject_claim: [sub]\n", 4, "expected a single value");
    expectError(head + "  output: stdout\n  format: json\n", 5,
                "unknown key 'format' in access_log");
    expectError(head + "  output: stdout\n  output: stderr\n", 5, "duplicate key 'output'");
    expectError("listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\naccess_log: stdout\n", 3,
                "access_log: expected a mapping");
    expectError("listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\ntimeouts:\n"
                "  shutdown_grace: 30\n",
                4, "shutdown_grace");
    expectError("listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\ntimeouts:\n"
                "  shutdown_grace: 2d\n",
                4, "the unit must be");
  }
}

}  // namespace jwtgate::proxy

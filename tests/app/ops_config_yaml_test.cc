#include "app/ops_config_yaml.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "app/config_file.h"

namespace jwtgate::app {
namespace {

// A proxy-only file (auth: off) with `extra` appended at the top level.
std::string configWith(std::string_view extra, std::string_view listen = "127.0.0.1:8080") {
  return "listen: " + std::string(listen) +
         "\n"
         "upstream: 127.0.0.1:3000\n"
         "auth: off\n" +
         std::string(extra);
}

Config parseOk(const std::string& text) {
  auto config = parseConfigText(text, "ops.yaml");
  if (!config) {
    FAIL("refused: " << config.error().toString());
  }
  return std::move(config).value();
}

proxy::ConfigError parseFails(const std::string& text) {
  auto config = parseConfigText(text, "ops.yaml");
  if (config) {
    FAIL("accepted: " << text);
  }
  return config.error();
}

TEST_SUITE("app/ops_config_yaml") {
  TEST_CASE("a file without the operational sections gets the defaults") {
    const Config config = parseOk(configWith(""));
    REQUIRE(config.ops.admin_listen.has_value());
    CHECK(config.ops.admin_listen->text == kDefaultAdminListen);
    CHECK((config.ops.log_level == observe::Level::Info));
    CHECK(config.ops.watch);
    CHECK(config.ops.debounce_ms == kDefaultReloadDebounceMs);
  }

  TEST_CASE("every log level is read") {
    const struct {
      const char* text;
      observe::Level level;
    } rows[] = {{"debug", observe::Level::Debug},
                {"info", observe::Level::Info},
                {"warn", observe::Level::Warn},
                {"error", observe::Level::Error}};
    for (const auto& row : rows) {
      CAPTURE(row.text);
      const Config config = parseOk(configWith(std::string("log_level: ") + row.text + "\n"));
      CHECK((config.ops.log_level == row.level));
    }
  }

  TEST_CASE("a bad log level names its line") {
    for (const char* text : {"verbose", "INFO", "[info]", "\"\""}) {
      CAPTURE(text);
      const proxy::ConfigError error =
          parseFails(configWith(std::string("log_level: ") + text + "\n"));
      CHECK(error.file == "ops.yaml");
      CHECK(error.line == 4);
      CHECK(error.message.find("log_level") != std::string::npos);
    }
  }

  TEST_CASE("the admin listener is an address or off") {
    const Config on = parseOk(configWith("admin:\n  listen: 127.0.0.1:9901\n"));
    REQUIRE(on.ops.admin_listen.has_value());
    CHECK(on.ops.admin_listen->text == "127.0.0.1:9901");
    const Config v6 = parseOk(configWith("admin: {listen: \"[::1]:9901\"}\n"));
    REQUIRE(v6.ops.admin_listen.has_value());
    CHECK(v6.ops.admin_listen->address.ss_family == AF_INET6);
    const Config off = parseOk(configWith("admin: {listen: off}\n"));
    CHECK_FALSE(off.ops.admin_listen.has_value());
  }

  TEST_CASE("a bad admin section is refused with its line") {
    const struct {
      const char* text;
      int line;
      const char* words;
    } rows[] = {
        {"admin:\n  listen: localhost:9901\n", 5, "admin.listen"},
        {"admin:\n  listen: 127.0.0.1\n", 5, "admin.listen"},
        {"admin:\n  listen: [a, b]\n", 5, "admin.listen"},
        {"admin:\n  listen: 127.0.0.1:9901\n  port: 3\n", 6, "port"},
        {"admin:\n  bind: 127.0.0.1:9901\n", 5, "bind"},
        {"admin: 127.0.0.1:9901\n", 4, "admin"},
        {"admin: {}\n", 4, "listen"},
    };
    for (const auto& row : rows) {
      CAPTURE(row.text);
      const proxy::ConfigError error = parseFails(configWith(row.text));
      CHECK(error.line == row.line);
      CHECK(error.message.find(row.words) != std::string::npos);
    }
  }

  TEST_CASE("the reload section sets watching and the debounce") {
    const Config config = parseOk(configWith("reload:\n  watch: false\n  debounce: 1s\n"));
    CHECK_FALSE(config.ops.watch);
    CHECK(config.ops.debounce_ms == 1000);
    const Config only_debounce = parseOk(configWith("reload: {debounce: 50ms}\n"));
    CHECK(only_debounce.ops.watch);
    CHECK(only_debounce.ops.debounce_ms == 50);
  }

  TEST_CASE("a bad reload section is refused with its line") {
    const struct {
      const char* text;
      int line;
      const char* words;
    } rows[] = {
        {"reload:\n  watch: yes\n", 5, "reload.watch"},
        {"reload:\n  watch: 1\n", 5, "reload.watch"},
        {"reload:\n  debounce: 250\n", 5, "reload.debounce"},
        {"reload:\n  debounce: 5ms\n", 5, "reload.debounce"},
        {"reload:\n  debounce: 2m\n", 5, "reload.debounce"},
        {"reload:\n  interval: 1s\n", 5, "interval"},
        {"reload: true\n", 4, "reload"},
    };
    for (const auto& row : rows) {
      CAPTURE(row.text);
      const proxy::ConfigError error = parseFails(configWith(row.text));
      CHECK(error.line == row.line);
      CHECK(error.message.find(row.words) != std::string::npos);
    }
  }

  TEST_CASE("each operational section may appear once") {
    const proxy::ConfigError error = parseFails(configWith("log_level: info\nlog_level: warn\n"));
    CHECK(error.line == 5);
  }

  TEST_CASE("the admin listener may not share a traffic listener's socket") {
    const struct {
      const char* listen;
      const char* admin;
    } clashes[] = {
        {"127.0.0.1:8080", "127.0.0.1:8080"},
        {"0.0.0.0:8080", "127.0.0.1:8080"},
        {"127.0.0.1:8080", "0.0.0.0:8080"},
        {"\"[::]:8080\"", "127.0.0.1:8080"},
        {"\"[::1]:8080\"", "\"[::1]:8080\""},
        {"[127.0.0.1:9000, \"[::1]:8080\"]", "\"[::]:8080\""},
        {"127.0.0.1:8080", "\"[::ffff:127.0.0.1]:8080\""},
    };
    for (const auto& row : clashes) {
      CAPTURE(row.listen);
      CAPTURE(row.admin);
      const proxy::ConfigError error =
          parseFails(configWith(std::string("admin:\n  listen: ") + row.admin + "\n", row.listen));
      CHECK(error.line == 5);
      CHECK(error.message.find("admin.listen") != std::string::npos);
    }
  }

  TEST_CASE("an admin listener on its own port or address is accepted") {
    const struct {
      const char* listen;
      const char* admin;
    } apart[] = {
        {"127.0.0.1:8080", "127.0.0.1:9901"}, {"127.0.0.1:8080", "127.0.0.2:8080"},
        {"\"[::1]:8080\"", "127.0.0.1:8080"}, {"127.0.0.1:0", "127.0.0.1:0"},
        {"0.0.0.0:8080", "0.0.0.0:9901"},
    };
    for (const auto& row : apart) {
      CAPTURE(row.listen);
      CAPTURE(row.admin);
      parseOk(configWith(std::string("admin:\n  listen: ") + row.admin + "\n", row.listen));
    }
  }

  TEST_CASE("unknown top-level keys are still refused beside the operational ones") {
    const proxy::ConfigError error = parseFails(configWith("log_level: info\nlogging: x\n"));
    CHECK(error.line == 5);
    CHECK(error.message.find("logging") != std::string::npos);
  }
}

}  // namespace
}  // namespace jwtgate::app

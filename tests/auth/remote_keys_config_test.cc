// A provider's remote-key settings as the YAML configuration gives them.
#include "auth/remote_keys_config.h"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <string>

namespace jwtgate::auth {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Loaded {
  proxy::ConfigCheck error;
  RemoteKeySettings settings;
};

Loaded load(const std::string& text, std::optional<std::string> issuer = std::nullopt) {
  Loaded out;
  out.error =
      readRemoteKeySettings(YAML::Load(text), "test.yaml", "corp", issuer, "/etc", out.settings);
  return out;
}

TEST_SUITE("auth/remote_keys_config") {
  TEST_CASE("a provider without remote keys has no sources") {
    Loaded loaded = load("keys: {file: x}\n");
    REQUIRE_FALSE(loaded.error);
    CHECK_FALSE(loaded.settings.configured());
  }

  TEST_CASE("jwks_uri and discovery give sources with the documented defaults") {
    Loaded loaded =
        load("discovery: true\njwks_uri: https://id.example/keys\n", "https://id.example");
    REQUIRE_FALSE(loaded.error);
    const jwks::RemoteKeysSpec& spec = loaded.settings.spec;
    REQUIRE(spec.sources.size() == 2);
    CHECK(spec.sources[0].kind == jwks::SourceKind::Discovery);
    CHECK(spec.sources[0].url == "https://id.example");
    CHECK(spec.sources[1].kind == jwks::SourceKind::JwksUri);
    CHECK(spec.sources[1].url == "https://id.example/keys");
    CHECK(spec.provider == "corp");
    CHECK_FALSE(spec.fetch.allow_insecure);
    CHECK(spec.fetch.ca_file.empty());
    CHECK(spec.fetch.max_redirects == 3);
    CHECK(spec.fetch.max_body_bytes == 1024 * 1024);
    CHECK(spec.refresh.lifetime.minimum == seconds(300));
    CHECK(spec.refresh.lifetime.maximum == seconds(86400));
    CHECK(spec.refresh.stale_window == seconds(6 * 3600));
    CHECK(spec.refresh.refetch_cooldown == milliseconds(30000));
    CHECK(spec.refresh.wait_timeout == milliseconds(5000));
    CHECK(spec.refresh.retry.initial == milliseconds(1000));
    CHECK(spec.refresh.retry.maximum == milliseconds(300000));
    CHECK(loaded.settings.unavailable_status == 401);
  }

  TEST_CASE("every tuning member is read") {
    Loaded loaded = load(
        "jwks_uri: http://127.0.0.1:9/jwks\n"
        "allow_insecure: true\n"
        "ca_file: /dev/null\n"
        "remote_keys:\n"
        "  cache_min: 1s\n  cache_max: 2m\n  stale_window: 3s\n  refetch_cooldown: 10s\n"
        "  wait_timeout: 250ms\n  connect_timeout: 1s\n  timeout: 2s\n  max_redirects: 0\n"
        "  max_bytes: 64KiB\n  retry_initial: 100ms\n  retry_max: 1s\n"
        "  unavailable_status: 503\n");
    REQUIRE_FALSE(loaded.error);
    const jwks::RemoteKeysSpec& spec = loaded.settings.spec;
    CHECK(spec.fetch.allow_insecure);
    CHECK(spec.fetch.ca_file == "/dev/null");
    CHECK(spec.refresh.lifetime.minimum == seconds(1));
    CHECK(spec.refresh.lifetime.maximum == seconds(120));
    CHECK(spec.refresh.stale_window == seconds(3));
    CHECK(spec.refresh.refetch_cooldown == milliseconds(10000));
    CHECK(spec.refresh.wait_timeout == milliseconds(250));
    CHECK(spec.fetch.connect_timeout == milliseconds(1000));
    CHECK(spec.fetch.total_timeout == milliseconds(2000));
    CHECK(spec.fetch.max_redirects == 0);
    CHECK(spec.fetch.max_body_bytes == 64 * 1024);
    CHECK(spec.refresh.retry.initial == milliseconds(100));
    CHECK(spec.refresh.retry.maximum == milliseconds(1000));
    CHECK(loaded.settings.unavailable_status == 503);
  }

  TEST_CASE("bad settings are refused with the line and the reason") {
    struct Row {
      const char* yaml;
      const char* issuer;
      const char* message;
    };
    const Row rows[] = {
        {"jwks_uri: http://127.0.0.1/jwks\n", nullptr, "allow_insecure"},
        {"jwks_uri: file:///etc/passwd\n", nullptr, "expected an https:// URL"},
        {"jwks_uri: file:///etc/passwd\nallow_insecure: true\n", nullptr, "https://"},
        {"jwks_uri: \"\"\n", nullptr, "must not be empty"},
        {"discovery: true\n", nullptr, "needs the provider's issuer"},
        {"discovery: true\n", "http://127.0.0.1:9", "allow_insecure"},
        {"discovery: yes\n", "https://id.example", "expected true or false"},
        {"remote_keys: {cache_min: 1s}\n", nullptr, "needs jwks_uri or discovery"},
        {"ca_file: /dev/null\n", nullptr, "apply to jwks_uri or discovery only"},
        {"jwks_uri: https://x.example/k\nca_file: /no/such/file\n", nullptr, "cannot read"},
        {"jwks_uri: https://x.example/k\nremote_keys: {cache_min: 30}\n", nullptr, "cache_min"},
        {"jwks_uri: https://x.example/k\nremote_keys: {cache_min: 10m, cache_max: 1m}\n", nullptr,
         "cache_max must not be below cache_min"},
        {"jwks_uri: https://x.example/k\nremote_keys: {retry_initial: 1m, retry_max: 1s}\n",
         nullptr, "retry_max must not be below"},
        {"jwks_uri: https://x.example/k\nremote_keys: {timeout: 1h}\n", nullptr, "out of range"},
        {"jwks_uri: https://x.example/k\nremote_keys: {max_redirects: 11}\n", nullptr, "0 to 10"},
        {"jwks_uri: https://x.example/k\nremote_keys: {max_redirects: -1}\n", nullptr, "0 to 10"},
        {"jwks_uri: https://x.example/k\nremote_keys: {max_bytes: 1GiB}\n", nullptr, "16MiB"},
        {"jwks_uri: https://x.example/k\nremote_keys: {unavailable_status: 500}\n", nullptr,
         "401 or 503"},
        {"jwks_uri: https://x.example/k\nremote_keys: {colour: red}\n", nullptr, "colour"},
    };
    for (const Row& row : rows) {
      CAPTURE(std::string(row.yaml));
      Loaded loaded =
          load(row.yaml, row.issuer ? std::optional<std::string>(row.issuer) : std::nullopt);
      REQUIRE(loaded.error.has_value());
      CHECK(loaded.error->message.find(row.message) != std::string::npos);
      CHECK(loaded.error->line >= 1);
    }
  }

  TEST_CASE("a relative ca_file is taken from the configuration's directory") {
    Loaded loaded = load("jwks_uri: https://x.example/k\nca_file: passwd\n");
    REQUIRE_FALSE(loaded.error);
    CHECK(loaded.settings.spec.fetch.ca_file == "/etc/passwd");
  }
}

}  // namespace
}  // namespace jwtgate::auth

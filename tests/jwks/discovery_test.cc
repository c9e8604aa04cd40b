// OpenID configuration documents: the issuer check and the jwks_uri they name.
#include "jwks/discovery.h"

#include <doctest/doctest.h>

#include <string>

namespace jwtgate::jwks {
namespace {

TEST_SUITE("jwks/discovery") {
  TEST_CASE("the configuration URL is the issuer plus the well-known path") {
    CHECK(discoveryUrl("https://id.example") ==
          "https://id.example/.well-known/openid-configuration");
    CHECK(discoveryUrl("https://id.example/") ==
          "https://id.example/.well-known/openid-configuration");
    CHECK(discoveryUrl("https://id.example/tenant/") ==
          "https://id.example/tenant/.well-known/openid-configuration");
  }

  TEST_CASE("a document of the configured issuer yields its jwks_uri") {
    auto uri = jwksUriFromDiscovery(
        R"({"issuer":"https://id.example","jwks_uri":"https://id.example/jwks",)"
        R"("token_endpoint":"https://id.example/token","scopes":["a","b"],"x":{"y":1}})",
        "https://id.example", false);
    REQUIRE(uri.ok());
    CHECK(*uri == "https://id.example/jwks");
  }

  TEST_CASE("the issuer must match byte for byte") {
    const char* issuers[] = {"https://id.example/",      "https://ID.example",
                             "http://id.example",        "https://id.example ",
                             "https://id.example/other", "https://id.exampl"};
    for (const char* issuer : issuers) {
      CAPTURE(std::string(issuer));
      std::string document =
          std::string(R"({"issuer":")") + issuer + R"(","jwks_uri":"https://id.example/jwks"})";
      auto uri = jwksUriFromDiscovery(document, "https://id.example", false);
      REQUIRE_FALSE(uri.ok());
      CHECK(uri.error().find("another issuer") != std::string::npos);
    }
  }

  TEST_CASE("escaped issuers compare after unescaping") {
    auto uri = jwksUriFromDiscovery(
        R"({"issuer":"https:\/\/id.example","jwks_uri":"https:\/\/id.example\/jwks"})",
        "https://id.example", false);
    REQUIRE(uri.ok());
    CHECK(*uri == "https://id.example/jwks");
  }

  TEST_CASE("documents that are not a strict configuration are refused") {
    struct Row {
      const char* document;
      const char* message;
    };
    const Row rows[] = {
        {"", "not a strict JSON object"},
        {"[]", "not a strict JSON object"},
        {"{\"issuer\":", "not a strict JSON object"},
        {R"({"issuer":"https://id.example","issuer":"https://id.example",)"
         R"("jwks_uri":"https://id.example/jwks"})",
         "not a strict JSON object"},
        {R"({"jwks_uri":"https://id.example/jwks"})", "no issuer string"},
        {R"({"issuer":7,"jwks_uri":"https://id.example/jwks"})", "no issuer string"},
        {R"({"issuer":"https://id.example"})", "no jwks_uri"},
        {R"({"issuer":"https://id.example","jwks_uri":["https://x"]})", "no jwks_uri"},
        {R"({"issuer":"https://id.example","jwks_uri":""})", "no jwks_uri"},
        {R"({"issuer":"https://id.example","jwks_uri":"http://id.example/jwks"})",
         "not an https URL"},
        {R"({"issuer":"https://id.example","jwks_uri":"file:///etc/passwd"})", "not an https URL"},
        {R"({"issuer":"https://id.example","jwks_uri":"/jwks"})", "not an https URL"},
        {R"({"issuer":"https://id.example","jwks_uri":"https://"})", "not an https URL"},
    };
    for (const Row& row : rows) {
      CAPTURE(std::string(row.document));
      auto uri = jwksUriFromDiscovery(row.document, "https://id.example", false);
      REQUIRE_FALSE(uri.ok());
      CHECK(uri.error().find(row.message) != std::string::npos);
    }
  }

  TEST_CASE("http jwks_uri is accepted only when insecure is allowed") {
    const char* document = R"({"issuer":"http://127.0.0.1:9","jwks_uri":"http://127.0.0.1:9/k"})";
    CHECK_FALSE(jwksUriFromDiscovery(document, "http://127.0.0.1:9", false).ok());
    auto uri = jwksUriFromDiscovery(document, "http://127.0.0.1:9", true);
    REQUIRE(uri.ok());
    CHECK(*uri == "http://127.0.0.1:9/k");
    CHECK_FALSE(
        jwksUriFromDiscovery(R"({"issuer":"http://127.0.0.1:9","jwks_uri":"ftp://127.0.0.1/k"})",
                             "http://127.0.0.1:9", true)
            .ok());
  }

  TEST_CASE("every truncation of a valid document is refused without crashing") {
    const std::string document =
        R"({"issuer":"https://id.example","jwks_uri":"https://id.example/jwks"})";
    for (std::size_t length = 0; length < document.size(); ++length) {
      CAPTURE(length);
      CHECK_FALSE(
          jwksUriFromDiscovery(document.substr(0, length), "https://id.example", false).ok());
    }
  }
}

}  // namespace
}  // namespace jwtgate::jwks

#include "auth/bearer_response.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace jwtgate::auth {
namespace {

struct ResponseCase {
  std::string_view what;
  RefusalInput input;
  int status;
  std::string_view challenge;  // Empty: no WWW-Authenticate header.
  std::string_view body;
};

TEST_SUITE("auth/bearer_response") {
  TEST_CASE("each refusal has its exact status, challenge and body") {
    const std::vector<std::string> scopes = {"read:orders", "write:orders"};
    const ResponseCase cases[] = {
        {"no credential",
         {Refusal::MissingToken, "", {}},
         401,
         "Bearer realm=\"api\"",
         "{\"error\":\"missing_token\"}"},
        {"no credential, described",
         {Refusal::MissingToken, "a bearer token is required", {}},
         401,
         "Bearer realm=\"api\"",
         "{\"error\":\"missing_token\",\"error_description\":\"a bearer token is required\"}"},
        {"bad token",
         {Refusal::InvalidToken, "The token expired", {}},
         401,
         "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The token expired\"",
         "{\"error\":\"invalid_token\",\"error_description\":\"The token expired\"}"},
        {"bad token, no description",
         {Refusal::InvalidToken, "", {}},
         401,
         "Bearer realm=\"api\", error=\"invalid_token\"",
         "{\"error\":\"invalid_token\"}"},
        {"scope",
         {Refusal::InsufficientScope, "missing scope", scopes},
         403,
         "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"missing scope\","
         " scope=\"read:orders write:orders\"",
         "{\"error\":\"insufficient_scope\",\"error_description\":\"missing scope\"}"},
        {"scope without a list",
         {Refusal::InsufficientScope, "", {}},
         403,
         "Bearer realm=\"api\", error=\"insufficient_scope\"",
         "{\"error\":\"insufficient_scope\"}"},
        {"invalid request",
         {Refusal::InvalidRequest, "two credentials", {}},
         400,
         "Bearer realm=\"api\", error=\"invalid_request\", error_description=\"two credentials\"",
         "{\"error\":\"invalid_request\",\"error_description\":\"two credentials\"}"},
        {"bad target", {Refusal::BadTarget, "", {}}, 400, "", "{\"error\":\"bad_request\"}"},
        {"no route 404", {Refusal::NoRouteNotFound, "", {}}, 404, "", "{\"error\":\"no_route\"}"},
        {"no route 403", {Refusal::NoRouteForbidden, "", {}}, 403, "", "{\"error\":\"no_route\"}"},
        {"unavailable",
         {Refusal::Unavailable, "", {}},
         503,
         "",
         "{\"error\":\"temporarily_unavailable\"}"},
    };
    ResponseOptions options;
    options.realm = "api";
    HttpRefusal out;
    for (const ResponseCase& c : cases) {
      CAPTURE(c.what);
      buildRefusal(c.input, options, out);
      CHECK(out.status() == c.status);
      CHECK(out.wwwAuthenticate() == c.challenge);
      CHECK(out.body() == c.body);
      std::string lines = "Content-Type: application/json\r\nCache-Control: no-store\r\n";
      if (!c.challenge.empty()) {
        lines += "WWW-Authenticate: " + std::string(c.challenge) + "\r\n";
      }
      CHECK(out.headerLines() == lines);
    }
  }

  TEST_CASE("hostile descriptions cannot break out of the header or the JSON") {
    struct HostileCase {
      std::string_view description;
      std::string_view header_value;  // The quoted error_description as sent.
      std::string_view json_value;
    };
    const HostileCase cases[] = {
        {"say \"hi\"", "\"say ?hi?\"", "\"say \\u0022hi\\u0022\""},
        {"a\\b", "\"a?b\"", "\"a\\u005cb\""},
        {"x\r\nSet-Cookie: a=b", "\"x??Set-Cookie: a=b\"", "\"x\\u000d\\u000aSet-Cookie: a=b\""},
        {std::string_view("nul\0end", 7), "\"nul?end\"", "\"nul\\u0000end\""},
        {"caf\xc3\xa9", "\"caf??\"", "\"caf\\ufffd\\ufffd\""},
        {"tab\there\x7f", "\"tab?here?\"", "\"tab\\u0009here\\u007f\""},
        {"<script>&", "\"<script>&\"", "\"\\u003cscript\\u003e\\u0026\""},
    };
    HttpRefusal out;
    for (const HostileCase& c : cases) {
      CAPTURE(c.description);
      buildRefusal({Refusal::InvalidToken, c.description, {}}, {}, out);
      const std::string header =
          "Bearer realm=\"jwtgate\", error=\"invalid_token\", "
          "error_description=" +
          std::string(c.header_value);
      CHECK(out.wwwAuthenticate() == header);
      CHECK(out.body() == "{\"error\":\"invalid_token\",\"error_description\":" +
                              std::string(c.json_value) + "}");
      CHECK(out.headerLines().find("\r\n\r\n") == std::string_view::npos);
    }
  }

  TEST_CASE("every byte value is kept out of the header unless RFC 6750 allows it") {
    HttpRefusal out;
    for (int byte = 0; byte < 256; ++byte) {
      CAPTURE(byte);
      const char c = static_cast<char>(byte);
      const std::string description(1, c);
      buildRefusal({Refusal::InvalidToken, description, {}}, {}, out);
      const bool allowed = byte == 0x20 || byte == 0x21 || (byte >= 0x23 && byte <= 0x5B) ||
                           (byte >= 0x5D && byte <= 0x7E);
      const std::string expected = allowed ? description : "?";
      CHECK(out.wwwAuthenticate().ends_with("error_description=\"" + expected + "\""));
    }
  }

  TEST_CASE("long descriptions are cut") {
    const std::string description(1000, 'x');
    HttpRefusal out;
    buildRefusal({Refusal::InvalidToken, description, {}}, {}, out);
    const std::string cut(HttpRefusal::kMaxDescription, 'x');
    CHECK(out.wwwAuthenticate().ends_with("error_description=\"" + cut + "\""));
    CHECK(out.body() == "{\"error\":\"invalid_token\",\"error_description\":\"" + cut + "\"}");
  }

  TEST_CASE("descriptions can be turned off everywhere") {
    ResponseOptions options;
    options.include_descriptions = false;
    const std::vector<std::string> scopes = {"admin"};
    HttpRefusal out;
    buildRefusal({Refusal::InsufficientScope, "needs admin", scopes}, options, out);
    CHECK(out.wwwAuthenticate() ==
          "Bearer realm=\"jwtgate\", error=\"insufficient_scope\", scope=\"admin\"");
    CHECK(out.body() == "{\"error\":\"insufficient_scope\"}");
    buildRefusal({Refusal::InvalidToken, "expired", {}}, options, out);
    CHECK(out.wwwAuthenticate() == "Bearer realm=\"jwtgate\", error=\"invalid_token\"");
    CHECK(out.body().find("description") == std::string_view::npos);
  }

  TEST_CASE("unsafe realm and scope bytes are neutralised") {
    ResponseOptions options;
    options.realm = "a\"b\r\n";
    const std::vector<std::string> scopes = {"ok", "bad\"one", "\"", "sp ace"};
    HttpRefusal out;
    buildRefusal({Refusal::InsufficientScope, "", scopes}, options, out);
    CHECK(out.wwwAuthenticate() ==
          "Bearer realm=\"a?b??\", error=\"insufficient_scope\", scope=\"ok badone space\"");
  }

  TEST_CASE("a reused response does not keep parts of the previous one") {
    HttpRefusal out;
    buildRefusal({Refusal::InvalidToken, "first description", {}}, {}, out);
    buildRefusal({Refusal::NoRouteNotFound, "", {}}, {}, out);
    CHECK(out.status() == 404);
    CHECK(out.wwwAuthenticate().empty());
    CHECK(out.headerLines().find("WWW-Authenticate") == std::string_view::npos);
    CHECK(out.body() == "{\"error\":\"no_route\"}");
    CHECK(out.reason() == "Not Found");
  }

  TEST_CASE("verifier statuses map to their RFC 6750 refusal and description") {
    using verifier::Status;
    struct StatusCase {
      Status status;
      Refusal refusal;
    };
    const StatusCase cases[] = {
        {Status::Expired, Refusal::InvalidToken},
        {Status::SignatureInvalid, Refusal::InvalidToken},
        {Status::MalformedToken, Refusal::InvalidToken},
        {Status::InsufficientScope, Refusal::InsufficientScope},
    };
    for (const StatusCase& c : cases) {
      CAPTURE(verifier::toString(c.status));
      const RefusalInput input = refusalFor(c.status);
      CHECK(toString(input.refusal) == toString(c.refusal));
      CHECK(input.description == verifier::describe(c.status));
    }
  }

  TEST_CASE("a refusal fills the proxy's local reply, replacing what it held") {
    const std::vector<std::string> scopes = {"admin"};
    HttpRefusal refusal;
    buildRefusal({Refusal::InsufficientScope, "needs admin", scopes}, {}, refusal);
    proxy::LocalReply reply;
    reply.headers.emplace_back("X-Stale", "1");
    reply.body = "stale";
    fillLocalReply(refusal, reply);
    CHECK(reply.status == 403);
    CHECK(reply.content_type == "application/json");
    CHECK(reply.body == refusal.body());
    REQUIRE(reply.headers.size() == 2);
    CHECK(reply.headers[0] == std::pair<std::string, std::string>("Cache-Control", "no-store"));
    CHECK(reply.headers[1].first == "WWW-Authenticate");
    CHECK(reply.headers[1].second == refusal.wwwAuthenticate());

    buildRefusal({Refusal::NoRouteNotFound, "", {}}, {}, refusal);
    fillLocalReply(refusal, reply);
    CHECK(reply.status == 404);
    CHECK(reply.headers.size() == 1);
  }
}

}  // namespace
}  // namespace jwtgate::auth

// Claim paths, lookups, rendering for headers, and every claim check with its edges.
#include "verifier/claims.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/token_minter.h"
#include "verifier/policy.h"

namespace jwtgate::verifier {
namespace {

using testing::claimPath;
using testing::kTestNow;
using testing::name;
using testing::ParsedJson;

// Runs the registered-claims check on a payload given as JSON text.
Status registered(std::string_view payload, const Policy& policy, std::int64_t now = kTestNow) {
  const ParsedJson json(payload);
  REQUIRE_FALSE(json.error());
  return checkRegisteredClaims(json.claims(), policy, now);
}

// The default test policy without issuer and audience, to isolate the time claims.
Policy timePolicy() {
  Policy policy = testing::testPolicy();
  policy.issuer.reset();
  policy.audiences.clear();
  return policy;
}

std::string withExp(std::string_view exp_json) { return "{\"exp\":" + std::string(exp_json) + "}"; }

TEST_SUITE("verifier/claims") {
  TEST_CASE("claim paths parse bare, dotted and bracket-quoted segments") {
    struct Row {
      std::string_view spec;
      std::vector<std::string> segments;
    };
    const Row rows[] = {
        {"sub", {"sub"}},
        {"realm_access.roles", {"realm_access", "roles"}},
        {R"(["https://example.com/roles"])", {"https://example.com/roles"}},
        {R"(resource_access["my.app"].roles)", {"resource_access", "my.app", "roles"}},
        {R"(a.["b.c"])", {"a", "b.c"}},
        {R"(["a"]["b"])", {"a", "b"}},
        {R"(["quo\"te"].x)", {"quo\"te", "x"}},
        {R"(["back\\slash"])", {"back\\slash"}},
        {"https://example.com/x", {"https://example", "com/x"}},
    };
    for (const Row& row : rows) {
      CAPTURE(row.spec);
      const auto path = ClaimPath::parse(row.spec);
      REQUIRE(path);
      CHECK(path->segments() == row.segments);
      // toString() gives back a spelling that parses to the same path.
      const auto again = ClaimPath::parse(path->toString());
      REQUIRE(again);
      CHECK(*again == *path);
    }
  }

  TEST_CASE("malformed claim paths are refused with a message") {
    const std::string_view rejected[] = {
        "",    ".",      "a.", ".a",   "a..b",     "[",         "[\"a\"", "[\"a]",
        "[a]", "[\"\"]", "a]", "a\"b", "[\"a\"]b", "[\"\\n\"]", "a[b]",
    };
    for (const std::string_view spec : rejected) {
      CAPTURE(spec);
      const auto path = ClaimPath::parse(spec);
      REQUIRE_FALSE(path);
      CHECK_FALSE(path.error().empty());
    }
    CHECK_FALSE(ClaimPath::fromSegments({}));
    CHECK_FALSE(ClaimPath::fromSegments({"a", ""}));
    CHECK(ClaimPath::fromSegments({"https://x.test/roles", "a.b"}));
  }

  TEST_CASE("lookups descend nested objects and namespaced keys") {
    const ParsedJson json(R"({"realm_access":{"roles":["admin","user"]},)"
                          R"("https://example.com/roles":["ops"],)"
                          R"("resource_access":{"my.app":{"roles":["viewer"]}},"n":{"x":1}})");
    REQUIRE_FALSE(json.error());
    const ClaimsView claims = json.claims();
    CHECK(claims.find(claimPath("realm_access.roles"))->size() == 2);
    CHECK(claims.find(claimPath(R"(["https://example.com/roles"])"))->isArray());
    const auto viewer = claims.find(claimPath(R"(resource_access["my.app"].roles)"));
    REQUIRE(viewer);
    CHECK((*viewer->elements().begin()).string() == "viewer");
    const std::vector<std::string> split = {"resource_access", "my.app", "roles"};
    CHECK(claims.find(std::span<const std::string>(split)));
    CHECK_FALSE(claims.find(claimPath("realm_access.roles.admin")));
    CHECK_FALSE(claims.find(claimPath("n.x.y")));
    CHECK_FALSE(claims.find(claimPath("resource_access.my.app")));
    CHECK_FALSE(ClaimsView().find("sub"));
  }

  TEST_CASE("numbers keep their JSON text and convert on demand") {
    const ParsedJson json(R"({"i":42,"neg":-7,"f":12.50,"e":1e3,"big":1e400,"huge":)"
                          R"(123456789012345678901234567890})");
    REQUIRE_FALSE(json.error());
    const ClaimsView claims = json.claims();
    CHECK(claims.find("i")->integer() == 42);
    CHECK(claims.find("neg")->integer() == -7);
    CHECK(claims.find("f")->numberText() == "12.50");
    CHECK_FALSE(claims.find("f")->integer());
    CHECK(claims.find("e")->number() == 1000.0);
    CHECK_FALSE(claims.find("big")->number());
    CHECK_FALSE(claims.find("huge")->integer());
    CHECK(claims.find("huge")->number().has_value());
  }

  TEST_CASE("NumericDate edges") {
    struct Row {
      std::string_view json;
      std::optional<std::int64_t> seconds;
    };
    const Row rows[] = {
        {"0", 0},
        {"-0", 0},
        {"-0.0", 0},
        {"1700000000", 1700000000},
        {"1700000000.0", 1700000000},
        {"1700000000.25", 1700000001},  // rounded up: valid strictly before it
        {"1.7e9", 1700000000},
        {"1e3", 1000},
        {"1E3", 1000},
        {"253402300799", kMaxNumericDate},
        {"253402300800", std::nullopt},
        {"-1", std::nullopt},
        {"-0.5", std::nullopt},
        {"-1700000000", std::nullopt},
        {"1e19", std::nullopt},
        {"9223372036854775807", std::nullopt},
        {"9223372036854775808", std::nullopt},
        {"18446744073709551616", std::nullopt},
        {"1e400", std::nullopt},
        {"-1e400", std::nullopt},
        {"\"1700000000\"", std::nullopt},
        {"null", std::nullopt},
        {"true", std::nullopt},
        {"[1700000000]", std::nullopt},
        {"{}", std::nullopt},
    };
    for (const Row& row : rows) {
      CAPTURE(row.json);
      const ParsedJson json(withExp(row.json));
      REQUIRE_FALSE(json.error());
      CHECK(numericDate(*json.claims().find("exp")) == row.seconds);
    }
  }

  TEST_CASE("time claims at the leeway boundary, one second either side") {
    Policy policy = timePolicy();
    policy.leeway_seconds = 60;
    const std::int64_t t = kTestNow;
    struct Row {
      std::string payload;
      Status expected;
    };
    const Row rows[] = {
        // exp: valid while now < exp + leeway.
        {"{\"exp\":" + std::to_string(t - 59) + "}", Status::Ok},
        {"{\"exp\":" + std::to_string(t - 60) + "}", Status::Expired},
        {"{\"exp\":" + std::to_string(t - 61) + "}", Status::Expired},
        {"{\"exp\":" + std::to_string(t - 60) + ".5}", Status::Ok},
        // nbf: valid once now >= nbf - leeway.
        {"{\"exp\":" + std::to_string(t + 999) + ",\"nbf\":" + std::to_string(t + 59) + "}",
         Status::Ok},
        {"{\"exp\":" + std::to_string(t + 999) + ",\"nbf\":" + std::to_string(t + 60) + "}",
         Status::Ok},
        {"{\"exp\":" + std::to_string(t + 999) + ",\"nbf\":" + std::to_string(t + 61) + "}",
         Status::NotYetValid},
        {"{\"exp\":" + std::to_string(t + 999) + ",\"nbf\":" + std::to_string(t + 60) + ".1}",
         Status::NotYetValid},
        // iat: refused when after now + leeway.
        {"{\"exp\":" + std::to_string(t + 999) + ",\"iat\":" + std::to_string(t + 60) + "}",
         Status::Ok},
        {"{\"exp\":" + std::to_string(t + 999) + ",\"iat\":" + std::to_string(t + 61) + "}",
         Status::IssuedInFuture},
    };
    for (const Row& row : rows) {
      CAPTURE(row.payload);
      CHECK(name(registered(row.payload, policy)) == name(row.expected));
    }
  }

  TEST_CASE("a zero leeway makes exp exclusive and nbf inclusive") {
    Policy policy = timePolicy();
    policy.leeway_seconds = 0;
    const std::string t = std::to_string(kTestNow);
    const std::string t1 = std::to_string(kTestNow + 1);
    CHECK(name(registered("{\"exp\":" + t + "}", policy)) == name(Status::Expired));
    CHECK(name(registered("{\"exp\":" + t1 + "}", policy)) == name(Status::Ok));
    CHECK(name(registered("{\"exp\":" + t1 + ",\"nbf\":" + t + "}", policy)) == name(Status::Ok));
    CHECK(name(registered("{\"exp\":" + t1 + ",\"nbf\":" + t1 + "}", policy)) ==
          name(Status::NotYetValid));
    policy.leeway_seconds = -100;  // Treated as 0, never as extra strictness or wrap.
    CHECK(name(registered("{\"exp\":" + t1 + "}", policy)) == name(Status::Ok));
  }

  TEST_CASE("exp is required by default, and by a maximum lifetime") {
    Policy policy = timePolicy();
    CHECK(name(registered("{}", policy)) == name(Status::ExpirationMissing));
    CHECK(name(registered("{\"sub\":\"x\"}", policy)) == name(Status::ExpirationMissing));
    policy.require_expiration = false;
    CHECK(name(registered("{}", policy)) == name(Status::Ok));
    policy.max_lifetime_seconds = 3600;
    CHECK(name(registered("{}", policy)) == name(Status::ExpirationMissing));
  }

  TEST_CASE("malformed time claims are refused even when the policy ignores them") {
    Policy policy = timePolicy();
    policy.require_expiration = false;
    const std::string_view rejected[] = {
        R"({"exp":"1700000000"})", R"({"nbf":-1})",
        R"({"iat":1e400})",        R"({"exp":9223372036854775808})",
        R"({"nbf":null})",         R"({"iat":true})",
        R"({"exp":1e19})",
    };
    for (const std::string_view payload : rejected) {
      CAPTURE(payload);
      CHECK(name(registered(payload, policy)) == name(Status::BadNumericDate));
    }
  }

  TEST_CASE("the maximum lifetime uses exp - iat, or exp - now without iat") {
    Policy policy = timePolicy();
    policy.max_lifetime_seconds = 3600;
    const std::int64_t t = kTestNow;
    auto payload = [](std::int64_t exp, std::optional<std::int64_t> iat) {
      std::string out = "{\"exp\":" + std::to_string(exp);
      if (iat) {
        out += ",\"iat\":" + std::to_string(*iat);
      }
      return out + "}";
    };
    CHECK(name(registered(payload(t + 100, t - 3500), policy)) == name(Status::Ok));
    CHECK(name(registered(payload(t + 100, t - 3501), policy)) == name(Status::LifetimeTooLong));
    CHECK(name(registered(payload(t + 3600, std::nullopt), policy)) == name(Status::Ok));
    CHECK(name(registered(payload(t + 3601, std::nullopt), policy)) ==
          name(Status::LifetimeTooLong));
    CHECK(name(registered(payload(kMaxNumericDate, 0), policy)) == name(Status::LifetimeTooLong));
    // A clock value far outside the range must not overflow into acceptance.
    CHECK(name(registered(payload(t + 3601, std::nullopt), policy, INT64_MIN + 1)) ==
          name(Status::LifetimeTooLong));
  }

  TEST_CASE("iss must match exactly when configured") {
    Policy policy = timePolicy();
    policy.issuer = "https://issuer.test";
    struct Row {
      std::string_view payload;
      Status expected;
    };
    const Row rows[] = {
        {R"({"exp":1800000000,"iss":"https://issuer.test"})", Status::Ok},
        {R"({"exp":1800000000})", Status::IssuerMissing},
        {R"({"exp":1800000000,"iss":"https://issuer.test/"})", Status::IssuerMismatch},
        {R"({"exp":1800000000,"iss":"HTTPS://issuer.test"})", Status::IssuerMismatch},
        {R"({"exp":1800000000,"iss":"https://issuer.test\u0000"})", Status::IssuerMismatch},
        {R"({"exp":1800000000,"iss":["https://issuer.test"]})", Status::IssuerMismatch},
        {R"({"exp":1800000000,"iss":null})", Status::IssuerMismatch},
        {R"({"exp":1800000000,"iss":"https:\/\/issuer.test"})", Status::Ok},
    };
    for (const Row& row : rows) {
      CAPTURE(row.payload);
      CHECK(name(registered(row.payload, policy)) == name(row.expected));
    }
  }

  TEST_CASE("aud is a string or an array of strings and one value must be configured") {
    Policy policy = timePolicy();
    policy.audiences = {"api", "other"};
    struct Row {
      std::string_view payload;
      Status expected;
    };
    const Row rows[] = {
        {R"({"exp":1800000000,"aud":"api"})", Status::Ok},
        {R"({"exp":1800000000,"aud":"other"})", Status::Ok},
        {R"({"exp":1800000000,"aud":["x","other"]})", Status::Ok},
        {R"({"exp":1800000000})", Status::AudienceMissing},
        {R"({"exp":1800000000,"aud":"API"})", Status::AudienceMismatch},
        {R"({"exp":1800000000,"aud":[]})", Status::AudienceMismatch},
        {R"({"exp":1800000000,"aud":["x","y"]})", Status::AudienceMismatch},
        {R"({"exp":1800000000,"aud":"api other"})", Status::AudienceMismatch},
        {R"({"exp":1800000000,"aud":7})", Status::BadAudience},
        {R"({"exp":1800000000,"aud":{"api":true}})", Status::BadAudience},
        {R"({"exp":1800000000,"aud":["api",7]})", Status::BadAudience},
        {R"({"exp":1800000000,"aud":[["api"]]})", Status::BadAudience},
        {R"({"exp":1800000000,"aud":null})", Status::BadAudience},
        {R"({"exp":1800000000,"aud":true})", Status::BadAudience},
    };
    for (const Row& row : rows) {
      CAPTURE(row.payload);
      CHECK(name(registered(row.payload, policy)) == name(row.expected));
    }
    policy.audiences.clear();  // Not configured: any well-typed aud passes.
    CHECK(name(registered(R"({"exp":1800000000,"aud":"x"})", policy)) == name(Status::Ok));
    CHECK(name(registered(R"({"exp":1800000000,"aud":7})", policy)) == name(Status::BadAudience));
  }

  TEST_CASE("required claims match values at nested and namespaced paths") {
    const ParsedJson json(
        R"({"tenant":"acme","level":3,"ratio":0.5,"verified":true,)"
        R"("big":9007199254740993,"groups":["a","b",4,false],)"
        R"("org":{"unit":{"id":"u-1"}},"https://x.test/claims":{"tier":"gold"}})");
    REQUIRE_FALSE(json.error());
    struct Row {
      std::string_view path;
      ClaimExpectation expected;
      Status status;
    };
    const Row rows[] = {
        {"tenant", std::string("acme"), Status::Ok},
        {"tenant", std::string("Acme"), Status::ClaimMismatch},
        {"tenant", std::monostate{}, Status::Ok},
        {"missing", std::monostate{}, Status::ClaimMissing},
        {"level", std::int64_t{3}, Status::Ok},
        {"level", 3.0, Status::Ok},
        {"level", std::int64_t{4}, Status::ClaimMismatch},
        {"level", std::string("3"), Status::ClaimMismatch},
        {"ratio", 0.5, Status::Ok},
        {"ratio", std::int64_t{0}, Status::ClaimMismatch},
        {"big", std::int64_t{9007199254740993}, Status::Ok},
        {"big", std::int64_t{9007199254740992}, Status::ClaimMismatch},
        {"verified", true, Status::Ok},
        {"verified", false, Status::ClaimMismatch},
        {"verified", std::string("true"), Status::ClaimMismatch},
        {"groups", std::string("b"), Status::Ok},
        {"groups", std::int64_t{4}, Status::Ok},
        {"groups", false, Status::Ok},
        {"groups", std::string("c"), Status::ClaimMismatch},
        {"org.unit.id", std::string("u-1"), Status::Ok},
        {"org.unit.id", std::string("u-2"), Status::ClaimMismatch},
        {"org.unit.name", std::string("u-1"), Status::ClaimMissing},
        {"org.unit", std::string("u-1"), Status::ClaimMismatch},
        {R"(["https://x.test/claims"].tier)", std::string("gold"), Status::Ok},
        {R"(["https://x.test/claims"].tier)", std::string("silver"), Status::ClaimMismatch},
    };
    for (const Row& row : rows) {
      CAPTURE(row.path);
      CAPTURE(row.expected.index());
      const ClaimRequirement requirement{claimPath(row.path), row.expected};
      CHECK(name(checkClaims(json.claims(), {&requirement, 1})) == name(row.status));
    }
  }

  TEST_CASE("the policy's required claims run after the registered ones") {
    Policy policy = timePolicy();
    policy.required_claims.push_back({claimPath("org.unit"), std::string("ops")});
    CHECK(name(registered(R"({"exp":1800000000,"org":{"unit":"ops"}})", policy)) ==
          name(Status::Ok));
    CHECK(name(registered(R"({"exp":1800000000,"org":{"unit":"dev"}})", policy)) ==
          name(Status::ClaimMismatch));
    CHECK(name(registered(R"({"exp":1800000000})", policy)) == name(Status::ClaimMissing));
    CHECK(name(registered(R"({"exp":1})", policy)) == name(Status::Expired));
  }

  TEST_CASE("scopes: a space-separated scope string, scp and roles arrays, any-of and all-of") {
    const ParsedJson json(
        R"({"scope":"read write  admin:users","scp":["mail.send"],)"
        R"("roles":["Reader","Writer"],"realm_access":{"roles":["ops"]},)"
        R"("space_roles":"a b","odd":[1,"x",{"y":1}],"https://x.test/r":["ns"]})");
    REQUIRE_FALSE(json.error());
    struct Row {
      std::vector<std::string_view> sources;
      std::vector<std::string> required;
      ScopeMatch match;
      Status expected;
    };
    const Row rows[] = {
        {{}, {"read"}, ScopeMatch::AllOf, Status::Ok},
        {{}, {"read", "write"}, ScopeMatch::AllOf, Status::Ok},
        {{}, {"admin:users"}, ScopeMatch::AllOf, Status::Ok},
        {{}, {"mail.send"}, ScopeMatch::AllOf, Status::Ok},  // scp is a default source
        {{}, {"read", "mail.send"}, ScopeMatch::AllOf, Status::Ok},
        {{}, {"read", "delete"}, ScopeMatch::AllOf, Status::InsufficientScope},
        {{}, {"read", "delete"}, ScopeMatch::AnyOf, Status::Ok},
        {{}, {"delete", "purge"}, ScopeMatch::AnyOf, Status::InsufficientScope},
        {{}, {"rea"}, ScopeMatch::AllOf, Status::InsufficientScope},
        {{}, {"read write"}, ScopeMatch::AllOf, Status::InsufficientScope},
        {{}, {""}, ScopeMatch::AllOf, Status::InsufficientScope},
        {{}, {"READ"}, ScopeMatch::AllOf, Status::InsufficientScope},
        {{}, {"Reader"}, ScopeMatch::AllOf, Status::InsufficientScope},  // roles not default
        {{"roles"}, {"Reader"}, ScopeMatch::AllOf, Status::Ok},
        {{"roles"}, {"Reader", "Writer"}, ScopeMatch::AllOf, Status::Ok},
        {{"roles"}, {"Reader", "Admin"}, ScopeMatch::AllOf, Status::InsufficientScope},
        {{"roles"}, {"read"}, ScopeMatch::AllOf, Status::InsufficientScope},
        {{"realm_access.roles"}, {"ops"}, ScopeMatch::AllOf, Status::Ok},
        {{"realm_access.roles", "roles"}, {"ops", "Writer"}, ScopeMatch::AllOf, Status::Ok},
        {{"space_roles"}, {"b"}, ScopeMatch::AllOf, Status::Ok},
        {{"odd"}, {"x"}, ScopeMatch::AllOf, Status::Ok},
        {{"odd"}, {"1"}, ScopeMatch::AllOf, Status::InsufficientScope},
        {{R"(["https://x.test/r"])"}, {"ns"}, ScopeMatch::AllOf, Status::Ok},
        {{"missing"}, {"read"}, ScopeMatch::AnyOf, Status::InsufficientScope},
        {{"realm_access"}, {"ops"}, ScopeMatch::AnyOf, Status::InsufficientScope},
        {{"missing"}, {}, ScopeMatch::AllOf, Status::Ok},
    };
    for (const Row& row : rows) {
      ScopeRequirement requirement;
      for (const std::string_view source : row.sources) {
        requirement.sources.push_back(claimPath(source));
      }
      requirement.required = row.required;
      requirement.match = row.match;
      CAPTURE(row.sources.size());
      CAPTURE(row.required.size());
      CAPTURE(row.required.empty() ? std::string() : row.required.front());
      CHECK(name(checkScopes(json.claims(), requirement)) == name(row.expected));
    }
  }

  TEST_CASE("a token without scope claims grants nothing") {
    const ParsedJson json(R"({"sub":"x","scope":7})");
    REQUIRE_FALSE(json.error());
    ScopeRequirement requirement;
    requirement.required = {"read"};
    requirement.match = ScopeMatch::AnyOf;
    CHECK(name(checkScopes(json.claims(), requirement)) == name(Status::InsufficientScope));
  }

  TEST_CASE("render turns claims into header values") {
    const ParsedJson json(R"({"s":"alice@example.com","n":1e3,"neg":-2.50,"t":true,"f":false,)"
                          R"("z":null,"a":["x",1,true,null],"o":{"k":"v","n":[1,{"d":"\"q\""}]},)"
                          R"("mixed":[1,[2]],"u":"caf\u00e9","e":[],"q":"say \"hi\"",)"
                          R"("esc":"a\/b"})");
    REQUIRE_FALSE(json.error());
    struct Row {
      std::string_view path;
      std::string_view rendered;
    };
    const Row rows[] = {
        {"s", "alice@example.com"},
        {"n", "1e3"},
        {"neg", "-2.50"},
        {"t", "true"},
        {"f", "false"},
        {"z", ""},
        {"a", "x,1,true,"},
        {"o", R"({"k":"v","n":[1,{"d":"\"q\""}]})"},
        {"mixed", "[1,[2]]"},
        {"u", "caf\xc3\xa9"},
        {"e", ""},
        {"q", "say \"hi\""},
        {"esc", "a/b"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.path);
      const auto rendered = render(json.claims(), claimPath(row.path));
      REQUIRE(rendered);
      CHECK(*rendered == row.rendered);
    }
    const auto missing = render(json.claims(), claimPath("nope"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == RenderError::Missing);
  }

  TEST_CASE("render refuses control characters that could split a header") {
    const std::string_view escapes[] = {"\\r",     "\\n",     "\\r\\n",  "\\u0000", "\\t",
                                        "\\u0001", "\\u001f", "\\u007f", "\\b",     "\\f"};
    for (const std::string_view escape : escapes) {
      CAPTURE(escape);
      const std::string text = "evil" + std::string(escape) + "X-Admin: true";
      const ParsedJson json("{\"s\":\"" + text + "\",\"a\":[\"ok\",\"" + text +
                            "\"],\"o\":{\"k\":\"" + text + "\"}}");
      REQUIRE_FALSE(json.error());
      for (const std::string_view path : {"s", "a"}) {
        const auto rendered = render(json.claims(), claimPath(path));
        REQUIRE_FALSE(rendered);
        CHECK(rendered.error() == RenderError::ControlCharacter);
      }
      // Inside compact JSON the same text is escaped, so it is safe and accepted.
      const auto object = render(json.claims(), claimPath("o"));
      REQUIRE(object);
      CHECK(object->find_first_of("\r\n") == std::string::npos);
      CHECK(object->find('\0') == std::string::npos);
    }
  }

  TEST_CASE("values keep pointing into the document after other lookups") {
    const ParsedJson json(R"({"a":"first","b":"sec\u006fnd","c":["x","y"]})");
    REQUIRE_FALSE(json.error());
    const ClaimsView claims = json.claims();
    const std::string_view a = claims.find("a")->string();
    const std::string_view b = claims.find("b")->string();
    std::vector<std::string> elements;
    for (const ClaimValue element : claims.find("c")->elements()) {
      elements.emplace_back(element.string());
    }
    CHECK(a == "first");
    CHECK(b == "second");
    CHECK(elements == std::vector<std::string>{"x", "y"});
  }
}

}  // namespace
}  // namespace jwtgate::verifier

#include "auth/token_extractor.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace jwtgate::auth {
namespace {

// "found:<token>@<source>", "none" or "invalid:<problem>".
std::string describe(const ExtractedToken& result) {
  switch (result.status) {
    case ExtractStatus::None:
      return "none";
    case ExtractStatus::Found:
      return "found:" + std::string(result.token) + "@" + std::to_string(result.source);
    case ExtractStatus::InvalidRequest:
      return "invalid:" + std::string(toString(result.problem));
  }
  return "?";
}

struct HeaderCase {
  std::vector<HeaderField> headers;
  std::string_view expected;
};

void checkHeaders(const std::vector<TokenSource>& sources, const std::vector<HeaderCase>& cases,
                  std::string_view query = {}) {
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const HeaderCase& c = cases[i];
    CAPTURE(i);
    std::string shown;
    for (const HeaderField& header : c.headers) {
      shown += std::string(header.name) + ": " + std::string(header.value) + " | ";
    }
    CAPTURE(shown);
    CHECK(describe(extractToken(sources, c.headers, query)) == c.expected);
  }
}

TEST_SUITE("auth/token_extractor") {
  TEST_CASE("the default Authorization Bearer location") {
    const std::vector<TokenSource> sources = {TokenSource::bearerHeader()};
    checkHeaders(sources, {
                              {{{"Authorization", "Bearer abc.def.ghi"}}, "found:abc.def.ghi@0"},
                              {{{"authorization", "bearer abc"}}, "found:abc@0"},
                              {{{"AUTHORIZATION", "BEARER abc"}}, "found:abc@0"},
                              {{{"Authorization", "bEaReR abc"}}, "found:abc@0"},
                              {{{"Authorization", "Bearer    abc"}}, "found:abc@0"},
                              {{{"Authorization", "Bearer\tabc"}}, "found:abc@0"},
                              {{{"Authorization", "Bearer \t abc \t "}}, "found:abc@0"},
                              {{{"Authorization", "  Bearer abc"}}, "found:abc@0"},
                              {{{"Authorization", "Bearer a b"}}, "found:a b@0"},
                              {{{"Authorization", "Bearer"}}, "invalid:empty_token"},
                              {{{"Authorization", "Bearer   "}}, "invalid:empty_token"},
                              {{{"Authorization", ""}}, "none"},
                              {{{"Authorization", "Basic dXNlcjpwYXNz"}}, "none"},
                              {{{"Authorization", "Bearerabc"}}, "none"},
                              {{{"Authorization", "Bear abc"}}, "none"},
                              {{{"X-Other", "Bearer abc"}}, "none"},
                              {{}, "none"},
                              {{{"Authorization", "Bearer a"}, {"Authorization", "Bearer b"}},
                               "invalid:repeated_header"},
                              {{{"Authorization", "Bearer a"}, {"authorization", "Bearer a"}},
                               "invalid:repeated_header"},
                              {{{"Authorization", "Basic x"}, {"Authorization", "Bearer a"}},
                               "invalid:repeated_header"},
                          });
  }

  TEST_CASE("a custom header with a prefix, or the whole value") {
    const std::vector<TokenSource> with_prefix = {TokenSource::header("X-Token", "jwt=")};
    checkHeaders(with_prefix,
                 {
                     {{{"x-token", "jwt=abc"}}, "found:abc@0"},
                     {{{"X-Token", "jwt= abc "}}, "found:abc@0"},
                     {{{"X-Token", "JWT=abc"}}, "none"},
                     {{{"X-Token", "abc"}}, "none"},
                     {{{"X-Token", "jwt="}}, "invalid:empty_token"},
                     {{{"X-Token", "jwt=a"}, {"X-Token", "jwt=b"}}, "invalid:repeated_header"},
                 });
    const std::vector<TokenSource> bare = {TokenSource::header("X-Token", "")};
    checkHeaders(bare, {
                           {{{"X-Token", "abc"}}, "found:abc@0"},
                           {{{"X-Token", " abc\t"}}, "found:abc@0"},
                           {{{"X-Token", ""}}, "invalid:empty_token"},
                       });
  }

  TEST_CASE("cookies are parsed from every Cookie header, quoted or not") {
    const std::vector<TokenSource> sources = {TokenSource::cookie("session")};
    checkHeaders(sources, {
                              {{{"Cookie", "session=abc"}}, "found:abc@0"},
                              {{{"Cookie", "a=1; session=abc; b=2"}}, "found:abc@0"},
                              {{{"Cookie", "a=1;session=abc;b=2"}}, "found:abc@0"},
                              {{{"cookie", "a=1;  session = abc ;b=2"}}, "found:abc@0"},
                              {{{"Cookie", "session=\"abc\""}}, "found:abc@0"},
                              {{{"Cookie", "session=\"\""}}, "invalid:empty_token"},
                              {{{"Cookie", "session="}}, "invalid:empty_token"},
                              {{{"Cookie", "session=a=b"}}, "found:a=b@0"},
                              {{{"Cookie", "Session=abc"}}, "none"},
                              {{{"Cookie", "xsession=abc; sessionx=abc"}}, "none"},
                              {{{"Cookie", "session"}}, "none"},
                              {{{"Cookie", ";;;"}}, "none"},
                              {{{"Cookie", ""}}, "none"},
                              {{{"Cookie", "a=1"}, {"Cookie", "session=abc"}}, "found:abc@0"},
                              {{{"Cookie", "session=a; session=b"}}, "invalid:repeated_cookie"},
                              {{{"Cookie", "session=a; session=a"}}, "invalid:repeated_cookie"},
                              {{{"Cookie", "session=a"}, {"Cookie", "session=b"}},
                               "invalid:repeated_cookie"},
                              {{{"Set-Cookie", "session=abc"}}, "none"},
                          });
  }

  TEST_CASE("query parameters, including percent-encoded names") {
    const std::vector<TokenSource> sources = {TokenSource::query("access_token")};
    struct QueryCase {
      std::string_view query;
      std::string_view expected;
    };
    const QueryCase cases[] = {
        {"access_token=abc", "found:abc@0"},
        {"a=1&access_token=abc&b=2", "found:abc@0"},
        {"access%5Ftoken=abc", "found:abc@0"},
        {"access%5ftoken=abc", "found:abc@0"},
        {"access_tokens=abc", "none"},
        {"xaccess_token=abc", "none"},
        {"", "none"},
        {"&&", "none"},
        {"access_token=", "invalid:empty_token"},
        {"access_token", "invalid:empty_token"},
        {"access_token=a&access_token=b", "invalid:repeated_parameter"},
        {"access_token=a&access%5Ftoken=a", "invalid:repeated_parameter"},
        {"access_token=a%2Eb", "found:a%2Eb@0"},
    };
    for (const QueryCase& c : cases) {
      CAPTURE(c.query);
      CHECK(describe(extractToken(sources, {}, c.query)) == c.expected);
    }
  }

  TEST_CASE("several locations: one credential is found, two different ones are refused") {
    const std::vector<TokenSource> sources = {TokenSource::bearerHeader(),
                                              TokenSource::cookie("jwt"),
                                              TokenSource::query("access_token")};
    checkHeaders(sources,
                 {
                     {{{"Authorization", "Bearer abc"}}, "found:abc@0"},
                     {{{"Cookie", "jwt=abc"}}, "found:abc@1"},
                     {{{"Authorization", "Bearer abc"}, {"Cookie", "jwt=abc"}}, "found:abc@0"},
                     {{{"Authorization", "Bearer abc"}, {"Cookie", "jwt=xyz"}},
                      "invalid:conflicting_locations"},
                     {{{"Cookie", "jwt=abc"}, {"Cookie", "jwt=abc"}}, "invalid:repeated_cookie"},
                     {{{"Authorization", "Basic x"}, {"Cookie", "jwt=abc"}}, "found:abc@1"},
                     {{{"Authorization", "Bearer "}, {"Cookie", "jwt=abc"}}, "invalid:empty_token"},
                 });
    checkHeaders(sources,
                 {{{}, "found:q@2"},
                  {{{"Cookie", "jwt=q"}}, "found:q@1"},
                  {{{"Authorization", "Bearer z"}}, "invalid:conflicting_locations"}},
                 "access_token=q");
  }

  TEST_CASE("the token view points into the request's own bytes") {
    const std::string value = "Bearer abc";
    const std::vector<HeaderField> headers = {{"Authorization", value}};
    const std::vector<TokenSource> sources = {TokenSource::bearerHeader()};
    const ExtractedToken result = extractToken(sources, headers, {});
    REQUIRE(result.status == ExtractStatus::Found);
    CHECK(result.token.data() == value.data() + 7);
  }

  TEST_CASE("removing the token parameter keeps every other byte") {
    struct RemoveCase {
      std::string_view query;
      std::string_view expected;
      bool removed;
    };
    const RemoveCase cases[] = {
        {"access_token=abc", "", true},
        {"a=1&access_token=abc", "a=1", true},
        {"access_token=abc&a=1", "a=1", true},
        {"a=%2F&access_token=abc&b=x+y&c", "a=%2F&b=x+y&c", true},
        {"a=1&&access_token=abc&&b=2", "a=1&&&b=2", true},
        {"a=1&access%5Ftoken=abc", "a=1", true},
        {"a=1&access_tokens=abc", "a=1&access_tokens=abc", false},
        {"a=1&b=2", "a=1&b=2", false},
        {"=x&a", "=x&a", false},
        {"", "", false},
    };
    std::string out;
    for (const RemoveCase& c : cases) {
      CAPTURE(c.query);
      CHECK(removeQueryParameter(c.query, "access_token", out) == c.removed);
      CHECK(out == c.expected);
    }
  }
}

}  // namespace
}  // namespace jwtgate::auth

#include "auth/path_normalizer.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

namespace jwtgate::auth {
namespace {

struct NormalCase {
  std::string_view target;
  std::string_view path;
};

struct RefusedCase {
  std::string_view target;
  PathError error;
};

TEST_SUITE("auth/path_normalizer") {
  TEST_CASE("paths are reduced to one canonical spelling") {
    const NormalCase cases[] = {
        {"/", "/"},
        {"/public", "/public"},
        {"/public/", "/public/"},
        {"/admin/../public", "/public"},
        {"/public/../admin/x", "/admin/x"},
        {"/public/./../admin/x", "/admin/x"},
        {"/%61dmin/", "/admin/"},
        {"/%41%44%4D%49%4E", "/ADMIN"},
        {"/%2e%2e/admin", "/admin"},
        {"/%2E%2E/admin", "/admin"},
        {"/public/%2e%2e/admin/", "/admin/"},
        {"/public/%2e%2E/admin/", "/admin/"},
        {"/public/.%2e/admin", "/admin"},
        {"/public/%2e/admin", "/public/admin"},
        {"/./admin", "/admin"},
        {"/admin/./", "/admin/"},
        {"/admin/.", "/admin/"},
        {"/admin/..", "/"},
        {"/admin/x/..", "/admin/"},
        {"/admin/...", "/admin/..."},
        {"/admin/.../x", "/admin/.../x"},
        {"/admin/..x", "/admin/..x"},
        {"/admin.", "/admin."},
        {"/..", "/"},
        {"/../admin", "/admin"},
        {"/../../../admin", "/admin"},
        {"/a/b/../../../admin", "/admin"},
        {"/a/./b/./c", "/a/b/c"},
        {"//admin", "/admin"},
        {"///admin//x///", "/admin/x/"},
        {"/admin//x/../y", "/admin/y"},
        {"/a%7e%5f%2D%2e", "/a~_-."},
        {"/a%3f", "/a%3F"},
        {"/a%3F", "/a%3F"},
        {"/caf%c3%a9", "/caf%C3%A9"},
        {"/a%252e%252e/x", "/a%252e%252e/x"},
        {"/a%2a%2A", "/a%2A%2A"},
        {"/a%20b", "/a%20b"},
        {"/a%3b", "/a%3B"},
        {"/public?x=1", "/public"},
        {"/admin/../public?next=/admin/..", "/public"},
        {"/caf\xc3\xa9", "/caf\xc3\xa9"},
    };
    std::string buffer;
    for (const auto& c : cases) {
      CAPTURE(c.target);
      const auto result = normalizeTarget(c.target, buffer);
      REQUIRE(result.ok());
      CHECK(result->path == c.path);
    }
  }

  TEST_CASE("without slash merging empty segments stay") {
    const NormalCase cases[] = {
        {"//admin", "//admin"},
        {"/a//b", "/a//b"},
        {"/a//", "/a//"},
        {"/a//b/../c", "/a//c"},
    };
    PathOptions options;
    options.merge_slashes = false;
    std::string buffer;
    for (const auto& c : cases) {
      CAPTURE(c.target);
      const auto result = normalizeTarget(c.target, buffer, options);
      REQUIRE(result.ok());
      CHECK(result->path == c.path);
    }
  }

  TEST_CASE("ambiguous or dangerous targets are refused") {
    const RefusedCase cases[] = {
        {"", PathError::NotOriginForm},
        {"*", PathError::NotOriginForm},
        {"admin", PathError::NotOriginForm},
        {"http://example.com/admin", PathError::NotOriginForm},
        {"?x=1", PathError::NotOriginForm},
        {"/admin%2fx", PathError::EncodedSlash},
        {"/admin%2Fx", PathError::EncodedSlash},
        {"/admin%5cx", PathError::EncodedBackslash},
        {"/admin%5C..%5Cx", PathError::EncodedBackslash},
        {"/admin\\..\\x", PathError::EncodedBackslash},
        {"/admin%00", PathError::EncodedControl},
        {"/admin%0d%0aX-Evil:1", PathError::EncodedControl},
        {"/admin%7f", PathError::EncodedControl},
        {std::string_view("/admin\0x", 8), PathError::ControlCharacter},
        {"/admin\tx", PathError::ControlCharacter},
        {"/admin\x7f", PathError::ControlCharacter},
        {"/admin#frag", PathError::ControlCharacter},
        {"/admin%", PathError::BadPercentEncoding},
        {"/admin%2", PathError::BadPercentEncoding},
        {"/admin%2/x", PathError::BadPercentEncoding},
        {"/admin%zz", PathError::BadPercentEncoding},
        {"/admin%%32e", PathError::BadPercentEncoding},
        {"/admin;jsessionid=1", PathError::PathParameter},
        {"/public/..;/admin", PathError::PathParameter},
        {"/a//../b", PathError::AmbiguousDotDot},
        {"/a//./../b", PathError::AmbiguousDotDot},
        {"/a/b//..", PathError::AmbiguousDotDot},
    };
    std::string buffer;
    for (const auto& c : cases) {
      CAPTURE(c.target);
      const auto result = normalizeTarget(c.target, buffer);
      REQUIRE_FALSE(result.ok());
      CHECK(toString(result.error()) == toString(c.error));
    }
  }

  TEST_CASE("with path parameters allowed, dot segments carrying them are still refused") {
    PathOptions options;
    options.refuse_path_parameters = false;
    std::string buffer;
    for (std::string_view target :
         {"/public/..;/admin", "/public/.;x/admin", "/..;", "/%2e%2e;a"}) {
      CAPTURE(target);
      const auto result = normalizeTarget(target, buffer, options);
      REQUIRE_FALSE(result.ok());
      CHECK(toString(result.error()) == toString(PathError::DotSegmentParameter));
    }
    const auto kept = normalizeTarget("/admin;v=1/x", buffer, options);
    REQUIRE(kept.ok());
    CHECK(kept->path == "/admin;v=1/x");
  }

  TEST_CASE("the query is split off at the first '?' and left byte for byte") {
    std::string buffer;
    const auto with = normalizeTarget("/a/../b?x=%2e%2E&y=/../?z", buffer);
    REQUIRE(with.ok());
    CHECK(with->path == "/b");
    CHECK(with->has_query);
    CHECK(with->query == "x=%2e%2E&y=/../?z");

    const auto empty = normalizeTarget("/b?", buffer);
    REQUIRE(empty.ok());
    CHECK(empty->has_query);
    CHECK(empty->query.empty());

    const auto none = normalizeTarget("/b", buffer);
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_query);
  }

  TEST_CASE("the output is never longer than the input, so a reused buffer stops growing") {
    std::string buffer;
    buffer.reserve(64);
    const char* before = buffer.data();
    for (std::string_view target : {"/a/b/c/../../d", "/%61/%62/.", "/x/./y/", "/..", "/."}) {
      CAPTURE(target);
      const auto result = normalizeTarget(target, buffer);
      REQUIRE(result.ok());
      CHECK(result->path.size() <= target.size());
      CHECK(buffer.data() == before);
    }
  }

  TEST_CASE("normalising is idempotent") {
    std::string first;
    std::string second;
    for (std::string_view target :
         {"/%61dmin/../%2e/x/", "/a/%7E/%c3%a9", "//a//b//", "/a/b/../c/./d/.."}) {
      CAPTURE(target);
      const auto once = normalizeTarget(target, first);
      REQUIRE(once.ok());
      const auto twice = normalizeTarget(once->path, second);
      REQUIRE(twice.ok());
      CHECK(twice->path == once->path);
    }
  }
}

}  // namespace
}  // namespace jwtgate::auth

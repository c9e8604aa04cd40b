#include "auth/identity_headers.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace jwtgate::auth {
namespace {

IdentityHeaderSet buildSet(const std::vector<std::string>& names) {
  auto set = IdentityHeaderSet::build(names);
  if (!set.ok()) {
    FAIL("build failed: " << set.error());
  }
  return std::move(set).value();
}

TEST_SUITE("auth/identity_headers") {
  TEST_CASE("every spelling of a configured name is caught") {
    const IdentityHeaderSet set = buildSet(
        {"X-User-Id", "x_user_email", "X-Jwt-Payload", "X-Jwtgate-Route", "X-Jwtgate-Report-Only"});
    for (std::string_view name :
         {"X-User-Id", "x-user-id", "X-USER-ID", "X_User_Id", "x_user_id", "X-User_Id", "X_USER-ID",
          "x-User-iD", "X-User-Email", "x_user_email", "X-USER_EMAIL", "x-jwt-payload",
          "X_JWT_PAYLOAD", "x-jwtgate-route", "X_Jwtgate_Report_Only"}) {
      CAPTURE(name);
      CHECK(set.isIdentityHeader(name));
    }
  }

  TEST_CASE("other names, near misses included, are not identity headers") {
    const IdentityHeaderSet set = buildSet({"X-User-Id", "X-User"});
    for (std::string_view name :
         {"X-User-Ids", "X-User-I", "XUser-Id", "X--User-Id", "X-User-Id ", " X-User-Id",
          "X.User.Id", "Authorization", "", "X-Use", "X-Userr"}) {
      CAPTURE(name);
      CHECK_FALSE(set.isIdentityHeader(name));
    }
    CHECK(set.isIdentityHeader("x_user"));
    CHECK_FALSE(set.isIdentityHeader(std::string_view("X-User-Id\0", 10)));
  }

  TEST_CASE("names are stored once in canonical form") {
    const IdentityHeaderSet set = buildSet({"X-User-Id", "x_user_id", "X-USER-ID", "X-Sub"});
    CHECK(set.size() == 2);
    CHECK(IdentityHeaderSet::canonical("X_User-ID") == "x-user-id");
  }

  TEST_CASE("an empty set matches nothing") {
    const IdentityHeaderSet set;
    CHECK(set.empty());
    CHECK_FALSE(set.isIdentityHeader("X-User-Id"));
  }

  TEST_CASE("names that are not HTTP tokens are refused at build") {
    for (std::string name : {std::string(), std::string("X User"), std::string("X-User:"),
                             std::string("X-User\r\nEvil"), std::string("X-\xc3\xa9")}) {
      CAPTURE(name);
      const std::vector<std::string> names = {"X-Ok", name};
      CHECK_FALSE(IdentityHeaderSet::build(names).ok());
    }
  }
}

}  // namespace
}  // namespace jwtgate::auth

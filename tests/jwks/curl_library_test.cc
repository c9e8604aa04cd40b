// libcurl loaded at run time: the process-wide table is complete and its functions work
// (variadic setopt/getinfo included); a missing or wrong file is a clear error, not a crash.
#include "jwks/curl_library.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

namespace jwtgate::jwks {
namespace {

// "7.88.1" from a version_num such as 0x075801.
std::string versionText(unsigned int number) {
  char text[32];
  std::snprintf(text, sizeof(text), "%u.%u.%u", (number >> 16) & 0xff, (number >> 8) & 0xff,
                number & 0xff);
  return text;
}

// doctest cannot print a function pointer: compare outside the assertion.
template <typename Function>
bool isResolved(Function function) {
  return function != nullptr;
}

// The error of a failed load, for a message; doctest renders messages even on success.
std::string errorOf(const Result<CurlLibrary, std::string>& loaded) {
  return loaded.ok() ? std::string() : loaded.error();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_SUITE("jwks/curl_library") {
  // The test binary does not link libcurl: whatever works here went through dlopen.
  TEST_CASE("the process-wide table loads and every entry point is resolved") {
    const auto& loaded = curlLibrary();
    REQUIRE_MESSAGE(loaded.ok(), errorOf(loaded));
    const CurlLibrary& curl = *loaded;
    CHECK(isResolved(curl.global_init));
    CHECK(isResolved(curl.version_info));
    CHECK(isResolved(curl.easy_init));
    CHECK(isResolved(curl.easy_setopt));
    CHECK(isResolved(curl.easy_getinfo));
    CHECK(isResolved(curl.easy_cleanup));
    CHECK(isResolved(curl.easy_strerror));
    CHECK(isResolved(curl.multi_init));
    CHECK(isResolved(curl.multi_setopt));
    CHECK(isResolved(curl.multi_add_handle));
    CHECK(isResolved(curl.multi_remove_handle));
    CHECK(isResolved(curl.multi_assign));
    CHECK(isResolved(curl.multi_socket_action));
    CHECK(isResolved(curl.multi_info_read));
    CHECK(isResolved(curl.multi_cleanup));
    CHECK(isResolved(curl.slist_append));
    CHECK(isResolved(curl.slist_free_all));

    // Every call returns the same table.
    CHECK(&curlLibrary() == &loaded);
  }

  TEST_CASE("version_info reports the loaded libcurl's version, consistently") {
    const auto& loaded = curlLibrary();
    REQUIRE(loaded.ok());
    const curl_version_info_data* info = loaded->version_info(CURLVERSION_NOW);
    REQUIRE(info != nullptr);
    REQUIRE(info->version != nullptr);
    const std::string version = info->version;
    MESSAGE("libcurl " << version);
    CHECK(info->version_num > 0);
    // The text starts with the packed number's digits (a suffix such as "-DEV" may follow).
    CHECK(version.rfind(versionText(info->version_num), 0) == 0);
  }

  TEST_CASE("variadic options and infos pass through the table with their exact types") {
    const auto& loaded = curlLibrary();
    REQUIRE(loaded.ok());
    const CurlLibrary& curl = *loaded;
    CURL* easy = curl.easy_init();
    REQUIRE(easy != nullptr);

    // A pointer in, the same pointer out.
    int marker = 0;
    CHECK(curl.easy_setopt(easy, CURLOPT_PRIVATE, &marker) == CURLE_OK);
    char* back = nullptr;
    CHECK(curl.easy_getinfo(easy, CURLINFO_PRIVATE, &back) == CURLE_OK);
    CHECK(reinterpret_cast<int*>(back) == &marker);

    // long, curl_off_t and string values arrive as passed: valid ones are taken, invalid
    // ones refused.
    CHECK(curl.easy_setopt(easy, CURLOPT_MAXREDIRS, 3L) == CURLE_OK);
    CHECK(curl.easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK);
    CHECK(curl.easy_setopt(easy, CURLOPT_HTTP_VERSION, 1000L) != CURLE_OK);
    CHECK(curl.easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(4096)) ==
          CURLE_OK);
    CHECK(curl.easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(-1)) !=
          CURLE_OK);
    CHECK(curl.easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK);
    CHECK(curl.easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "no-such-protocol") != CURLE_OK);
    CHECK(std::string(curl.easy_strerror(CURLE_OK)) == "No error");

    // The multi side: add, remove, clean up.
    CURLM* multi = curl.multi_init();
    REQUIRE(multi != nullptr);
    CHECK(curl.multi_setopt(multi, CURLMOPT_MAXCONNECTS, 4L) == CURLM_OK);
    CHECK(curl.multi_add_handle(multi, easy) == CURLM_OK);
    int left = -1;
    CHECK(curl.multi_info_read(multi, &left) == nullptr);
    CHECK(left == 0);
    CHECK(curl.multi_remove_handle(multi, easy) == CURLM_OK);
    CHECK(curl.multi_cleanup(multi) == CURLM_OK);
    curl.easy_cleanup(easy);
  }

  TEST_CASE("a missing file is an error that says remote keys need libcurl and names the file") {
    const std::string file = "/nonexistent/jwtgate-test/libcurl-missing.so.4";
    auto loaded = loadCurlLibrary(file.c_str());
    REQUIRE_FALSE(loaded.ok());
    MESSAGE(loaded.error());
    CHECK(contains(loaded.error(), "remote keys need libcurl.so.4"));
    CHECK(contains(loaded.error(), file));
    // The process-wide table is not affected.
    CHECK(curlLibrary().ok());
  }

  TEST_CASE("a library without libcurl's functions is refused, naming the missing symbol") {
    // libm is mapped in every C++ process; it has none of curl's functions.
    auto loaded = loadCurlLibrary("libm.so.6");
    REQUIRE_FALSE(loaded.ok());
    MESSAGE(loaded.error());
    CHECK(contains(loaded.error(), "remote keys need libcurl.so.4"));
    CHECK(contains(loaded.error(), "libm.so.6"));
    CHECK(contains(loaded.error(), "curl_global_init"));
  }

  TEST_CASE("loading the real file again gives the same functions (one library, shared)") {
    const auto& first = curlLibrary();
    REQUIRE(first.ok());
    auto again = loadCurlLibrary(kCurlLibraryFile);
    REQUIRE_MESSAGE(again.ok(), errorOf(again));
    CHECK((again->easy_init == first->easy_init));
    CHECK((again->multi_socket_action == first->multi_socket_action));
  }
}

}  // namespace
}  // namespace jwtgate::jwks

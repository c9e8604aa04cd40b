// The libcurl entry points jwtgate uses, resolved at run time with dlopen: a process without
// remote key providers never maps libcurl and the ~30 libraries it pulls in. Types and
// constants still come from <curl/curl.h>, at compile time only.
#pragma once

#include <curl/curl.h>

#include <string>

#include "verifier/result.h"

namespace jwtgate::jwks {

// The file loaded by default, and the environment variable that names another one instead.
inline constexpr const char* kCurlLibraryFile = "libcurl.so.4";
inline constexpr const char* kCurlLibraryEnv = "JWTGATE_LIBCURL";

// One pointer per function, of the type <curl/curl.h> declares (decltype names it without
// referring to the symbol). The variadic ones must be called with arguments of exactly the
// types libcurl reads (long, curl_off_t, pointers): varargs convert nothing.
struct CurlLibrary {
  decltype(&curl_global_init) global_init = nullptr;
  decltype(&curl_version_info) version_info = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_multi_init) multi_init = nullptr;
  decltype(&curl_multi_setopt) multi_setopt = nullptr;
  decltype(&curl_multi_add_handle) multi_add_handle = nullptr;
  decltype(&curl_multi_remove_handle) multi_remove_handle = nullptr;
  decltype(&curl_multi_assign) multi_assign = nullptr;
  decltype(&curl_multi_socket_action) multi_socket_action = nullptr;
  decltype(&curl_multi_info_read) multi_info_read = nullptr;
  decltype(&curl_multi_cleanup) multi_cleanup = nullptr;
  decltype(&curl_slist_append) slist_append = nullptr;
  decltype(&curl_slist_free_all) slist_free_all = nullptr;
};

// Opens `file` (dlopen, RTLD_NOW | RTLD_LOCAL; never closed), resolves every entry point and
// runs curl_global_init(CURL_GLOBAL_DEFAULT). On failure, a message for the operator that
// says remote keys need libcurl and why it could not be used (dlerror's text, which names the
// file, or curl's reason). Each successful call takes one more global-init reference.
Result<CurlLibrary, std::string> loadCurlLibrary(const char* file);

// The process-wide table: loaded on the first call from $JWTGATE_LIBCURL when set and not
// empty, else from kCurlLibraryFile. Thread-safe; every call returns the same result, which
// lives as long as the process (a failure is not retried).
const Result<CurlLibrary, std::string>& curlLibrary();

}  // namespace jwtgate::jwks

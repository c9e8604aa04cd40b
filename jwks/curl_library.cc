// Loading libcurl on first use: dlopen, one dlsym per entry point, then the global init.
#include "jwks/curl_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace jwtgate::jwks {
namespace {

constexpr const char* kNeedsLibcurl = "remote keys need libcurl.so.4 (Debian package libcurl4)";

// dlerror's text for the last failure, or `fallback` when it has none.
std::string lastLoaderError(const std::string& fallback) {
  const char* text = dlerror();
  return text != nullptr ? std::string(text) : fallback;
}

// Stores `name`'s address in `slot`. A null address counts as missing: no libcurl function
// lives at 0, and calling through it would crash.
template <typename Function>
bool resolve(void* handle, const char* name, Function* slot, std::string* error) {
  dlerror();
  void* address = dlsym(handle, name);
  if (address == nullptr) {
    *error = lastLoaderError(std::string("undefined symbol: ") + name);
    return false;
  }
  *slot = reinterpret_cast<Function>(address);
  return true;
}

bool resolveAll(void* handle, CurlLibrary& curl, std::string* error) {
  return resolve(handle, "curl_global_init", &curl.global_init, error) &&
         resolve(handle, "curl_version_info", &curl.version_info, error) &&
         resolve(handle, "curl_easy_init", &curl.easy_init, error) &&
         resolve(handle, "curl_easy_setopt", &curl.easy_setopt, error) &&
         resolve(handle, "curl_easy_getinfo", &curl.easy_getinfo, error) &&
         resolve(handle, "curl_easy_cleanup", &curl.easy_cleanup, error) &&
         resolve(handle, "curl_easy_strerror", &curl.easy_strerror, error) &&
         resolve(handle, "curl_multi_init", &curl.multi_init, error) &&
         resolve(handle, "curl_multi_setopt", &curl.multi_setopt, error) &&
         resolve(handle, "curl_multi_add_handle", &curl.multi_add_handle, error) &&
         resolve(handle, "curl_multi_remove_handle", &curl.multi_remove_handle, error) &&
         resolve(handle, "curl_multi_assign", &curl.multi_assign, error) &&
         resolve(handle, "curl_multi_socket_action", &curl.multi_socket_action, error) &&
         resolve(handle, "curl_multi_info_read", &curl.multi_info_read, error) &&
         resolve(handle, "curl_multi_cleanup", &curl.multi_cleanup, error) &&
         resolve(handle, "curl_slist_append", &curl.slist_append, error) &&
         resolve(handle, "curl_slist_free_all", &curl.slist_free_all, error);
}

}  // namespace

Result<CurlLibrary, std::string> loadCurlLibrary(const char* file) {
  // RTLD_LOCAL: libcurl's symbols (and its dependencies') stay out of the global namespace.
  // The handle is never closed: libcurl keeps global state and threads may still use it.
  void* handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return makeError(std::string(kNeedsLibcurl) + ", which cannot be loaded: " +
                     lastLoaderError(std::string(file) + ": cannot be opened"));
  }

  CurlLibrary curl;
  std::string error;
  if (!resolveAll(handle, curl, &error)) {
    return makeError(std::string(kNeedsLibcurl) + "; " + file + " is not usable: " + error);
  }

  CURLcode code = curl.global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) {
    return makeError(std::string(kNeedsLibcurl) +
                     "; curl_global_init failed: " + curl.easy_strerror(code));
  }
  return curl;
}

const Result<CurlLibrary, std::string>& curlLibrary() {
  static std::once_flag once;
  static Result<CurlLibrary, std::string>* loaded = nullptr;
  std::call_once(once, [] {
    const char* file = secure_getenv(kCurlLibraryEnv);
    if (file == nullptr || *file == '\0') {
      file = kCurlLibraryFile;
    }
    // Never destroyed: a thread may still read the table while the process exits.
    loaded = new Result<CurlLibrary, std::string>(loadCurlLibrary(file));
  });
  return *loaded;
}

}  // namespace jwtgate::jwks

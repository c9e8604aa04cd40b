// Fetches small documents (JWKS, OpenID configurations) over HTTPS with libcurl's
// multi-socket interface, driven by a libuv loop: one uv_poll_t per socket curl opens and one
// uv_timer_t for curl's timeouts. Used on the key service's control thread only.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "verifier/result.h"

namespace jwtgate::jwks {

struct FetchOptions {
  // Allows http:// URLs (and redirects to them); otherwise only https:// is fetched.
  bool allow_insecure = false;
  // A PEM bundle of trusted CAs; empty: the system trust store.
  std::string ca_file;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{10000};
  long max_redirects = 3;
  // Longer bodies fail the fetch (checked on the announced length and on every byte read).
  std::size_t max_body_bytes = 1024 * 1024;
  std::string accept = "application/json";
  // An entity-tag from an earlier response of the same URL: sent as If-None-Match, so that a
  // document that did not change comes back as a bodiless 304. Sent only when it is a valid
  // entity-tag (isValidEntityTag).
  std::string if_none_match;

  bool operator==(const FetchOptions&) const = default;
};

// Stable values: they label log lines.
enum class FetchErrorKind : std::uint8_t {
  Refused,           // The URL's scheme is not allowed (or the URL is not one).
  Resolve,           // The host name did not resolve.
  Connect,           // No connection (refused, unreachable, proxy failure).
  Tls,               // Handshake failed: untrusted certificate, wrong host name, protocol.
  Timeout,           // The connect or total timeout expired.
  TooLarge,          // The body exceeds max_body_bytes.
  TooManyRedirects,  // More redirects than max_redirects.
  Transport,         // Anything else: the connection broke, the response was not HTTP.
  Cancelled,         // The fetcher closed while the fetch was pending.
};

std::string_view toString(FetchErrorKind kind);

struct FetchFailure {
  FetchErrorKind kind = FetchErrorKind::Transport;
  std::string message;  // for logs: curl's reason; never a header or body byte
};

// A completed HTTP exchange, whatever its status code.
struct FetchResponse {
  long status = 0;
  std::string body;
  std::string cache_control;  // every Cache-Control field of the final response, joined
  std::string age;            // the Age field, as sent
  std::string expires;        // the Expires field, as sent (used when there is no max-age)
  std::string date;           // the Date field, as sent
  std::string content_type;
  std::string etag;  // the ETag field when it is a valid entity-tag, else empty
  std::string url;   // the URL of the final response, after redirects
};

// An entity-tag as RFC 9110 section 8.8.3 writes it: an optional W/, then a quoted string of
// visible ASCII other than the quote. Bounded (256 bytes): it goes back in a request header.
bool isValidEntityTag(std::string_view text);

using FetchResult = Result<FetchResponse, FetchFailure>;
// Called on the loop's thread, never from inside fetch() or cancel().
using FetchCallback = std::function<void(FetchResult result)>;

class HttpFetcher {
 public:
  // Makes a fetcher on `loop` (which must outlive it). Fails when libcurl cannot be set up.
  static Result<std::unique_ptr<HttpFetcher>, std::string> create(uv_loop_t* loop);

  // Closes (see close()).
  ~HttpFetcher();
  HttpFetcher(const HttpFetcher&) = delete;
  HttpFetcher& operator=(const HttpFetcher&) = delete;

  // Starts a GET of `url`. Returns the fetch's id (never 0), or a failure, in which case
  // `callback` is never called (a URL with a scheme the options do not allow is Refused here).
  Result<std::uint64_t, FetchFailure> fetch(std::string_view url, const FetchOptions& options,
                                            FetchCallback callback);

  // Abandons a pending fetch: its callback is not called. Unknown ids are ignored.
  void cancel(std::uint64_t id);

  // Ends every pending fetch with Cancelled (callbacks run inside this call), releases
  // libcurl and closes the libuv handles; memory is freed in their close callbacks, so the
  // loop must run once more before uv_loop_close. Idempotent; fetch() fails afterwards.
  void close();

  std::size_t pendingCount() const;

  // Which protocols libcurl offers, for the start-up log ("HTTP/2 available").
  static bool http2Available();

  class Impl;

 private:
  explicit HttpFetcher(Impl* impl) : impl_(impl) {}
  Impl* impl_;  // frees itself after close() once its handles are closed
};

// `url` without userinfo, query and fragment, for log lines.
std::string redactUrl(std::string_view url);

}  // namespace jwtgate::jwks

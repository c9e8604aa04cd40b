// The one place that turns an authentication outcome into the HTTP refusal jwtgate sends:
// status, RFC 6750 section 3 WWW-Authenticate challenge and a small JSON body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proxy/request_filter.h"
#include "verifier/status.h"

namespace jwtgate::auth {

enum class Refusal : std::uint8_t {
  MissingToken,       // 401, a bare challenge (RFC 6750 section 3.1: no error attributes).
  InvalidRequest,     // 400, error="invalid_request" (ambiguous or malformed credential).
  InvalidToken,       // 401, error="invalid_token".
  InsufficientScope,  // 403, error="insufficient_scope" with the scopes the route needs.
  BadTarget,          // 400 without a challenge: the request target itself is refused.
  NoRouteNotFound,    // 404 {"error":"no_route"}.
  NoRouteForbidden,   // 403 {"error":"no_route"}.
  Unavailable,        // 503: the provider cannot verify anything yet (no keys ever loaded).
};

// A short stable identifier for metrics and logs ("missing_token", ...).
std::string_view toString(Refusal refusal);

struct RefusalInput {
  Refusal refusal = Refusal::MissingToken;
  // Client-facing detail; treated as hostile: filtered for the header, escaped for the body,
  // and cut to kMaxDescription bytes. May be empty.
  std::string_view description;
  // InsufficientScope only: the scopes the route requires (space-separated in the challenge).
  std::span<const std::string> scopes;
};

// The refusal for a verifier status that is not Ok, with verifier::describe's text.
RefusalInput refusalFor(verifier::Status status);

struct ResponseOptions {
  std::string realm = "jwtgate";
  // false: no error_description anywhere (header nor body).
  bool include_descriptions = true;
};

// A response ready to serialise. Reuse one per connection: clear() keeps the capacity.
class HttpRefusal {
 public:
  static constexpr std::string_view kContentType = "application/json";
  static constexpr std::size_t kMaxDescription = 200;

  int status() const { return status_; }
  std::string_view reason() const { return reason_; }
  // Complete header lines, each ending in CRLF: Content-Type, Cache-Control and, when there
  // is a challenge, WWW-Authenticate. Lives until the next build.
  std::string_view headerLines() const { return headers_; }
  // The WWW-Authenticate value alone (empty when there is none). Lives until the next build.
  std::string_view wwwAuthenticate() const {
    return std::string_view(headers_).substr(challenge_begin_, challenge_size_);
  }
  std::string_view body() const { return body_; }

 private:
  friend void buildRefusal(const RefusalInput&, const ResponseOptions&, HttpRefusal&);

  int status_ = 0;
  std::string_view reason_;
  std::string headers_;
  std::size_t challenge_begin_ = 0;
  std::size_t challenge_size_ = 0;
  std::string body_;
};

// Copies a built refusal into the proxy's local reply (status, content type, body and the
// Cache-Control and WWW-Authenticate fields); `reply` is cleared first and its strings reuse
// their capacity. Use as fillLocalReply(refusal, request.respond(refusal.status())).
void fillLocalReply(const HttpRefusal& refusal, proxy::LocalReply& reply);

// Fills `out` for `input`. Never throws; allocates only while `out`'s buffers grow.
// NOTE: descriptions keep only RFC 6750's error_description characters (%x20-21 / %x23-5B /
// %x5D-7E) in the header, every other byte becomes '?'; in the JSON body control bytes,
// quotes, '\', '<', '>' and '&' are \u-escaped and each non-ASCII byte becomes U+FFFD.
void buildRefusal(const RefusalInput& input, const ResponseOptions& options, HttpRefusal& out);

}  // namespace jwtgate::auth

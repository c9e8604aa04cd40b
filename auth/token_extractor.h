// Finds the bearer credential in a request (header, cookie or query parameter) following a
// provider's ordered `token_from` list, and refuses ambiguous requests instead of guessing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proxy/request_filter.h"

namespace jwtgate::auth {

// One request header as the parser saw it (views into the request's header bytes). The
// proxy's own type, so an auth filter can hand over the fields it collected from
// RequestContext (a per-worker vector reused across requests, removed fields left out).
using HeaderField = proxy::HeaderField;

enum class TokenLocation : std::uint8_t {
  Header,  // A request header: "<scheme> <token>", "<prefix><token>" or the whole value.
  Cookie,  // A cookie in the Cookie header(s).
  Query,   // A query parameter; the caller removes it before forwarding.
};

// One entry of a provider's `token_from` list, built at config load.
struct TokenSource {
  TokenLocation location = TokenLocation::Header;
  std::string name = "Authorization";  // Header, cookie or parameter name.
  // Header only. A scheme is compared case-insensitively and must be followed by at least one
  // space or tab; a prefix is compared byte for byte and nothing need follow it. With neither,
  // the whole (trimmed) value is the token.
  std::string scheme = "Bearer";
  std::string prefix;

  static TokenSource bearerHeader() { return {}; }
  static TokenSource header(std::string name, std::string prefix);
  static TokenSource cookie(std::string name);
  static TokenSource query(std::string name);
};

enum class ExtractStatus : std::uint8_t {
  None,            // No configured location holds a credential.
  Found,           // Exactly one credential.
  InvalidRequest,  // Ambiguous or malformed: refuse with 400 invalid_request.
};

// Why extraction gave InvalidRequest; stable names for metrics and logs.
enum class ExtractProblem : std::uint8_t {
  None,
  RepeatedHeader,        // A configured header appears more than once.
  RepeatedCookie,        // A configured cookie appears more than once.
  RepeatedParameter,     // A configured query parameter appears more than once.
  EmptyToken,            // The location is present but holds no token ("Bearer ").
  ConflictingLocations,  // Two locations hold different credentials.
};

std::string_view toString(ExtractProblem problem);

struct ExtractedToken {
  ExtractStatus status = ExtractStatus::None;
  ExtractProblem problem = ExtractProblem::None;
  // Index in the source list of the (first) location it came from.
  // NOTE: one byte: a provider's token_from list is short; the config loader should refuse
  // more than 255 entries.
  std::uint8_t source = 0;
  // Found only: a view into the header bytes or the target; lives as long as they do.
  std::string_view token;
};

// Looks for the credential in every configured location, in order.
// NOTE: strict about repetition: a configured header, cookie or parameter that appears twice
// is refused even when both copies are identical, so nothing downstream can pick another
// copy than the one verified. The same credential in two different locations (an
// Authorization header and a cookie, as some browser apps send) is accepted; two different
// credentials are refused.
// NOTE: cookie and query values are used as sent, without percent-decoding: a JWT's alphabet
// (base64url and '.') never needs it, and a token that does will fail verification.
// Never allocates.
ExtractedToken extractToken(std::span<const TokenSource> sources,
                            std::span<const HeaderField> headers, std::string_view query);

// Writes `query` into `out` without the parameter(s) named `name` (compared after percent-
// decoding the parameter name), keeping every other byte, '&' and order as they were.
// Returns true when something was removed. `out` is cleared first and its capacity reused.
bool removeQueryParameter(std::string_view query, std::string_view name, std::string& out);

}  // namespace jwtgate::auth

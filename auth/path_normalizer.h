// Normalises a request target's path before route matching, so that one resource has one
// spelling: "/admin/../public", "/%61dmin/" and "/public/%2e%2e/admin/" cannot dodge a rule.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "verifier/result.h"

namespace jwtgate::auth {

// Why a target is refused (every value maps to 400 Bad Request). Stable names: they label
// metrics and log lines.
enum class PathError : std::uint8_t {
  NotOriginForm,        // Empty, "*", absolute-form, or otherwise not starting with '/'.
  ControlCharacter,     // A raw byte 0x00-0x1F or 0x7F, or a '#' (never sent by clients).
  BadPercentEncoding,   // A '%' not followed by two hex digits.
  EncodedSlash,         // "%2F": a segment separator that upstreams disagree about.
  EncodedBackslash,     // "%5C", or a raw '\': some upstreams treat it as '/'.
  EncodedControl,       // "%00"-"%1F" or "%7F": decodes to NUL or a control character.
  DotSegmentParameter,  // A "." or ".." segment carrying ";params" ("/..;/admin").
  PathParameter,        // A ';' in the path while path parameters are refused.
  AmbiguousDotDot,      // A ".." that would remove an empty segment: "/a//../b".
};

// A short stable identifier ("not_origin_form", ...) for metrics and logs.
std::string_view toString(PathError error);

struct PathOptions {
  // Merge runs of '/' into one ("//admin" -> "/admin") after dot segments are removed.
  // NOTE: on by default. Matching must see a path at least as canonical as any upstream's
  // view: many upstreams (nginx, most frameworks) merge slashes, so without merging
  // "//admin" would miss a rule on "/admin" and still reach /admin upstream. With merging, an
  // upstream that keeps "//admin" distinct is merely protected by the "/admin" rule too.
  // Either way a ".." that would remove an empty segment ("/a//../b") is refused, because
  // merging upstreams and non-merging ones resolve it to different paths.
  bool merge_slashes = true;

  // Refuse any ';' in the path. Servlet containers strip ";params" from each segment, so
  // "/admin;x/secret" reaches "/admin/secret" there while it would not match "/admin" here.
  // NOTE: on by default (fail closed); dot segments with parameters are refused either way.
  bool refuse_path_parameters = true;
};

// The two halves of an origin-form request target (RFC 9112 section 3.2.1).
struct NormalizedTarget {
  std::string_view path;   // Normalised; lives in the caller's buffer until it changes.
  std::string_view query;  // Raw bytes after the first '?', untouched; a view into target.
  bool has_query = false;  // Tells "/a?" (empty query) from "/a".
};

// Normalises the path of `target` into `buffer` (cleared first; its capacity is reused, and
// the output is never longer than the input, so a buffer reused per connection stops
// allocating after the first requests):
//  - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are decoded and the hex of
//    every other escape is upper-cased (RFC 3986 section 6.2.2);
//  - "." and ".." segments are removed (RFC 3986 section 5.2.4), including encoded ones
//    ("%2e%2E"), and ".." never climbs above the root;
//  - the query is split off and returned untouched.
// On failure returns the reason; the request should be refused with 400. Forward this path
// (plus the query) upstream rather than the raw target, so that what was matched is what the
// upstream serves.
// NOTE: strict by design: "%2F", "%5C", "%00" (and every encoded control byte) are refused
// rather than kept, because upstreams disagree on whether they separate segments.
// NOTE: other escapes are kept encoded, so "%252e" stays "%252e": an upstream that decodes
// twice is outside what a proxy can defend.
Result<NormalizedTarget, PathError> normalizeTarget(std::string_view target, std::string& buffer,
                                                    const PathOptions& options = {});

}  // namespace jwtgate::auth

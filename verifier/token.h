// The JWS compact serialisation (RFC 7515 section 7.1) and the JOSE header checks of the
// verifier: splitting, and reading alg, kid, typ and crit from a parsed header.
#pragma once

#include <optional>
#include <string_view>

#include "verifier/algorithm.h"
#include "verifier/json_document.h"
#include "verifier/policy.h"
#include "verifier/result.h"
#include "verifier/status.h"

namespace jwtgate::verifier {

// The three base64url segments of a compact token, as views into the token text.
struct CompactParts {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input;  // "header.payload", exactly as received.
};

// Splits `token` at its dots. MalformedToken unless there are exactly three segments with a
// non-empty header and payload ("x.y" is malformed). An empty signature ("x.y.", the
// unsecured JWS of RFC 7515 appendix A.5) passes this step so that its "alg" is judged
// first; the verifier refuses it right after the header (MalformedToken). The views live
// as long as `token`.
Result<CompactParts, Status> splitCompact(std::string_view token);

// What the verifier uses from a protected header. The views point into the header
// document's text and live as long as it.
struct JoseHeader {
  Algorithm alg = Algorithm::RS256;
  std::optional<std::string_view> kid;  // Unescaped; may hold any byte, NUL included.
};

// Checks a parsed header against `policy`, in this order: "alg" present and a string
// (AlgorithmMissing), implemented (AlgorithmUnsupported; "none" in any spelling is never
// implemented), allowed (AlgorithmNotAllowed); "crit" absent (UnsupportedCrit: jwtgate
// implements no extension, so any "crit", well-formed or not, is refused); "typ" as the
// policy requires (TypeMismatch); "kid", when present, a string (KeyNotFound otherwise).
// "jwk", "jku", "x5u", "x5c" and every other member are ignored: keys come only from the
// configured KeySet.
Result<JoseHeader, Status> readHeader(const JsonDocument& header, const Policy& policy);

// RFC 7515 section 4.1.9: media types compare case-insensitively and "application/" is
// implied when a value has no '/'.
bool mediaTypeMatches(std::string_view actual, std::string_view required);

}  // namespace jwtgate::verifier

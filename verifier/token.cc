// Compact serialisation splitting and JOSE header checks.
#include "verifier/token.h"

#include "verifier/claims.h"

namespace jwtgate::verifier {
namespace {

constexpr std::string_view kApplicationPrefix = "application/";

char asciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (asciiLower(a[i]) != asciiLower(b[i])) {
      return false;
    }
  }
  return true;
}

// Drops an "application/" prefix (any case); a value without '/' is left as is, which is
// the same as comparing both sides with the prefix implied.
std::string_view withoutApplicationPrefix(std::string_view type) {
  if (type.find('/') == std::string_view::npos) {
    return type;
  }
  if (type.size() > kApplicationPrefix.size() &&
      equalsIgnoreCase(type.substr(0, kApplicationPrefix.size()), kApplicationPrefix)) {
    return type.substr(kApplicationPrefix.size());
  }
  return {};  // Another top-level type: never equal to an "application/" type below.
}

}  // namespace

Result<CompactParts, Status> splitCompact(std::string_view token) {
  const std::size_t first = token.find('.');
  if (first == std::string_view::npos) {
    return makeError(Status::MalformedToken);
  }
  const std::size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return makeError(Status::MalformedToken);
  }

  CompactParts parts;
  parts.header = token.substr(0, first);
  parts.payload = token.substr(first + 1, second - first - 1);
  parts.signature = token.substr(second + 1);
  parts.signing_input = token.substr(0, second);
  if (parts.header.empty() || parts.payload.empty()) {
    return makeError(Status::MalformedToken);
  }
  return parts;
}

bool mediaTypeMatches(std::string_view actual, std::string_view required) {
  const bool actual_has_slash = actual.find('/') != std::string_view::npos;
  const bool required_has_slash = required.find('/') != std::string_view::npos;
  if (actual_has_slash == required_has_slash) {
    return !actual.empty() && equalsIgnoreCase(actual, required);
  }
  // One side is a short name: it matches only "application/<name>" on the other side.
  const std::string_view full = actual_has_slash ? actual : required;
  const std::string_view name = actual_has_slash ? required : actual;
  const std::string_view rest = withoutApplicationPrefix(full);
  return !name.empty() && equalsIgnoreCase(rest, name);
}

Result<JoseHeader, Status> readHeader(const JsonDocument& header, const Policy& policy) {
  const ClaimsView members(header);
  JoseHeader out;

  // alg: RFC 7515 section 4.1.1; its value is case-sensitive, so "None" is just unknown.
  const std::optional<ClaimValue> alg = members.find("alg");
  if (!alg || !alg->isString()) {
    return makeError(Status::AlgorithmMissing);
  }
  const std::optional<Algorithm> parsed = parseAlgorithm(alg->string());
  if (!parsed) {
    return makeError(Status::AlgorithmUnsupported);
  }
  if (!policy.algorithms.contains(*parsed)) {
    return makeError(Status::AlgorithmNotAllowed);
  }
  out.alg = *parsed;

  // crit: section 4.1.11 requires refusing a token whose listed extensions are not all
  // understood. jwtgate understands none (b64 of RFC 7797 included), so "crit" in any
  // form, even an empty or malformed one, fails.
  if (members.find("crit")) {
    return makeError(Status::UnsupportedCrit);
  }

  if (policy.required_type) {
    const std::optional<ClaimValue> typ = members.find("typ");
    if (!typ || !typ->isString() || !mediaTypeMatches(typ->string(), *policy.required_type)) {
      return makeError(Status::TypeMismatch);
    }
  }

  // A kid that is not a string cannot name any key.
  if (const std::optional<ClaimValue> kid = members.find("kid")) {
    if (!kid->isString()) {
      return makeError(Status::KeyNotFound);
    }
    out.kid = kid->string();
  }
  return out;
}

}  // namespace jwtgate::verifier

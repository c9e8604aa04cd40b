// Claim lookups over a validated document index, header rendering, and the claim checks.
#include "verifier/claims.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "verifier/policy.h"

namespace jwtgate::verifier {
namespace {

bool isBareSegmentChar(char c) { return c != '.' && c != '[' && c != ']' && c != '"'; }

bool needsQuoting(std::string_view segment) {
  return segment.empty() || !std::all_of(segment.begin(), segment.end(), isBareSegmentChar);
}

// Parses a bracket-quoted segment starting at spec[i] == '['; advances i past the ']'.
Result<std::string, std::string> parseQuotedSegment(std::string_view spec, std::size_t& i) {
  if (i + 1 >= spec.size() || spec[i + 1] != '"') {
    return makeError(std::string("'[' must be followed by '\"'"));
  }
  std::string segment;
  for (i += 2; i < spec.size(); ++i) {
    const char c = spec[i];
    if (c == '\\') {
      if (i + 1 >= spec.size() || (spec[i + 1] != '"' && spec[i + 1] != '\\')) {
        return makeError(std::string("only \\\" and \\\\ may be escaped in a quoted segment"));
      }
      segment.push_back(spec[++i]);
    } else if (c == '"') {
      if (i + 1 >= spec.size() || spec[i + 1] != ']') {
        return makeError(std::string("a quoted segment must end with '\"]'"));
      }
      i += 2;
      if (segment.empty()) {
        return makeError(std::string("empty quoted segment"));
      }
      return segment;
    } else {
      segment.push_back(c);
    }
  }
  return makeError(std::string("unterminated quoted segment"));
}

std::optional<std::uint32_t> findMember(const JsonDocument& document, std::uint32_t object,
                                        std::string_view name) {
  const JsonNode& parent = document.nodes[object];
  if (parent.kind != JsonKind::Object) {
    return std::nullopt;
  }
  for (std::uint32_t i = object + 1; i < parent.next; i = document.nodes[i].next) {
    const JsonNode& child = document.nodes[i];
    if (child.key_length == name.size() &&
        document.text.at(child.key_offset, child.key_length) == name) {
      return i;
    }
  }
  return std::nullopt;
}

void appendJsonNode(const JsonDocument& document, std::uint32_t index, std::string& out) {
  const JsonNode& node = document.nodes[index];
  switch (node.kind) {
    case JsonKind::Null:
      out.append("null");
      return;
    case JsonKind::Boolean:
      out.append(node.text_length != 0 ? "true" : "false");
      return;
    case JsonKind::Number:
      out.append(document.text.at(node.text_offset, node.text_length));
      return;
    case JsonKind::String:
      appendJsonString(out, document.text.at(node.text_offset, node.text_length));
      return;
    case JsonKind::Array:
    case JsonKind::Object:
      break;
  }
  const bool is_object = node.kind == JsonKind::Object;
  out.push_back(is_object ? '{' : '[');
  for (std::uint32_t i = index + 1; i < node.next; i = document.nodes[i].next) {
    if (i != index + 1) {
      out.push_back(',');
    }
    if (is_object) {
      const JsonNode& child = document.nodes[i];
      appendJsonString(out, document.text.at(child.key_offset, child.key_length));
      out.push_back(':');
    }
    appendJsonNode(document, i, out);
  }
  out.push_back(is_object ? '}' : ']');
}

bool isScalar(const ClaimValue& value) { return !value.isArray() && !value.isObject(); }

void appendScalar(const ClaimValue& value, std::string& out) {
  switch (value.kind()) {
    case JsonKind::String:
      out.append(value.string());
      return;
    case JsonKind::Number:
      out.append(value.numberText());
      return;
    case JsonKind::Boolean:
      out.append(value.boolean() ? "true" : "false");
      return;
    case JsonKind::Null:  // Renders as an empty value.
    case JsonKind::Array:
    case JsonKind::Object:
      return;
  }
}

bool hasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

// 2^53: beyond it not every integer is a double, so int64 and double no longer compare.
constexpr std::int64_t kMaxExactDouble = std::int64_t{1} << 53;

bool numberEquals(const ClaimValue& value, std::int64_t expected) {
  if (const std::optional<std::int64_t> integer = value.integer()) {
    return *integer == expected;
  }
  const std::optional<double> number = value.number();
  return number && expected <= kMaxExactDouble && expected >= -kMaxExactDouble &&
         *number == static_cast<double>(expected);
}

bool scalarMatches(const ClaimValue& value, const ClaimExpectation& expected) {
  if (std::holds_alternative<std::monostate>(expected)) {
    return true;
  }
  if (const auto* text = std::get_if<std::string>(&expected)) {
    return value.isString() && value.string() == *text;
  }
  if (const auto* integer = std::get_if<std::int64_t>(&expected)) {
    return numberEquals(value, *integer);
  }
  if (const auto* number = std::get_if<double>(&expected)) {
    const std::optional<double> actual = value.number();
    return actual && *actual == *number;
  }
  const bool flag = std::get<bool>(expected);
  return value.isBoolean() && value.boolean() == flag;
}

bool claimMatches(const ClaimValue& value, const ClaimExpectation& expected) {
  if (scalarMatches(value, expected)) {
    return true;
  }
  if (!value.isArray()) {
    return false;
  }
  for (const ClaimValue element : value.elements()) {
    if (scalarMatches(element, expected)) {
      return true;
    }
  }
  return false;
}

// True if `granted` (an OAuth scope string: values separated by spaces) holds `wanted`.
bool scopeStringHas(std::string_view granted, std::string_view wanted) {
  while (!granted.empty()) {
    const std::size_t space = granted.find(' ');
    const std::string_view item = granted.substr(0, space);
    if (item == wanted) {
      return true;
    }
    if (space == std::string_view::npos) {
      break;
    }
    granted.remove_prefix(space + 1);
  }
  return false;
}

bool sourceGrants(const std::optional<ClaimValue>& source, std::string_view wanted) {
  if (!source) {
    return false;
  }
  if (source->isString()) {
    return scopeStringHas(source->string(), wanted);
  }
  if (!source->isArray()) {
    return false;
  }
  for (const ClaimValue element : source->elements()) {
    if (element.isString() && element.string() == wanted) {
      return true;
    }
  }
  return false;
}

bool isGranted(const ClaimsView& claims, const ScopeRequirement& requirement,
               std::string_view wanted) {
  if (wanted.empty()) {
    return false;  // "a  b" holds an empty item between its spaces; it grants nothing.
  }
  if (requirement.sources.empty()) {
    return sourceGrants(claims.find("scope"), wanted) || sourceGrants(claims.find("scp"), wanted);
  }
  return std::any_of(
      requirement.sources.begin(), requirement.sources.end(),
      [&](const ClaimPath& path) { return sourceGrants(claims.find(path), wanted); });
}

// Reads an optional time claim: absent is fine, present must be a valid NumericDate.
bool readTime(const ClaimsView& claims, std::string_view name, std::optional<std::int64_t>& out) {
  const std::optional<ClaimValue> value = claims.find(name);
  if (!value) {
    return true;
  }
  out = numericDate(*value);
  return out.has_value();
}

Status checkAudience(const ClaimsView& claims, const Policy& policy) {
  const std::optional<ClaimValue> aud = claims.find("aud");
  if (!aud) {
    return policy.audiences.empty() ? Status::Ok : Status::AudienceMissing;
  }

  // RFC 7519 section 4.1.3: a string or an array of strings; anything else is malformed.
  if (!aud->isString() && !aud->isArray()) {
    return Status::BadAudience;
  }
  if (aud->isArray()) {
    for (const ClaimValue element : aud->elements()) {
      if (!element.isString()) {
        return Status::BadAudience;
      }
    }
  }
  if (policy.audiences.empty()) {
    return Status::Ok;
  }

  for (const std::string& accepted : policy.audiences) {
    if (aud->isString() ? aud->string() == accepted
                        : claimMatches(*aud, ClaimExpectation(accepted))) {
      return Status::Ok;
    }
  }
  return Status::AudienceMismatch;
}

}  // namespace

// ClaimPath

Result<ClaimPath, std::string> ClaimPath::parse(std::string_view spec) {
  if (spec.empty()) {
    return makeError(std::string("empty claim path"));
  }
  std::vector<std::string> segments;
  std::size_t i = 0;
  while (true) {
    if (spec[i] == '[') {
      Result<std::string, std::string> segment = parseQuotedSegment(spec, i);
      if (!segment) {
        return makeError(segment.error());
      }
      segments.push_back(std::move(segment).value());
    } else {
      const std::size_t start = i;
      while (i < spec.size() && isBareSegmentChar(spec[i])) {
        ++i;
      }
      if (i == start) {
        return makeError(std::string("empty or malformed segment at offset ") +
                         std::to_string(start));
      }
      segments.emplace_back(spec.substr(start, i - start));
    }

    // After a segment: the end, a '.' and another segment, or a quoted segment.
    if (i == spec.size()) {
      break;
    }
    if (spec[i] == '.') {
      if (++i == spec.size()) {
        return makeError(std::string("claim path ends with '.'"));
      }
    } else if (spec[i] != '[') {
      return makeError(std::string("unexpected character at offset ") + std::to_string(i));
    }
  }
  ClaimPath path;
  path.segments_ = std::move(segments);
  return path;
}

Result<ClaimPath, std::string> ClaimPath::fromSegments(std::vector<std::string> segments) {
  if (segments.empty()) {
    return makeError(std::string("empty claim path"));
  }
  for (const std::string& segment : segments) {
    if (segment.empty()) {
      return makeError(std::string("empty segment in claim path"));
    }
  }
  ClaimPath path;
  path.segments_ = std::move(segments);
  return path;
}

std::string ClaimPath::toString() const {
  std::string out;
  for (const std::string& segment : segments_) {
    if (!needsQuoting(segment)) {
      if (!out.empty()) {
        out.push_back('.');
      }
      out.append(segment);
      continue;
    }
    out.append("[\"");
    for (const char c : segment) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
      }
      out.push_back(c);
    }
    out.append("\"]");
  }
  return out;
}

// ClaimElements and ClaimValue

ClaimValue ClaimElements::iterator::operator*() const { return ClaimValue(document_, index_); }

ClaimElements::iterator& ClaimElements::iterator::operator++() {
  index_ = document_.nodes[index_].next;
  return *this;
}

std::string_view ClaimValue::string() const {
  const JsonNode& n = node();
  return n.kind == JsonKind::String ? document_.text.at(n.text_offset, n.text_length)
                                    : std::string_view();
}

std::string_view ClaimValue::numberText() const {
  const JsonNode& n = node();
  return n.kind == JsonKind::Number ? document_.text.at(n.text_offset, n.text_length)
                                    : std::string_view();
}

std::optional<double> ClaimValue::number() const {
  const std::string_view text = numberText();
  if (text.empty()) {
    return std::nullopt;
  }
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::int64_t> ClaimValue::integer() const {
  const std::string_view text = numberText();
  if (text.empty()) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

ClaimElements ClaimValue::elements() const {
  const JsonNode& n = node();
  if (n.kind != JsonKind::Array) {
    return ClaimElements(document_, index_, index_);
  }
  return ClaimElements(document_, index_ + 1, n.next);
}

std::optional<ClaimValue> ClaimValue::member(std::string_view name) const {
  const std::optional<std::uint32_t> index = findMember(document_, index_, name);
  if (!index) {
    return std::nullopt;
  }
  return ClaimValue(document_, *index);
}

void ClaimValue::appendJson(std::string& out) const { appendJsonNode(document_, index_, out); }

// ClaimsView

std::optional<ClaimValue> ClaimsView::root() const {
  if (document_.node_count == 0) {
    return std::nullopt;
  }
  return ClaimValue(document_, 0);
}

std::optional<ClaimValue> ClaimsView::find(std::string_view name) const {
  if (document_.node_count == 0) {
    return std::nullopt;
  }
  const std::optional<std::uint32_t> index = findMember(document_, 0, name);
  if (!index) {
    return std::nullopt;
  }
  return ClaimValue(document_, *index);
}

std::optional<ClaimValue> ClaimsView::find(std::span<const std::string> segments) const {
  if (document_.node_count == 0 || segments.empty()) {
    return std::nullopt;
  }
  std::uint32_t index = 0;
  for (const std::string& segment : segments) {
    const std::optional<std::uint32_t> child = findMember(document_, index, segment);
    if (!child) {
      return std::nullopt;
    }
    index = *child;
  }
  return ClaimValue(document_, index);
}

std::optional<ClaimValue> ClaimsView::find(const ClaimPath& path) const {
  return find(std::span<const std::string>(path.segments()));
}

// Rendering

Result<std::string, RenderError> render(const ClaimValue& value) {
  std::string out;
  if (isScalar(value)) {
    appendScalar(value, out);
  } else if (value.isArray() &&
             std::all_of(value.elements().begin(), value.elements().end(), isScalar)) {
    bool first = true;
    for (const ClaimValue element : value.elements()) {
      if (!first) {
        out.push_back(',');
      }
      first = false;
      appendScalar(element, out);
    }
  } else {
    value.appendJson(out);
  }

  // Compact JSON escapes controls itself, so only raw strings can trip this; checking the
  // final text covers every path regardless.
  if (hasControlCharacter(out)) {
    return makeError(RenderError::ControlCharacter);
  }
  return out;
}

Result<std::string, RenderError> render(const ClaimsView& claims, const ClaimPath& path) {
  const std::optional<ClaimValue> value = claims.find(path);
  if (!value) {
    return makeError(RenderError::Missing);
  }
  return render(*value);
}

// Checks

Status checkClaims(const ClaimsView& claims, std::span<const ClaimRequirement> requirements) {
  for (const ClaimRequirement& requirement : requirements) {
    const std::optional<ClaimValue> value = claims.find(requirement.path);
    if (!value) {
      return Status::ClaimMissing;
    }
    if (!claimMatches(*value, requirement.expected)) {
      return Status::ClaimMismatch;
    }
  }
  return Status::Ok;
}

Status checkScopes(const ClaimsView& claims, const ScopeRequirement& requirement) {
  if (requirement.required.empty()) {
    return Status::Ok;
  }
  auto granted = [&](const std::string& wanted) { return isGranted(claims, requirement, wanted); };
  const bool ok =
      requirement.match == ScopeMatch::AllOf
          ? std::all_of(requirement.required.begin(), requirement.required.end(), granted)
          : std::any_of(requirement.required.begin(), requirement.required.end(), granted);
  return ok ? Status::Ok : Status::InsufficientScope;
}

std::optional<std::int64_t> numericDate(const ClaimValue& value) {
  if (!value.isNumber()) {
    return std::nullopt;
  }

  // Integers are read exactly; only other forms (fractions, exponents, integers beyond
  // int64) go through double, and a double is range-checked before the conversion so the
  // cast cannot overflow.
  if (const std::optional<std::int64_t> integer = value.integer()) {
    if (*integer < 0 || *integer > kMaxNumericDate) {
      return std::nullopt;
    }
    return *integer;
  }
  const std::optional<double> number = value.number();
  if (!number || !(*number >= 0.0) || *number > static_cast<double>(kMaxNumericDate)) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(std::ceil(*number));
}

Status checkRegisteredClaims(const ClaimsView& claims, const Policy& policy, std::int64_t now) {
  const std::int64_t leeway = std::clamp<std::int64_t>(policy.leeway_seconds, 0, kMaxNumericDate);

  // Every time claim present must be a NumericDate, whether or not the policy uses it.
  std::optional<std::int64_t> exp, nbf, iat;
  if (!readTime(claims, "exp", exp) || !readTime(claims, "nbf", nbf) ||
      !readTime(claims, "iat", iat)) {
    return Status::BadNumericDate;
  }

  // RFC 7519 section 4.1.4: the current time must be before exp (plus the leeway).
  if (!exp && (policy.require_expiration || policy.max_lifetime_seconds)) {
    return Status::ExpirationMissing;
  }
  if (exp && now >= *exp + leeway) {
    return Status::Expired;
  }

  // Section 4.1.5: the current time must be at or after nbf (minus the leeway).
  if (nbf && now < *nbf - leeway) {
    return Status::NotYetValid;
  }
  if (iat && *iat - leeway > now) {
    return Status::IssuedInFuture;
  }

  // Written so that no subtraction involves `now`, which the caller controls.
  if (policy.max_lifetime_seconds) {
    const std::int64_t max =
        std::clamp<std::int64_t>(*policy.max_lifetime_seconds, 0, kMaxNumericDate);
    if (iat ? *exp - *iat > max : now < *exp - max) {
      return Status::LifetimeTooLong;
    }
  }

  // Section 4.1.1: iss is compared as a case-sensitive string.
  if (policy.issuer) {
    const std::optional<ClaimValue> iss = claims.find("iss");
    if (!iss) {
      return Status::IssuerMissing;
    }
    if (!iss->isString() || iss->string() != *policy.issuer) {
      return Status::IssuerMismatch;
    }
  }

  if (const Status status = checkAudience(claims, policy); status != Status::Ok) {
    return status;
  }
  return checkClaims(claims, policy.required_claims);
}

}  // namespace jwtgate::verifier

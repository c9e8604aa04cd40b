// Reading the claims of a verified token (ClaimsView, ClaimPath, render) and the claim
// checks that routes re-run on every request (required claims, scopes and roles).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "verifier/json_document.h"
#include "verifier/result.h"
#include "verifier/status.h"

namespace jwtgate::verifier {

struct Policy;

// A path to a claim: the names of nested members, outermost first. Configuration-time
// object; it owns its segments.
class ClaimPath {
 public:
  // Parses the configuration syntax: segments separated by '.', where a segment is either a
  // bare name (any bytes but '.', '[', ']', '"') or a bracket-quoted name for keys holding
  // dots or slashes, with \" and \\ as the only escapes:
  //   sub   realm_access.roles   ["https://example.com/roles"]   resource_access["my.app"].roles
  // Returns a message naming the problem for an empty path, an empty segment, or bad quoting.
  static Result<ClaimPath, std::string> parse(std::string_view spec);

  // A path from pre-split segments (no syntax); refuses an empty path or an empty segment.
  static Result<ClaimPath, std::string> fromSegments(std::vector<std::string> segments);

  const std::vector<std::string>& segments() const { return segments_; }

  // The path in the syntax parse() accepts (bare where possible, bracket-quoted otherwise).
  std::string toString() const;

  bool operator==(const ClaimPath&) const = default;

 private:
  std::vector<std::string> segments_;
};

class ClaimValue;

// The elements of an array claim, iterable with a range-for. The range and its iterators
// are valid as long as the token the value came from.
class ClaimElements {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = ClaimValue;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = ClaimValue;

    iterator() = default;
    ClaimValue operator*() const;
    iterator& operator++();
    iterator operator++(int) {
      iterator copy = *this;
      ++*this;
      return copy;
    }
    bool operator==(const iterator& other) const { return index_ == other.index_; }

   private:
    friend class ClaimElements;
    iterator(const JsonDocument& document, std::uint32_t index)
        : document_(document), index_(index) {}
    JsonDocument document_;
    std::uint32_t index_ = 0;
  };

  iterator begin() const { return iterator(document_, first_); }
  iterator end() const { return iterator(document_, end_); }

 private:
  friend class ClaimValue;
  ClaimElements(const JsonDocument& document, std::uint32_t first, std::uint32_t end)
      : document_(document), first_(first), end_(end) {}
  JsonDocument document_;
  std::uint32_t first_ = 0;
  std::uint32_t end_ = 0;
};

// One claim value: a small copyable handle. Every view it returns points into the token
// it came from and lives as long as that token (VerifiedToken), however long the ClaimValue
// itself is kept; it must not be used after the token is destroyed or moved from.
class ClaimValue {
 public:
  JsonKind kind() const { return node().kind; }
  bool isNull() const { return kind() == JsonKind::Null; }
  bool isBoolean() const { return kind() == JsonKind::Boolean; }
  bool isNumber() const { return kind() == JsonKind::Number; }
  bool isString() const { return kind() == JsonKind::String; }
  bool isArray() const { return kind() == JsonKind::Array; }
  bool isObject() const { return kind() == JsonKind::Object; }

  // String: the unescaped UTF-8 text (it may contain any code point, NUL and controls
  // included: use render() for headers). Empty for other kinds.
  std::string_view string() const;
  // Number: the JSON text exactly as in the token ("1e3", "-0", "12.50"). Empty otherwise.
  std::string_view numberText() const;
  // Number: the value as a double; nullopt for other kinds or when not finite (1e400).
  std::optional<double> number() const;
  // Number written as an integer that fits int64 ("42", "-7"); nullopt otherwise.
  std::optional<std::int64_t> integer() const;
  // Boolean: its value; false for other kinds.
  bool boolean() const { return isBoolean() && node().text_length != 0; }

  // Array or Object: how many elements or members; 0 for scalars.
  std::size_t size() const { return node().children; }
  // Array: its elements; empty for other kinds.
  ClaimElements elements() const;
  // Object: the member named `name` (compared after unescaping); nullopt when absent or
  // when this is not an object.
  std::optional<ClaimValue> member(std::string_view name) const;

  // Appends the value as compact JSON (no whitespace; strings re-escaped).
  void appendJson(std::string& out) const;

 private:
  friend class ClaimsView;
  friend class ClaimElements;
  ClaimValue(const JsonDocument& document, std::uint32_t index)
      : document_(document), index_(index) {}
  const JsonNode& node() const { return document_.nodes[index_]; }

  JsonDocument document_;
  std::uint32_t index_ = 0;
};

// Read access to a token's claims set (its payload object), without copying it. A view is
// valid while the VerifiedToken it came from is alive and not moved from; it is a cheap
// value (a few pointers) to pass around.
class ClaimsView {
 public:
  // An empty view: every lookup misses.
  ClaimsView() = default;
  explicit ClaimsView(const JsonDocument& document) : document_(document) {}

  // The top-level claim `name` (compared after unescaping); nullopt when absent.
  std::optional<ClaimValue> find(std::string_view name) const;
  // The claim at `path`, descending through nested objects; nullopt when any segment is
  // absent or names a member of something that is not an object.
  std::optional<ClaimValue> find(const ClaimPath& path) const;
  std::optional<ClaimValue> find(std::span<const std::string> segments) const;

  // The whole claims set (an object); nullopt for an empty view.
  std::optional<ClaimValue> root() const;

  const JsonDocument& document() const { return document_; }

 private:
  JsonDocument document_;
};

// Why a claim cannot become an HTTP header value.
enum class RenderError : std::uint8_t {
  Missing,           // The claim is absent.
  ControlCharacter,  // The text would contain CR, LF, NUL or another control character.
};

// Renders a claim as an HTTP header value: a string as is, a number as its JSON text,
// true/false, null as an empty value, an array of scalars joined with ",", anything else
// (objects, arrays holding containers) as compact JSON. Refuses any result holding a byte
// below 0x20 or 0x7f (CR, LF, NUL, TAB, ...): header injection is never possible.
// Allocates the returned string.
Result<std::string, RenderError> render(const ClaimValue& value);
Result<std::string, RenderError> render(const ClaimsView& claims, const ClaimPath& path);

// What a required claim must hold. monostate: only presence. A string, number or bool
// matches a claim of that value, or an array claim containing it. Numbers compare by value
// (an int64 exactly when the claim is written as an integer, else as doubles).
using ClaimExpectation = std::variant<std::monostate, std::string, std::int64_t, double, bool>;

struct ClaimRequirement {
  ClaimPath path;
  ClaimExpectation expected;
};

// Checks every requirement in order: Ok, or ClaimMissing / ClaimMismatch for the first
// that fails. Allocates nothing.
Status checkClaims(const ClaimsView& claims, std::span<const ClaimRequirement> requirements);

enum class ScopeMatch : std::uint8_t {
  AllOf,  // Every required value must be granted.
  AnyOf,  // At least one required value must be granted.
};

// A scope or role requirement. The granted values are the union of every source: a string
// source is split on spaces (OAuth "scope"), an array source contributes its string
// elements (Keycloak "realm_access.roles", Azure "roles", "scp" either way).
struct ScopeRequirement {
  std::vector<ClaimPath> sources;     // Empty: the claims "scope" and "scp".
  std::vector<std::string> required;  // Empty: nothing is required (always Ok).
  ScopeMatch match = ScopeMatch::AllOf;
};

// Ok, or InsufficientScope when the token does not grant what `requirement` asks.
// Allocates nothing; callable on a cached token for every request.
Status checkScopes(const ClaimsView& claims, const ScopeRequirement& requirement);

// A NumericDate (RFC 7519 section 2) as whole seconds: fractions round up (exactly right
// for comparisons against a whole-second clock). nullopt (BadNumericDate) unless `value`
// is a JSON number in [0, kMaxNumericDate]; -0 counts as 0.
std::optional<std::int64_t> numericDate(const ClaimValue& value);

// NOTE: 9999-12-31T23:59:59Z. Larger dates are refused so that adding a leeway or a
// lifetime can never overflow, and an "absurd" date is rejected as malformed.
inline constexpr std::int64_t kMaxNumericDate = 253402300799;

// The registered claims of RFC 7519 section 4.1 against a provider policy at time `now`
// (seconds since the epoch): exp, nbf, iat, the maximum lifetime, iss, aud, then the
// policy's required claims. Returns Ok or the first failing status. Allocates nothing.
Status checkRegisteredClaims(const ClaimsView& claims, const Policy& policy, std::int64_t now);

}  // namespace jwtgate::verifier

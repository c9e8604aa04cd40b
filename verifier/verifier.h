// The token verifier: compact JWS in, a VerifiedToken or a Status out. Pure: no I/O, no
// logging, no exceptions, time injected by the caller.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "verifier/algorithm.h"
#include "verifier/claims.h"
#include "verifier/json_document.h"
#include "verifier/key_set.h"
#include "verifier/policy.h"
#include "verifier/result.h"
#include "verifier/status.h"

namespace jwtgate::verifier {

// A token whose signature and registered claims have been verified. It owns a copy of the
// decoded payload (plus the unescaped text of strings that had escapes) and an index of
// its values, so claims can be read on every later request without parsing again.
// Immutable; copyable; safe to share between threads (e.g. in a cache).
class VerifiedToken {
 public:
  // The verified "alg".
  Algorithm algorithm() const { return alg_; }
  // The header's "kid", unescaped, or nullopt without one. Not for logs: it is
  // attacker-chosen text (it may hold control characters).
  const std::optional<std::string>& kid() const { return kid_; }

  // The decoded payload bytes (a JSON object), exactly as signed. Valid while this token is
  // alive and not moved from.
  std::string_view payload() const { return std::string_view(storage_.data(), payload_size_); }

  // The claims. The view, and every ClaimValue and string_view obtained through it, is
  // valid while this token is alive and not moved from or assigned to.
  ClaimsView claims() const;

  // The registered time claims as whole seconds (fractions rounded up), when present.
  // A cache should drop the token at expiresAt() (plus the policy leeway, if it applies it).
  std::optional<std::int64_t> expiresAt() const { return exp_; }
  std::optional<std::int64_t> notBefore() const { return nbf_; }
  std::optional<std::int64_t> issuedAt() const { return iat_; }

 private:
  friend class Verifier;
  VerifiedToken() = default;

  std::string storage_;  // The payload, then the arena of unescaped strings.
  std::uint32_t payload_size_ = 0;
  std::vector<JsonNode> nodes_;
  Algorithm alg_ = Algorithm::RS256;
  std::optional<std::string> kid_;
  std::optional<std::int64_t> exp_, nbf_, iat_;
};

// Verifies tokens. Holds the reusable buffers and the simdjson parser, so it is
// thread-compatible, not thread-safe: give each worker thread its own. Keys and policy are
// passed per call (the caller may swap its KeySet at any time between calls).
//
// The steps, first failure wins:
//   1. length <= policy.max_token_bytes, before any decoding (TokenTooLarge);
//   2. three segments, header and payload non-empty (MalformedToken), each strict
//      base64url (BadBase64);
//   3. the header: a JSON object without duplicates within the depth limit (HeaderNotJson,
//      DuplicateMember, JsonTooDeep), then readHeader() (alg, crit, typ, kid); then an
//      empty signature is MalformedToken (so an unsecured "none" token is
//      AlgorithmUnsupported, a stripped HS256 one MalformedToken);
//   4. keys: KeySet::candidates(kid) filtered by Key::fits(alg) (KeyNotFound with a kid
//      that names no key, NoMatchingKey when none fits);
//   5. the signature with each candidate until one verifies (SignatureInvalid);
//   6. only then the payload JSON (PayloadNotJson, DuplicateMember, JsonTooDeep): no
//      unauthenticated byte reaches the claims parser;
//   7. checkRegisteredClaims() (time claims, iss, aud, the policy's required claims).
// Route-level checks (checkScopes, checkClaims) are separate so that a cached token can be
// re-checked for each request.
class Verifier {
 public:
  Verifier();
  ~Verifier();
  Verifier(Verifier&&) noexcept;
  Verifier& operator=(Verifier&&) noexcept;
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // Verifies `token` (the compact serialisation, without "Bearer ") for `policy` with the
  // keys of `keys` at time `now` (seconds since the epoch). Returns the VerifiedToken, or
  // the first failing Status. Never throws; allocates only the returned token (and grows
  // its own buffers the first time a larger token arrives). `token` and `keys` need to
  // live only for the call.
  Result<VerifiedToken, Status> verify(std::string_view token, const Policy& policy,
                                       const KeySet& keys, std::int64_t now);

  // Runs every step of verify() except 4 and 5 (keys and signature) and builds nothing.
  // NOT an authorisation decision: for benchmarks of the parsing and claims cost and for
  // diagnostics ("would this token pass apart from its signature?").
  Status checkIgnoringSignature(std::string_view token, const Policy& policy, std::int64_t now);

 private:
  struct Scratch;
  Status run(std::string_view token, const Policy& policy, const KeySet* keys, std::int64_t now);
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace jwtgate::verifier

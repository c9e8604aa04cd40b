// The outcome of verifying a token: one flat enum whose names label metrics and log lines.
#pragma once

#include <cstdint>
#include <string_view>

namespace jwtgate::verifier {

// Stable values: they appear in metrics and logs, so existing names never change meaning.
enum class Status : std::uint8_t {
  Ok,  // The token is valid for the policy.

  // Shape of the compact serialisation.
  TokenTooLarge,       // Longer than the configured limit; rejected before any decoding.
  MalformedToken,      // Not exactly three dot-separated segments, or an empty segment.
  BadBase64,           // A segment is not strict, canonical, unpadded base64url.
  HeaderNotJson,       // The protected header is not a JSON object.
  PayloadNotJson,      // The payload is not a JSON object.
  DuplicateMember,     // A JSON object names the same member twice.
  JsonTooDeep,         // Nesting goes beyond the configured depth.

  // Header checks.
  AlgorithmMissing,      // No "alg" member, or it is not a string.
  AlgorithmUnsupported,  // "alg" names nothing this verifier implements ("none" included).
  AlgorithmNotAllowed,   // "alg" is implemented but not in the provider's allowed set.
  UnsupportedCrit,       // "crit" is malformed or names an extension this verifier lacks.
  TypeMismatch,          // "typ" differs from the one the policy requires.

  // Keys and signature.
  KeyNotFound,        // No key carries the token's "kid".
  NoMatchingKey,      // No key fits the algorithm (type, curve or the key's own "alg").
  SignatureInvalid,   // The signature does not verify with any candidate key.

  // Registered claims.
  ExpirationMissing,  // "exp" is required and absent.
  Expired,            // "exp" is in the past beyond the leeway.
  NotYetValid,        // "nbf" is in the future beyond the leeway.
  IssuedInFuture,     // "iat" is in the future beyond the leeway.
  LifetimeTooLong,    // exp - iat (or exp - now) exceeds the configured maximum.
  BadNumericDate,     // A time claim is not a finite, non-negative, in-range JSON number.
  IssuerMissing,      // "iss" is required and absent.
  IssuerMismatch,     // "iss" is not the configured issuer (or not a string).
  AudienceMissing,    // "aud" is required and absent.
  AudienceMismatch,   // No "aud" value is a configured audience.
  BadAudience,        // "aud" is neither a string nor an array of strings.
  ClaimMissing,       // A required claim is absent.
  ClaimMismatch,      // A required claim has another value or type.

  // Authorisation.
  InsufficientScope,  // The token lacks a scope or role the policy requires.
};

// The RFC 6750 section 3.1 error code a status maps to.
enum class BearerError : std::uint8_t { None, InvalidRequest, InvalidToken, InsufficientScope };

// A short stable identifier ("expired", "bad_signature", ...) for metrics and logs.
std::string_view toString(Status status);

// A short human description, safe to send to a client: it never contains token bytes.
std::string_view describe(Status status);

// The RFC 6750 error code for a status; None only for Status::Ok.
BearerError bearerErrorFor(Status status);

// "invalid_request", "invalid_token", "insufficient_scope", or "" for None.
std::string_view toString(BearerError error);

}  // namespace jwtgate::verifier

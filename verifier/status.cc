// Names, client-safe descriptions and the RFC 6750 mapping of every verification status.
#include "verifier/status.h"

namespace jwtgate::verifier {

// Every switch below lists all values and has no default, so -Wswitch (an error under
// -Werror) flags a new Status that was not given a name, a description and a mapping.

std::string_view toString(Status status) {
  switch (status) {
    case Status::Ok:
      return "ok";
    case Status::TokenTooLarge:
      return "token_too_large";
    case Status::MalformedToken:
      return "malformed_token";
    case Status::BadBase64:
      return "bad_base64";
    case Status::HeaderNotJson:
      return "header_not_json";
    case Status::PayloadNotJson:
      return "payload_not_json";
    case Status::DuplicateMember:
      return "duplicate_member";
    case Status::JsonTooDeep:
      return "json_too_deep";
    case Status::AlgorithmMissing:
      return "alg_missing";
    case Status::AlgorithmUnsupported:
      return "alg_unsupported";
    case Status::AlgorithmNotAllowed:
      return "alg_not_allowed";
    case Status::UnsupportedCrit:
      return "unsupported_crit";
    case Status::TypeMismatch:
      return "typ_mismatch";
    case Status::KeyNotFound:
      return "key_not_found";
    case Status::NoMatchingKey:
      return "no_matching_key";
    case Status::SignatureInvalid:
      return "bad_signature";
    case Status::ExpirationMissing:
      return "exp_missing";
    case Status::Expired:
      return "expired";
    case Status::NotYetValid:
      return "not_yet_valid";
    case Status::IssuedInFuture:
      return "iat_in_future";
    case Status::LifetimeTooLong:
      return "lifetime_too_long";
    case Status::BadNumericDate:
      return "bad_numeric_date";
    case Status::IssuerMissing:
      return "iss_missing";
    case Status::IssuerMismatch:
      return "iss_mismatch";
    case Status::AudienceMissing:
      return "aud_missing";
    case Status::AudienceMismatch:
      return "aud_mismatch";
    case Status::BadAudience:
      return "bad_aud";
    case Status::ClaimMissing:
      return "claim_missing";
    case Status::ClaimMismatch:
      return "claim_mismatch";
    case Status::InsufficientScope:
      return "insufficient_scope";
  }
  return "unknown";  // Unreachable for valid values; keeps a corrupted byte from crashing.
}

std::string_view describe(Status status) {
  switch (status) {
    case Status::Ok:
      return "The token is valid";
    case Status::TokenTooLarge:
      return "The token is too large";
    case Status::MalformedToken:
      return "The token is not a compact JWS";
    case Status::BadBase64:
      return "The token is not valid base64url";
    case Status::HeaderNotJson:
      return "The token header is not a JSON object";
    case Status::PayloadNotJson:
      return "The token payload is not a JSON object";
    case Status::DuplicateMember:
      return "The token repeats a JSON member";
    case Status::JsonTooDeep:
      return "The token JSON is nested too deeply";
    case Status::AlgorithmMissing:
      return "The token header has no algorithm";
    case Status::AlgorithmUnsupported:
      return "The token algorithm is not supported";
    case Status::AlgorithmNotAllowed:
      return "The token algorithm is not allowed";
    case Status::UnsupportedCrit:
      return "The token requires an unsupported extension";
    case Status::TypeMismatch:
      return "The token type is not accepted";
    case Status::KeyNotFound:
      return "The token key is unknown";
    case Status::NoMatchingKey:
      return "No key fits the token algorithm";
    case Status::SignatureInvalid:
      return "The token signature is invalid";
    case Status::ExpirationMissing:
      return "The token has no expiration time";
    case Status::Expired:
      return "The token has expired";
    case Status::NotYetValid:
      return "The token is not valid yet";
    case Status::IssuedInFuture:
      return "The token was issued in the future";
    case Status::LifetimeTooLong:
      return "The token lifetime is too long";
    case Status::BadNumericDate:
      return "The token has an invalid time claim";
    case Status::IssuerMissing:
      return "The token has no issuer";
    case Status::IssuerMismatch:
      return "The token issuer is not accepted";
    case Status::AudienceMissing:
      return "The token has no audience";
    case Status::AudienceMismatch:
      return "The token audience is not accepted";
    case Status::BadAudience:
      return "The token audience is malformed";
    case Status::ClaimMissing:
      return "The token lacks a required claim";
    case Status::ClaimMismatch:
      return "The token has a wrong claim value";
    case Status::InsufficientScope:
      return "The token lacks the required scope";
  }
  return "The token is invalid";
}

// RFC 6750 section 3.1: "invalid_token" covers expired, malformed and otherwise invalid
// tokens; "insufficient_scope" a valid token without the privileges the route needs. An
// oversized token is reported as "invalid_request" (400): the request itself is outside
// what the server accepts, and retrying with the same credentials cannot succeed.
BearerError bearerErrorFor(Status status) {
  switch (status) {
    case Status::Ok:
      return BearerError::None;
    case Status::TokenTooLarge:
      return BearerError::InvalidRequest;
    case Status::MalformedToken:
    case Status::BadBase64:
    case Status::HeaderNotJson:
    case Status::PayloadNotJson:
    case Status::DuplicateMember:
    case Status::JsonTooDeep:
    case Status::AlgorithmMissing:
    case Status::AlgorithmUnsupported:
    case Status::AlgorithmNotAllowed:
    case Status::UnsupportedCrit:
    case Status::TypeMismatch:
    case Status::KeyNotFound:
    case Status::NoMatchingKey:
    case Status::SignatureInvalid:
    case Status::ExpirationMissing:
    case Status::Expired:
    case Status::NotYetValid:
    case Status::IssuedInFuture:
    case Status::LifetimeTooLong:
    case Status::BadNumericDate:
    case Status::IssuerMissing:
    case Status::IssuerMismatch:
    case Status::AudienceMissing:
    case Status::AudienceMismatch:
    case Status::BadAudience:
    case Status::ClaimMissing:
    case Status::ClaimMismatch:
      return BearerError::InvalidToken;
    case Status::InsufficientScope:
      return BearerError::InsufficientScope;
  }
  return BearerError::InvalidToken;  // Fail closed on a corrupted value.
}

std::string_view toString(BearerError error) {
  switch (error) {
    case BearerError::None:
      return "";
    case BearerError::InvalidRequest:
      return "invalid_request";
    case BearerError::InvalidToken:
      return "invalid_token";
    case BearerError::InsufficientScope:
      return "insufficient_scope";
  }
  return "invalid_token";
}

}  // namespace jwtgate::verifier

// JWKS and JWK parsing (RFC 7517, RFC 7518 section 6, RFC 8037 section 2) into a KeySet
// (verifier-private; the public entry point is KeySet::fromJwks).
#pragma once

#include <cstddef>
#include <string_view>

#include "verifier/key_set.h"
#include "verifier/result.h"

namespace jwtgate::verifier {

// NOTE: real providers publish a handful of keys (two or three across a rotation). A set of
// thousands is a misconfiguration or an attack: on memory (every key is decoded and gets
// verification contexts) and on verification time (a token without a kid is tried against
// every candidate key). Both fromJwks and fromPem refuse a document with more entries than
// this, skipped ones included, before decoding any key; fetched key sets are refused alike.
inline constexpr std::size_t kMaxKeysPerSet = 1000;

// See KeySet::fromJwks for what is skipped and what fails the load.
Result<KeySet, KeyLoadError> parseJwks(std::string_view json);

}  // namespace jwtgate::verifier

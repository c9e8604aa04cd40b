// JWKS and JWK parsing (RFC 7517, RFC 7518 section 6, RFC 8037 section 2) into a KeySet
// (verifier-private; the public entry point is KeySet::fromJwks).
#pragma once

#include <string_view>

#include "verifier/key_set.h"
#include "verifier/result.h"

namespace jwtgate::verifier {

// See KeySet::fromJwks for what is skipped and what fails the load.
Result<KeySet, KeyLoadError> parseJwks(std::string_view json);

}  // namespace jwtgate::verifier

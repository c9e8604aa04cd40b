// The signature layer: verifies one JWS signature with one key, through OpenSSL 3 EVP.
// The token path and the Wycheproof tests both call exactly this function.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "verifier/algorithm.h"
#include "verifier/key_set.h"

namespace jwtgate::verifier {

// Verifies `signature` (the decoded third segment) over `signing_input` (the ASCII bytes
// "BASE64URL(header).BASE64URL(payload)" exactly as received). Returns false for a key that
// does not fit `alg`, for any length or encoding problem (ES signatures must be the raw R||S
// of exactly twice the curve's field size), and for a bad signature. HMAC tags are compared
// in constant time. Leaves the OpenSSL error queue empty whatever the outcome.
// Thread-safe: it keeps no state between calls except per-thread reusable contexts.
bool verifySignature(const Key& key, Algorithm alg, std::string_view signing_input,
                     std::span<const std::uint8_t> signature);

}  // namespace jwtgate::verifier

// Per-key OpenSSL contexts prepared once at load time, so that the hot path only duplicates
// a ready context instead of fetching algorithms (verifier-private).
#pragma once

#include <array>

#include "verifier/algorithm.h"
#include "verifier/key_set.h"
#include "verifier/openssl_util.h"

namespace jwtgate::verifier::detail {

struct VerifyContexts {
  // RS, PS, ES: EVP_PKEY_verify_init done, padding, digest, MGF1 and salt length set.
  // Indexed by Algorithm; null where the key does not fit the algorithm.
  std::array<EvpPkeyCtxPtr, kAlgorithmCount> pkey;
  // HS: an HMAC context already keyed with the secret and set to the digest.
  std::array<EvpMacCtxPtr, kAlgorithmCount> mac;
};

// Builds the contexts of every algorithm `key` fits (EdDSA needs none). Returns false if
// OpenSSL refuses one; the error queue is then empty again.
bool prepareVerifyContexts(const Key& key, VerifyContexts& contexts);

}  // namespace jwtgate::verifier::detail

// Helpers shared by the key and signature tests: loading keys, verifying with an error-queue
// check after every call, reading the shared vector files.
#pragma once

#include <doctest/doctest.h>
#include <openssl/err.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "verifier/key_set.h"
#include "verifier/signature.h"

namespace jwtgate::testing {

inline std::span<const std::uint8_t> bytesOf(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// verifySignature, plus the promise that it leaves the OpenSSL error queue empty.
inline bool verifyClean(const verifier::Key& key, verifier::Algorithm alg,
                        std::string_view signing_input, std::span<const std::uint8_t> sig) {
  const bool ok = verifier::verifySignature(key, alg, signing_input, sig);
  CHECK_MESSAGE(ERR_peek_error() == 0, "OpenSSL error queue not empty after verify");
  ERR_clear_error();
  return ok;
}

// Loads a JWKS that the test expects to be valid; fails the test (and returns an empty set)
// otherwise.
inline verifier::KeySet loadJwks(std::string_view json) {
  auto set = verifier::KeySet::fromJwks(json);
  if (!set.ok()) {
    FAIL_CHECK("unexpected load error: " << set.error().message);
    return verifier::KeySet();
  }
  CHECK(ERR_peek_error() == 0);
  return std::move(set).value();
}

inline std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::string vectorsDir() { return JWTGATE_VECTORS_DIR; }

}  // namespace jwtgate::testing

// Test helpers for the token-level suites: compact tokens from raw parts, ready key sets
// and policies, and running the PyJWT helper scripts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "verifier/algorithm.h"
#include "verifier/claims.h"
#include "verifier/json_document.h"
#include "verifier/key_set.h"
#include "verifier/policy.h"
#include "verifier/status.h"

namespace jwtgate::testing {

// doctest prints values through an unqualified toString(), which finds the verifier's
// toString(Status) returning a string_view it cannot use; tests compare and print statuses
// and algorithms through these names instead.
inline std::string name(verifier::Status status) { return std::string(verifier::toString(status)); }
inline std::string name(verifier::Algorithm alg) { return std::string(verifier::toString(alg)); }
inline std::string name(verifier::BearerError error) {
  return "bearer:" + std::string(verifier::toString(error));
}

// A fixed "current time" for tests: 2023-11-14T22:13:20Z. Tests never read the clock.
inline constexpr std::int64_t kTestNow = 1700000000;

// BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature): no signing at all.
std::string compactToken(std::string_view header_json, std::string_view payload_json,
                         std::string_view signature = "not-a-signature");

// A payload that passes the default test policy at kTestNow: iss, aud, iat, nbf, exp.
std::string validPayload();

// The policy the suites start from: every algorithm allowed, issuer
// "https://issuer.test", audience "api", default leeway and limits.
verifier::Policy testPolicy();

// Loads a JWKS the test expects to be valid; throws std::runtime_error otherwise.
verifier::KeySet keySetFromJwks(std::string_view jwks);

// Parses a claim path the test expects to be valid; throws std::runtime_error otherwise.
verifier::ClaimPath claimPath(std::string_view spec);

// The output and exit status of a shell command.
struct CommandOutput {
  int exit_code = -1;  // -1 when the command could not run or was killed by a signal.
  std::string out;     // Its standard output.
};

// Runs `command` with /bin/sh and collects its standard output (stderr is left alone, so
// a failing script explains itself in the test log).
CommandOutput runCommand(const std::string& command);

// The Python interpreter with PyJWT: $PYTHON, else /usr/bin/python3.
std::string pythonInterpreter();

// The absolute path of a file in tests/support (the PyJWT scripts).
std::string supportFile(std::string_view name);

// Writes `contents` to a new temporary file and returns its path; the file is removed
// when the returned object dies.
class TempFile {
 public:
  explicit TempFile(std::string_view contents);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A JSON text read by the verifier's JsonReader (with simdjson's padding), for tests of the
// claim lookups and checks without a token around them.
class ParsedJson {
 public:
  explicit ParsedJson(std::string_view json, std::size_t max_depth = 16);
  ParsedJson(const ParsedJson&) = delete;
  ParsedJson& operator=(const ParsedJson&) = delete;

  // The reader's verdict: nullopt when the text is accepted.
  const std::optional<verifier::JsonError>& error() const { return error_; }
  // The document; valid while this object lives. Empty when the text was refused.
  verifier::JsonDocument document() const;
  verifier::ClaimsView claims() const { return verifier::ClaimsView(document()); }
  const std::string& arena() const { return arena_; }

 private:
  std::vector<char> buffer_;
  std::size_t size_ = 0;
  std::vector<verifier::JsonNode> nodes_;
  std::string arena_;
  std::optional<verifier::JsonError> error_;
};

// Single-quotes `text` for /bin/sh.
std::string shellQuote(std::string_view text);

}  // namespace jwtgate::testing

// Test helpers for the token-level suites.
#include "support/token_minter.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "support/test_signer.h"

namespace jwtgate::testing {

std::string compactToken(std::string_view header_json, std::string_view payload_json,
                         std::string_view signature) {
  return base64UrlEncode(header_json) + "." + base64UrlEncode(payload_json) + "." +
         base64UrlEncode(signature);
}

std::string validPayload() {
  return R"({"iss":"https://issuer.test","sub":"user-1","aud":"api",)"
         R"("iat":1699999000,"nbf":1699999000,"exp":1700003600,"scope":"read write"})";
}

verifier::Policy testPolicy() {
  verifier::Policy policy;
  policy.algorithms = verifier::AlgorithmSet::all();
  policy.issuer = "https://issuer.test";
  policy.audiences = {"api"};
  return policy;
}

verifier::KeySet keySetFromJwks(std::string_view jwks) {
  auto set = verifier::KeySet::fromJwks(jwks);
  if (!set) {
    throw std::runtime_error("test JWKS does not load: " + set.error().message);
  }
  return std::move(set).value();
}

verifier::ClaimPath claimPath(std::string_view spec) {
  auto path = verifier::ClaimPath::parse(spec);
  if (!path) {
    throw std::runtime_error("bad test claim path: " + path.error());
  }
  return std::move(path).value();
}

CommandOutput runCommand(const std::string& command) {
  CommandOutput result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return result;
  }
  char buffer[4096];
  std::size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    result.out.append(buffer, n);
  }
  const int status = pclose(pipe);
  result.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string pythonInterpreter() {
  const char* python = std::getenv("PYTHON");
  return (python != nullptr && *python != '\0') ? python : "/usr/bin/python3";
}

std::string supportFile(std::string_view name) {
  // This file sits next to the scripts; CMake compiles it by its absolute path.
  return (std::filesystem::path(__FILE__).parent_path() / name).string();
}

TempFile::TempFile(std::string_view contents) {
  const char* dir = std::getenv("TMPDIR");
  std::string pattern =
      std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/jwtgate-test-XXXXXX";
  const int fd = mkstemp(pattern.data());
  if (fd < 0) {
    throw std::runtime_error("mkstemp failed");
  }
  path_ = pattern;
  std::size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = write(fd, contents.data() + written, contents.size() - written);
    if (n <= 0) {
      close(fd);
      throw std::runtime_error("write to a temporary file failed");
    }
    written += static_cast<std::size_t>(n);
  }
  close(fd);
}

TempFile::~TempFile() { unlink(path_.c_str()); }

ParsedJson::ParsedJson(std::string_view json, std::size_t max_depth) {
  thread_local verifier::JsonReader reader;
  buffer_.assign(json.begin(), json.end());
  buffer_.resize(json.size() + verifier::jsonPadding());
  size_ = json.size();
  error_ = reader.read(buffer_.data(), size_, max_depth, nodes_, arena_);
  if (error_) {
    nodes_.clear();
  }
}

verifier::JsonDocument ParsedJson::document() const {
  verifier::JsonDocument d;
  d.nodes = nodes_.data();
  d.node_count = static_cast<std::uint32_t>(nodes_.size());
  d.text.input = buffer_.data();
  d.text.input_size = static_cast<std::uint32_t>(size_);
  d.text.arena = arena_.data();
  return d;
}

std::string shellQuote(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out.append("'\\''");
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

}  // namespace jwtgate::testing

// The verification ladder: size, segments, base64url, header, keys, signature, payload,
// claims. Each step returns at its first failure.
#include "verifier/verifier.h"

#include <array>
#include <cstring>
#include <span>

#include "verifier/base64url.h"
#include "verifier/signature.h"
#include "verifier/token.h"

namespace jwtgate::verifier {
namespace {

// NOTE: more keys than this under one kid (or in a set, for a token without kid) are not
// tried; real JWKS hold a handful, and each extra candidate costs a signature check.
constexpr std::size_t kMaxCandidates = 32;

JsonDocument documentOf(const std::vector<JsonNode>& nodes, const char* input, std::size_t size,
                        const std::string& arena) {
  JsonDocument document;
  document.nodes = nodes.data();
  document.node_count = static_cast<std::uint32_t>(nodes.size());
  document.text.input = input;
  document.text.input_size = static_cast<std::uint32_t>(size);
  document.text.arena = arena.data();
  return document;
}

Status statusFor(JsonError error, Status not_json) {
  switch (error) {
    case JsonError::NotJson:
      return not_json;
    case JsonError::DuplicateMember:
      return Status::DuplicateMember;
    case JsonError::TooDeep:
      return Status::JsonTooDeep;
  }
  return not_json;
}

}  // namespace

// The per-Verifier buffers, reused from token to token.
struct Verifier::Scratch {
  JsonReader reader;
  std::vector<char> header;  // Decoded header, followed by simdjson's padding.
  std::size_t header_size = 0;
  std::vector<char> payload;  // Decoded payload, followed by simdjson's padding.
  std::size_t payload_size = 0;
  std::vector<std::uint8_t> signature;
  std::size_t signature_size = 0;
  std::vector<JsonNode> header_nodes, payload_nodes;
  std::string header_arena, payload_arena;
  JoseHeader jose;

  JsonDocument payloadDocument() const {
    return documentOf(payload_nodes, payload.data(), payload_size, payload_arena);
  }
};

namespace {

// Decodes one segment into `buffer`, growing it when needed and zeroing `padding` bytes
// after the text. Returns the decoded size, or nullopt for a non-canonical segment.
template <typename Byte>
std::optional<std::size_t> decodeSegment(std::string_view segment, std::vector<Byte>& buffer,
                                         std::size_t padding) {
  const std::optional<std::size_t> size = base64UrlDecodedSize(segment.size());
  if (!size) {
    return std::nullopt;
  }
  if (buffer.size() < *size + padding || buffer.empty()) {
    buffer.resize(*size + padding + 1);
  }
  auto* bytes = reinterpret_cast<std::uint8_t*>(buffer.data());
  if (!base64UrlDecode(segment, std::span<std::uint8_t>(bytes, *size))) {
    return std::nullopt;
  }
  std::memset(bytes + *size, 0, padding);
  return size;
}

}  // namespace

Verifier::Verifier() : scratch_(std::make_unique<Scratch>()) {}
Verifier::~Verifier() = default;
Verifier::Verifier(Verifier&&) noexcept = default;
Verifier& Verifier::operator=(Verifier&&) noexcept = default;

Status Verifier::run(std::string_view token, const Policy& policy, const KeySet* keys,
                     std::int64_t now) {
  Scratch& s = *scratch_;

  // The length limit comes first, so an oversized token costs no decoding at all.
  if (token.size() > policy.max_token_bytes) {
    return Status::TokenTooLarge;
  }
  Result<CompactParts, Status> parts = splitCompact(token);
  if (!parts) {
    return parts.error();
  }

  // All three segments must be canonical base64url (RFC 7515 section 2: one spelling).
  const std::size_t padding = jsonPadding();
  const std::optional<std::size_t> header_size = decodeSegment(parts->header, s.header, padding);
  const std::optional<std::size_t> payload_size = decodeSegment(parts->payload, s.payload, padding);
  const std::optional<std::size_t> signature_size = decodeSegment(parts->signature, s.signature, 0);
  if (!header_size || !payload_size || !signature_size) {
    return Status::BadBase64;
  }
  s.header_size = *header_size;
  s.payload_size = *payload_size;
  s.signature_size = *signature_size;

  // The protected header, fully validated, then its members.
  if (const auto error = s.reader.read(s.header.data(), s.header_size, policy.max_json_depth,
                                       s.header_nodes, s.header_arena)) {
    return statusFor(*error, Status::HeaderNotJson);
  }
  const JsonDocument header =
      documentOf(s.header_nodes, s.header.data(), s.header_size, s.header_arena);
  Result<JoseHeader, Status> jose = readHeader(header, policy);
  if (!jose) {
    return jose.error();
  }
  s.jose = *jose;

  // An empty signature can verify nothing. Refused only now so that an unsecured token
  // reports its "none" algorithm (AlgorithmUnsupported) rather than just its shape.
  if (s.signature_size == 0) {
    return Status::MalformedToken;
  }

  // Keys and signature. Only the configured KeySet supplies keys; header members such as
  // jwk, jku, x5u or x5c were never read.
  if (keys != nullptr) {
    std::array<const Key*, kMaxCandidates> candidates{};
    std::size_t count = keys->candidates(s.jose.kid, candidates);
    if (s.jose.kid && count == 0) {
      return Status::KeyNotFound;
    }
    std::size_t fitting = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (candidates[i]->fits(s.jose.alg)) {
        candidates[fitting++] = candidates[i];
      }
    }
    if (fitting == 0) {
      return Status::NoMatchingKey;
    }
    const std::span<const std::uint8_t> signature(s.signature.data(), s.signature_size);
    bool verified = false;
    for (std::size_t i = 0; i < fitting && !verified; ++i) {
      verified = verifySignature(*candidates[i], s.jose.alg, parts->signing_input, signature);
    }
    if (!verified) {
      return Status::SignatureInvalid;
    }
  }

  // The payload is parsed only now, once its bytes are known to come from the key holder.
  if (const auto error = s.reader.read(s.payload.data(), s.payload_size, policy.max_json_depth,
                                       s.payload_nodes, s.payload_arena)) {
    return statusFor(*error, Status::PayloadNotJson);
  }
  return checkRegisteredClaims(ClaimsView(s.payloadDocument()), policy, now);
}

Result<VerifiedToken, Status> Verifier::verify(std::string_view token, const Policy& policy,
                                               const KeySet& keys, std::int64_t now) {
  const Status status = run(token, policy, &keys, now);
  if (status != Status::Ok) {
    return makeError(status);
  }

  // Copy what the token must keep: the payload and arena in one string, the node index,
  // the kid. Offsets stay valid because the arena follows the payload as it did before.
  const Scratch& s = *scratch_;
  VerifiedToken out;
  out.storage_.reserve(s.payload_size + s.payload_arena.size());
  out.storage_.assign(s.payload.data(), s.payload_size);
  out.storage_.append(s.payload_arena);
  out.payload_size_ = static_cast<std::uint32_t>(s.payload_size);
  out.nodes_ = s.payload_nodes;
  out.alg_ = s.jose.alg;
  if (s.jose.kid) {
    out.kid_.emplace(*s.jose.kid);
  }

  const ClaimsView claims(s.payloadDocument());
  auto timeClaim = [&](std::string_view name) -> std::optional<std::int64_t> {
    const std::optional<ClaimValue> value = claims.find(name);
    return value ? numericDate(*value) : std::nullopt;
  };
  out.exp_ = timeClaim("exp");
  out.nbf_ = timeClaim("nbf");
  out.iat_ = timeClaim("iat");
  return out;
}

Status Verifier::checkIgnoringSignature(std::string_view token, const Policy& policy,
                                        std::int64_t now) {
  return run(token, policy, nullptr, now);
}

ClaimsView VerifiedToken::claims() const {
  const std::string_view arena(storage_.data() + payload_size_, storage_.size() - payload_size_);
  JsonDocument document;
  document.nodes = nodes_.data();
  document.node_count = static_cast<std::uint32_t>(nodes_.size());
  document.text.input = storage_.data();
  document.text.input_size = payload_size_;
  document.text.arena = arena.data();
  return ClaimsView(document);
}

}  // namespace jwtgate::verifier

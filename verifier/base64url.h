// Strict base64url (RFC 4648 section 5, no padding) as JWS uses it (RFC 7515 section 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace jwtgate::verifier {

// The number of bytes `encoded_length` characters decode to, or nullopt when no unpadded
// base64url text has that length (length % 4 == 1).
std::optional<std::size_t> base64UrlDecodedSize(std::size_t encoded_length);

// Decodes `text` into `out`, which must hold at least base64UrlDecodedSize(text.size())
// bytes. Accepts exactly one spelling per byte string: the alphabet A-Z a-z 0-9 - _, no
// padding, no whitespace, and the unused low bits of the last character must be zero.
// Returns the number of bytes written, or nullopt on any violation (then `out` holds
// garbage) or when `out` is too small.
std::optional<std::size_t> base64UrlDecode(std::string_view text, std::span<std::uint8_t> out);

// Convenience for tests and tools: decodes into a new string; nullopt as above.
std::optional<std::string> base64UrlDecodeToString(std::string_view text);

// Encodes `bytes` as unpadded base64url.
std::string base64UrlEncode(std::span<const std::uint8_t> bytes);
std::string base64UrlEncode(std::string_view bytes);

}  // namespace jwtgate::verifier

// Strict base64url decoding with a lookup table; encoding for tests and tools.
#include "verifier/base64url.h"

#include <array>

namespace jwtgate::verifier {
namespace {

constexpr std::uint8_t kInvalid = 0xff;
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::uint8_t, 256> makeDecodeTable() {
  std::array<std::uint8_t, 256> table{};
  for (auto& entry : table) {
    entry = kInvalid;
  }
  for (std::uint8_t i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = i;
  }
  return table;
}

constexpr std::array<std::uint8_t, 256> kDecode = makeDecodeTable();

// The sextet of each character pre-shifted to its place in a 24-bit quantum; an invalid
// character sets bit 24, so one test per quantum catches it.
constexpr std::uint32_t kInvalidQuantum = 1u << 24;

constexpr std::array<std::uint32_t, 256> makeShiftedTable(unsigned shift) {
  std::array<std::uint32_t, 256> table{};
  for (std::size_t c = 0; c < 256; ++c) {
    table[c] = kDecode[c] == kInvalid ? kInvalidQuantum : std::uint32_t{kDecode[c]} << shift;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> kShift18 = makeShiftedTable(18);
constexpr std::array<std::uint32_t, 256> kShift12 = makeShiftedTable(12);
constexpr std::array<std::uint32_t, 256> kShift6 = makeShiftedTable(6);
constexpr std::array<std::uint32_t, 256> kShift0 = makeShiftedTable(0);

inline std::uint32_t quantum(const char* in) {
  return kShift18[static_cast<unsigned char>(in[0])] | kShift12[static_cast<unsigned char>(in[1])] |
         kShift6[static_cast<unsigned char>(in[2])] | kShift0[static_cast<unsigned char>(in[3])];
}

inline std::uint8_t sextet(char c) { return kDecode[static_cast<unsigned char>(c)]; }

}  // namespace

std::optional<std::size_t> base64UrlDecodedSize(std::size_t encoded_length) {
  const std::size_t remainder = encoded_length % 4;
  if (remainder == 1) {
    return std::nullopt;
  }
  return encoded_length / 4 * 3 + (remainder == 0 ? 0 : remainder - 1);
}

std::optional<std::size_t> base64UrlDecode(std::string_view text, std::span<std::uint8_t> out) {
  const std::optional<std::size_t> size = base64UrlDecodedSize(text.size());
  if (!size || *size > out.size()) {
    return std::nullopt;
  }

  // Whole quanta, with one branch per group for any bad character.
  const char* in = text.data();
  std::uint8_t* dst = out.data();
  const std::size_t full = text.size() / 4;
  for (std::size_t i = 0; i < full; ++i, in += 4, dst += 3) {
    const std::uint32_t v = quantum(in);
    if (v & kInvalidQuantum) {
      return std::nullopt;
    }
    dst[0] = static_cast<std::uint8_t>(v >> 16);
    dst[1] = static_cast<std::uint8_t>(v >> 8);
    dst[2] = static_cast<std::uint8_t>(v);
  }

  // The tail of 2 or 3 characters: RFC 4648 section 3.5 lets a decoder refuse non-zero pad
  // bits, and JWS needs one spelling per value, so they must be zero.
  const std::size_t tail = text.size() % 4;
  if (tail == 2) {
    const std::uint8_t a = sextet(in[0]), b = sextet(in[1]);
    if (((a | b) & 0xc0) || (b & 0x0f) != 0) {
      return std::nullopt;
    }
    dst[0] = static_cast<std::uint8_t>((a << 2) | (b >> 4));
  } else if (tail == 3) {
    const std::uint8_t a = sextet(in[0]), b = sextet(in[1]), c = sextet(in[2]);
    if (((a | b | c) & 0xc0) || (c & 0x03) != 0) {
      return std::nullopt;
    }
    dst[0] = static_cast<std::uint8_t>((a << 2) | (b >> 4));
    dst[1] = static_cast<std::uint8_t>((b << 4) | (c >> 2));
  }
  return *size;
}

std::optional<std::string> base64UrlDecodeToString(std::string_view text) {
  const std::optional<std::size_t> size = base64UrlDecodedSize(text.size());
  if (!size) {
    return std::nullopt;
  }
  std::string out(*size, '\0');
  auto* bytes = reinterpret_cast<std::uint8_t*>(out.data());
  if (!base64UrlDecode(text, std::span<std::uint8_t>(bytes, out.size()))) {
    return std::nullopt;
  }
  return out;
}

std::string base64UrlEncode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) |
                            std::uint32_t{bytes[i + 2]};
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

std::string base64UrlEncode(std::string_view bytes) {
  return base64UrlEncode(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace jwtgate::verifier

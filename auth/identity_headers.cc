// Identity header names in canonical form, with an allocation-free membership test.
#include "auth/identity_headers.h"

#include <algorithm>

#include "auth/ascii.h"

namespace jwtgate::auth {

namespace {

char canonicalChar(char c) { return c == '_' ? '-' : lowerAscii(c); }

// FNV-1a over the canonical characters: names are short and the set is built from config, so
// a simple hash is enough to skip most comparisons.
std::uint64_t canonicalHash(std::string_view name) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : name) {
    hash ^= static_cast<unsigned char>(canonicalChar(c));
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

bool canonicalEquals(std::string_view raw, std::string_view canonical_name) {
  if (raw.size() != canonical_name.size()) {
    return false;
  }
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (canonicalChar(raw[i]) != canonical_name[i]) {
      return false;
    }
  }
  return true;
}

// RFC 9110 section 5.6.2 tchar.
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

std::string IdentityHeaderSet::canonical(std::string_view name) {
  std::string result(name);
  std::transform(result.begin(), result.end(), result.begin(), canonicalChar);
  return result;
}

Result<IdentityHeaderSet, std::string> IdentityHeaderSet::build(
    std::span<const std::string> names) {
  IdentityHeaderSet set;
  for (const std::string& name : names) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), isTokenChar)) {
      return makeError("invalid identity header name \"" + name + "\"");
    }
    if (set.isIdentityHeader(name)) {
      continue;
    }
    set.names_.push_back({canonicalHash(name), canonical(name)});
    std::sort(set.names_.begin(), set.names_.end(),
              [](const Entry& a, const Entry& b) { return a.hash < b.hash; });
  }
  return set;
}

bool IdentityHeaderSet::isIdentityHeader(std::string_view name) const {
  if (names_.empty()) {
    return false;
  }
  const std::uint64_t hash = canonicalHash(name);
  auto it = std::lower_bound(names_.begin(), names_.end(), hash,
                             [](const Entry& entry, std::uint64_t h) { return entry.hash < h; });
  for (; it != names_.end() && it->hash == hash; ++it) {
    if (canonicalEquals(name, it->name)) {
      return true;
    }
  }
  return false;
}

}  // namespace jwtgate::auth

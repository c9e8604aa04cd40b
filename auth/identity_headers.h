// The spoofing defence: the set of header names jwtgate itself sets upstream (identity claims,
// the forwarded payload, route info, the report-mode marker). Incoming copies are stripped on
// every route, whether or not the request carries a token.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "verifier/result.h"

namespace jwtgate::auth {

class IdentityHeaderSet {
 public:
  IdentityHeaderSet() = default;

  // Builds the set from the configured names. Fails with a message when a name is empty or
  // not an HTTP token (RFC 9110 section 5.6.2). Duplicates (in any spelling) are merged.
  static Result<IdentityHeaderSet, std::string> build(std::span<const std::string> names);

  // True when `name` is one of the set, ignoring ASCII case and treating '_' and '-' as the
  // same character: X_User_Id, x-user-id and X-USER-ID are one name. Some upstreams (CGI-style
  // servers) map '-' to '_', so any spelling could reach the application as our header.
  // Never allocates.
  bool isIdentityHeader(std::string_view name) const;

  bool empty() const { return names_.empty(); }
  std::size_t size() const { return names_.size(); }

  // The canonical form used for comparisons: lower-case, '_' replaced by '-'.
  static std::string canonical(std::string_view name);

 private:
  struct Entry {
    std::uint64_t hash;  // Of the canonical form.
    std::string name;    // Canonical form.
  };
  std::vector<Entry> names_;  // Sorted by hash.
};

}  // namespace jwtgate::auth

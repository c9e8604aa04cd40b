// OpenID Connect Discovery 1.0: where an issuer publishes its configuration, and the one
// member jwtgate takes from it (jwks_uri), after checking that the document is the issuer's.
#pragma once

#include <string>
#include <string_view>

#include "verifier/result.h"

namespace jwtgate::jwks {

// `<issuer>/.well-known/openid-configuration`, with a trailing "/" of the issuer removed
// first (Discovery section 4).
std::string discoveryUrl(std::string_view issuer);

// True when `url` starts with `scheme` (lower case, with "://") in any letter case and has
// something after it.
bool hasUrlScheme(std::string_view url, std::string_view scheme);

// Reads an OpenID configuration document and returns its jwks_uri. Fails, with a message
// for the logs that quotes no document bytes, when the text is not one strict JSON object,
// when "issuer" is not exactly `expected_issuer` (byte for byte, Discovery section 4.3), or
// when "jwks_uri" is missing, not a string, or not an https URL (http is accepted only with
// `allow_insecure`).
Result<std::string, std::string> jwksUriFromDiscovery(std::string_view document,
                                                      std::string_view expected_issuer,
                                                      bool allow_insecure);

}  // namespace jwtgate::jwks

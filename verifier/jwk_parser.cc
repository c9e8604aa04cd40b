// JWKS parsing with simdjson's DOM API (exceptions off). Each JWK either becomes a ready Key,
// is skipped (not a signature key jwtgate can use), or fails the whole load with a message
// that names it by index and kid.
#include "verifier/jwk_parser.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <simdjson.h>

#include <array>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "verifier/base64url.h"
#include "verifier/key_set_builder.h"
#include "verifier/openssl_util.h"

namespace jwtgate::verifier {
namespace {

namespace dom = simdjson::dom;

// A JWK with more members than this is refused; real keys have about ten.
constexpr std::size_t kMaxMembers = 64;

// Members that only a private key carries (RFC 7518 sections 6.2.2 and 6.3.2, RFC 8037).
// NOTE: a JWKS that carries one is refused, not filtered: a secret published where public
// keys belong is a leak the operator must hear about. "k" of an oct key is the exception by
// nature, since a symmetric key has no public half.
constexpr std::array<std::string_view, 7> kPrivateMembers = {"d",  "p",  "q",  "dp",
                                                             "dq", "qi", "oth"};

// Decoded bytes that are wiped when they go out of scope (key material in transit).
struct WipedBytes {
  explicit WipedBytes(std::vector<std::uint8_t> data) : bytes(std::move(data)) {}
  WipedBytes(WipedBytes&&) = default;
  WipedBytes& operator=(WipedBytes&&) = default;
  ~WipedBytes() {
    if (!bytes.empty()) {
      OPENSSL_cleanse(bytes.data(), bytes.size());
    }
  }
  std::vector<std::uint8_t> bytes;
};

// The members of one JWK that jwtgate reads; string views point into the simdjson parser.
struct JwkMembers {
  std::optional<std::string_view> kty, use, alg, kid, crv, n, e, x, y, k;
  std::optional<dom::array> key_ops;
  std::string_view private_member;
};

struct StringMember {
  std::string_view name;
  std::optional<std::string_view> JwkMembers::*field;
};

constexpr std::array<StringMember, 10> kStringMembers = {{
    {"kty", &JwkMembers::kty},
    {"use", &JwkMembers::use},
    {"alg", &JwkMembers::alg},
    {"kid", &JwkMembers::kid},
    {"crv", &JwkMembers::crv},
    {"n", &JwkMembers::n},
    {"e", &JwkMembers::e},
    {"x", &JwkMembers::x},
    {"y", &JwkMembers::y},
    {"k", &JwkMembers::k},
}};

bool isPrivateMember(std::string_view name) {
  for (const std::string_view member : kPrivateMembers) {
    if (member == name) {
      return true;
    }
  }
  return false;
}

// Reads the members jwtgate uses. Fails on a duplicate member (RFC 7517 section 4 and RFC 8259
// leave the outcome open; a verifier must not guess) or a known member of the wrong type.
Result<JwkMembers, std::string> readMembers(dom::object object) {
  JwkMembers members;
  std::unordered_set<std::string_view> seen;
  for (const dom::key_value_pair field : object) {
    if (!seen.insert(field.key).second) {
      return makeError("member \"" + std::string(field.key) + "\" appears twice");
    }
    if (seen.size() > kMaxMembers) {
      return makeError(std::string("has too many members"));
    }
    if (isPrivateMember(field.key) && members.private_member.empty()) {
      members.private_member = field.key;
    }
    if (field.key == "key_ops") {
      dom::array ops;
      if (field.value.get_array().get(ops) != simdjson::SUCCESS) {
        return makeError(std::string("member \"key_ops\" must be an array"));
      }
      members.key_ops = ops;
      continue;
    }
    for (const StringMember& known : kStringMembers) {
      if (known.name != field.key) {
        continue;
      }
      std::string_view value;
      if (field.value.get_string().get(value) != simdjson::SUCCESS) {
        return makeError("member \"" + std::string(field.key) + "\" must be a string");
      }
      members.*known.field = value;
    }
  }
  return members;
}

// RFC 7517 section 4.3: a key whose key_ops are present but lack "verify" is not for us.
Result<bool, std::string> allowsVerify(const dom::array& ops) {
  bool verify = false;
  for (const dom::element op : ops) {
    std::string_view name;
    if (op.get_string().get(name) != simdjson::SUCCESS) {
      return makeError(std::string("member \"key_ops\" must hold strings"));
    }
    verify = verify || name == "verify";
  }
  return verify;
}

// A required base64url member, decoded.
Result<WipedBytes, std::string> requireBytes(const std::optional<std::string_view>& member,
                                             std::string_view name) {
  if (!member.has_value()) {
    return makeError("member \"" + std::string(name) + "\" is missing");
  }
  // Strict base64url (RFC 7515 section 2): one accepted spelling per byte string.
  const auto size = base64UrlDecodedSize(member->size());
  if (!size.has_value()) {
    return makeError("member \"" + std::string(name) + "\" is not valid base64url");
  }
  WipedBytes decoded{std::vector<std::uint8_t>(*size)};
  const auto written = base64UrlDecode(*member, decoded.bytes);
  if (!written.has_value() || *written != *size) {
    return makeError("member \"" + std::string(name) + "\" is not valid base64url");
  }
  if (decoded.bytes.empty()) {
    return makeError("member \"" + std::string(name) + "\" is empty");
  }
  return decoded;
}

// Builds an EVP_PKEY of `type` ("RSA", "EC") from a parameter list.
Result<EvpPkeyPtr, std::string> pkeyFromParams(const char* type, OSSL_PARAM_BLD* builder) {
  OsslParamPtr params{OSSL_PARAM_BLD_to_param(builder)};
  EvpPkeyCtxPtr context{EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr)};
  EVP_PKEY* raw = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    return makeError(std::string("OpenSSL refuses the key parameters"));
  }
  return EvpPkeyPtr{raw};
}

// RFC 7518 section 6.3.1: n and e, unsigned big-endian. Leading zero octets are accepted
// (the number is the same) and disappear in the BIGNUM.
Result<EvpPkeyPtr, std::string> rsaFromJwk(const JwkMembers& jwk) {
  auto n = requireBytes(jwk.n, "n");
  if (!n.ok()) {
    return makeError(n.error());
  }
  auto e = requireBytes(jwk.e, "e");
  if (!e.ok()) {
    return makeError(e.error());
  }
  BignumPtr modulus{BN_bin2bn(n->bytes.data(), static_cast<int>(n->bytes.size()), nullptr)};
  BignumPtr exponent{BN_bin2bn(e->bytes.data(), static_cast<int>(e->bytes.size()), nullptr)};
  OsslParamBldPtr builder{OSSL_PARAM_BLD_new()};
  if (!modulus || !exponent || !builder ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1) {
    ERR_clear_error();
    return makeError(std::string("OpenSSL could not hold the RSA parameters"));
  }
  return pkeyFromParams("RSA", builder.get());
}

struct EcCurveInfo {
  std::string_view crv;
  const char* group;
  std::size_t field;
};

constexpr std::array<EcCurveInfo, 3> kEcCurves = {{
    {"P-256", "P-256", 32},
    {"P-384", "P-384", 48},
    {"P-521", "P-521", 66},
}};

// RFC 7518 section 6.2.1: x and y are exactly the field size. The point is built as an
// uncompressed SEC1 octet string and checked to lie on the curve by the caller.
Result<EvpPkeyPtr, std::string> ecFromJwk(const JwkMembers& jwk, const EcCurveInfo& curve) {
  auto x = requireBytes(jwk.x, "x");
  if (!x.ok()) {
    return makeError(x.error());
  }
  auto y = requireBytes(jwk.y, "y");
  if (!y.ok()) {
    return makeError(y.error());
  }
  if (x->bytes.size() != curve.field || y->bytes.size() != curve.field) {
    return makeError("coordinates must be exactly " + std::to_string(curve.field) + " bytes for " +
                     std::string(curve.crv));
  }

  std::vector<std::uint8_t> point;
  point.reserve(1 + 2 * curve.field);
  point.push_back(0x04);
  point.insert(point.end(), x->bytes.begin(), x->bytes.end());
  point.insert(point.end(), y->bytes.begin(), y->bytes.end());
  OsslParamBldPtr builder{OSSL_PARAM_BLD_new()};
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve.group, 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    ERR_clear_error();
    return makeError(std::string("OpenSSL could not hold the EC parameters"));
  }
  auto pkey = pkeyFromParams("EC", builder.get());
  if (!pkey.ok()) {
    return makeError(std::string("EC point is not a valid point of ") + std::string(curve.crv));
  }
  return pkey;
}

// RFC 8037 section 2: x is the raw public key, 32 bytes for Ed25519 and 57 for Ed448.
Result<EvpPkeyPtr, std::string> okpFromJwk(const JwkMembers& jwk, int type, std::size_t size) {
  auto x = requireBytes(jwk.x, "x");
  if (!x.ok()) {
    return makeError(x.error());
  }
  if (x->bytes.size() != size) {
    return makeError("member \"x\" must be exactly " + std::to_string(size) + " bytes for " +
                     std::string(*jwk.crv));
  }
  EvpPkeyPtr pkey{EVP_PKEY_new_raw_public_key(type, nullptr, x->bytes.data(), x->bytes.size())};
  if (!pkey) {
    ERR_clear_error();
    return makeError(std::string("OpenSSL refuses the OKP public key"));
  }
  return pkey;
}

using KeyOrSkip = Result<std::unique_ptr<Key>, std::string>;  // null key: skipped

std::optional<std::string> ownedKid(const JwkMembers& jwk) {
  if (!jwk.kid.has_value()) {
    return std::nullopt;
  }
  return std::string(*jwk.kid);
}

KeyOrSkip publicKeyOrError(Result<EvpPkeyPtr, std::string> pkey, const JwkMembers& jwk,
                           std::optional<Algorithm> alg) {
  if (!pkey.ok()) {
    return makeError(pkey.error());
  }
  return KeySetBuilder::makePublicKey(std::move(pkey).value(), ownedKid(jwk), alg);
}

// The kty-specific step: build the key, or skip a curve jwtgate does not verify with.
KeyOrSkip keyFromMembers(const JwkMembers& jwk, std::optional<Algorithm> alg) {
  const std::string_view kty = *jwk.kty;
  if (kty == "RSA") {
    return publicKeyOrError(rsaFromJwk(jwk), jwk, alg);
  }
  if (kty == "oct") {
    auto secret = requireBytes(jwk.k, "k");
    if (!secret.ok()) {
      return makeError(secret.error());
    }
    return KeySetBuilder::makeSecretKey(std::move(secret.value().bytes), ownedKid(jwk), alg);
  }
  if (!jwk.crv.has_value()) {
    return makeError(std::string("member \"crv\" is missing"));
  }
  if (kty == "EC") {
    for (const EcCurveInfo& curve : kEcCurves) {
      if (curve.crv == *jwk.crv) {
        return publicKeyOrError(ecFromJwk(jwk, curve), jwk, alg);
      }
    }
    return std::unique_ptr<Key>();  // secp256k1 and others: not a JWS curve we verify
  }
  if (*jwk.crv == "Ed25519") {
    return publicKeyOrError(okpFromJwk(jwk, EVP_PKEY_ED25519, 32), jwk, alg);
  }
  if (*jwk.crv == "Ed448") {
    return publicKeyOrError(okpFromJwk(jwk, EVP_PKEY_ED448, 57), jwk, alg);
  }
  return std::unique_ptr<Key>();  // X25519 and X448 are key-agreement curves
}

// One JWK: the checks that apply to every kty, then the kty-specific step.
KeyOrSkip parseJwk(const JwkMembers& jwk) {
  if (!jwk.private_member.empty()) {
    return makeError("carries the private key member \"" + std::string(jwk.private_member) +
                     "\"; publish only the public key");
  }
  if (!jwk.kty.has_value()) {
    return makeError(std::string("member \"kty\" is missing"));
  }
  if (*jwk.kty != "RSA" && *jwk.kty != "EC" && *jwk.kty != "OKP" && *jwk.kty != "oct") {
    return std::unique_ptr<Key>();
  }

  // RFC 7517 sections 4.2 and 4.3: keys meant for encryption are never used to verify.
  if (jwk.use.has_value() && *jwk.use != "sig") {
    return std::unique_ptr<Key>();
  }
  if (jwk.key_ops.has_value()) {
    auto verify = allowsVerify(*jwk.key_ops);
    if (!verify.ok()) {
      return makeError(verify.error());
    }
    if (!*verify) {
      return std::unique_ptr<Key>();
    }
  }

  // An "alg" outside the JWS signature set (RSA-OAEP, ECDH-ES, none) marks a key that is not
  // for verifying signatures.
  std::optional<Algorithm> alg;
  if (jwk.alg.has_value()) {
    alg = parseAlgorithm(*jwk.alg);
    if (!alg.has_value()) {
      return std::unique_ptr<Key>();
    }
  }
  return keyFromMembers(jwk, alg);
}

// Parses the JWK at `index` and adds it to `builder` (or counts it as skipped).
std::optional<KeyLoadError> addJwk(dom::element element, std::size_t index,
                                   KeySetBuilder& builder) {
  dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) {
    return KeyLoadError{describeKey("key", index, std::nullopt) + ": is not a JSON object"};
  }
  auto members = readMembers(object);
  if (!members.ok()) {
    return KeyLoadError{describeKey("key", index, std::nullopt) + ": " + members.error()};
  }
  auto key = parseJwk(*members);
  if (!key.ok()) {
    return KeyLoadError{describeKey("key", index, ownedKid(*members)) + ": " + key.error()};
  }
  if (*key == nullptr) {
    builder.countSkipped();
  } else {
    builder.add(std::move(key).value());
  }
  return std::nullopt;
}

}  // namespace

Result<KeySet, KeyLoadError> parseJwks(std::string_view json) {
  dom::parser parser;
  dom::element root;
  dom::object object;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS ||
      root.get_object().get(object) != simdjson::SUCCESS) {
    return makeError(KeyLoadError{"key set is not a JSON object"});
  }

  // {"keys":[...]} (RFC 7517 section 5) or one bare JWK (section 4).
  std::optional<dom::element> keys;
  bool has_kty = false;
  std::unordered_set<std::string_view> seen;
  for (const dom::key_value_pair field : object) {
    if (!seen.insert(field.key).second) {
      return makeError(
          KeyLoadError{"key set: member \"" + std::string(field.key) + "\" appears twice"});
    }
    if (field.key == "keys") {
      keys = field.value;
    }
    has_kty = has_kty || field.key == "kty";
  }

  KeySetBuilder builder;
  if (!keys.has_value()) {
    if (!has_kty) {
      return makeError(KeyLoadError{"key set has neither \"keys\" nor \"kty\""});
    }
    if (auto error = addJwk(root, 0, builder)) {
      return makeError(std::move(*error));
    }
    return std::move(builder).finish();
  }
  dom::array array;
  if (has_kty || keys->get_array().get(array) != simdjson::SUCCESS) {
    return makeError(KeyLoadError{"key set: \"keys\" must be an array of JWKs"});
  }
  if (array.size() > kMaxKeysPerSet) {
    return makeError(KeyLoadError{"key set: more than " + std::to_string(kMaxKeysPerSet) +
                                  " keys (" + std::to_string(array.size()) + ")"});
  }
  std::size_t index = 0;
  for (const dom::element element : array) {
    if (auto error = addJwk(element, index++, builder)) {
      return makeError(std::move(*error));
    }
  }
  return std::move(builder).finish();
}

}  // namespace jwtgate::verifier

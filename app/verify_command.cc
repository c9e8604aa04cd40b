// `jwtgate verify` and `jwtgate decode`: check one token from the command line and say, in
// plain words, why it passes or fails. For operators troubleshooting a refused request.

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "app/commands.h"
#include "auth/local_file.h"
#include "verifier/base64url.h"
#include "verifier/key_set.h"
#include "verifier/policy.h"
#include "verifier/status.h"
#include "verifier/token.h"
#include "verifier/verifier.h"

namespace jwtgate::app {
namespace {

constexpr int kExitValid = 0;
constexpr int kExitInvalid = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kVerifyUsage =
    "usage: jwtgate verify (--jwks FILE | --pem FILE [--kid KID] [--pem-alg ALG])\n"
    "                      [--issuer ISS] [--audience AUD]... [--algorithms A,B,...]\n"
    "                      [--leeway SECONDS] [--type TYP] [--now EPOCH] [TOKEN | -]\n"
    "Verifies TOKEN (or one read from standard input) and prints its header and claims.\n"
    "Exit status: 0 valid, 1 invalid (the reason is printed), 2 bad usage or unreadable keys.\n";

constexpr std::string_view kDecodeUsage =
    "usage: jwtgate decode [TOKEN | -]\n"
    "Prints a token's header and payload WITHOUT verifying anything.\n";

struct VerifyOptions {
  std::optional<std::string> jwks_file;
  std::optional<std::string> pem_file;
  verifier::PemKeyOptions pem;
  verifier::Policy policy;
  bool algorithms_given = false;
  std::optional<std::int64_t> now;
  std::optional<std::string> token_argument;
};

// Writes text for a terminal: printable ASCII and UTF-8 pass, control bytes are escaped so
// that a hostile token cannot drive the terminal.
std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\x%02x", c);
      out += escape;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::optional<std::int64_t> parseInteger(const std::string& text) {
  try {
    std::size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used != text.size()) {
      return std::nullopt;
    }
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Parses "RS256,ES256" into the policy's allowed set.
bool parseAlgorithmList(std::string_view list, verifier::AlgorithmSet& set) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    const auto alg = verifier::parseAlgorithm(name);
    if (!alg) {
      std::cerr << "jwtgate verify: unknown algorithm '" << printable(name) << "'\n";
      return false;
    }
    set.add(*alg);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return true;
}

// Reads the flags; prints the problem and returns nullopt on bad usage.
std::optional<VerifyOptions> parseVerifyArgs(const Args& args) {
  VerifyOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const bool has_value = i + 1 < args.size();
    auto value = [&]() -> const std::string& { return args[++i]; };

    if (arg == "-h" || arg == "--help") {
      std::cout << kVerifyUsage;
      std::exit(kExitValid);
    } else if (arg == "--jwks" && has_value) {
      options.jwks_file = value();
    } else if (arg == "--pem" && has_value) {
      options.pem_file = value();
    } else if (arg == "--kid" && has_value) {
      options.pem.kid = value();
    } else if (arg == "--pem-alg" && has_value) {
      options.pem.alg = verifier::parseAlgorithm(value());
      if (!options.pem.alg) {
        std::cerr << "jwtgate verify: unknown algorithm for --pem-alg\n";
        return std::nullopt;
      }
    } else if (arg == "--issuer" && has_value) {
      options.policy.issuer = value();
    } else if (arg == "--audience" && has_value) {
      options.policy.audiences.push_back(value());
    } else if (arg == "--algorithms" && has_value) {
      options.algorithms_given = true;
      if (!parseAlgorithmList(value(), options.policy.algorithms)) {
        return std::nullopt;
      }
    } else if (arg == "--leeway" && has_value) {
      const auto leeway = parseInteger(value());
      if (!leeway || *leeway < 0) {
        std::cerr << "jwtgate verify: --leeway takes a whole number of seconds\n";
        return std::nullopt;
      }
      options.policy.leeway_seconds = *leeway;
    } else if (arg == "--type" && has_value) {
      options.policy.required_type = value();
    } else if (arg == "--now" && has_value) {
      options.now = parseInteger(value());
      if (!options.now) {
        std::cerr << "jwtgate verify: --now takes seconds since the epoch\n";
        return std::nullopt;
      }
    } else if ((arg == "-" || arg.empty() || arg[0] != '-') && !options.token_argument) {
      options.token_argument = arg;
    } else {
      std::cerr << "jwtgate verify: unexpected argument '" << printable(arg) << "'\n"
                << kVerifyUsage;
      return std::nullopt;
    }
  }

  if (options.jwks_file.has_value() == options.pem_file.has_value()) {
    std::cerr << "jwtgate verify: give exactly one of --jwks and --pem\n" << kVerifyUsage;
    return std::nullopt;
  }
  if (!options.algorithms_given) {
    // The keys still restrict what verifies: an RSA key never checks an HS256 token.
    options.policy.algorithms = verifier::AlgorithmSet::all();
  }
  return options;
}

// The token from the argument, or from standard input for "-" or no argument. Surrounding
// whitespace (a trailing newline from a pipe) is removed; inner bytes are left as they are.
std::string readToken(const std::optional<std::string>& argument) {
  std::string token;
  if (argument && *argument != "-") {
    token = *argument;
  } else {
    token.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const auto first = token.find_first_not_of(" \t\r\n");
  const auto last = token.find_last_not_of(" \t\r\n");
  return first == std::string::npos ? std::string() : token.substr(first, last - first + 1);
}

std::optional<verifier::KeySet> loadKeys(const VerifyOptions& options) {
  const std::string& path = options.jwks_file ? *options.jwks_file : *options.pem_file;
  // The same bounds as a key file in the configuration: a regular file of at most 1 MiB.
  const auto text = auth::readLocalFile(path, auth::kMaxKeyFileBytes);
  if (!text) {
    std::cerr << "jwtgate verify: cannot read " << path << ": " << text.error() << "\n";
    return std::nullopt;
  }
  auto keys = options.jwks_file ? verifier::KeySet::fromJwks(*text)
                                : verifier::KeySet::fromPem(*text, options.pem);
  if (!keys) {
    std::cerr << "jwtgate verify: " << path << ": " << keys.error().message << "\n";
    return std::nullopt;
  }
  if (keys->size() == 0) {
    std::cerr << "jwtgate verify: " << path << " holds no usable verification key\n";
    return std::nullopt;
  }
  return std::move(keys).value();
}

std::string isoTime(std::int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  if (gmtime_r(&t, &utc) == nullptr) {
    return std::to_string(seconds);
  }
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string describeDistance(std::int64_t from, std::int64_t to) {
  const std::int64_t delta = to > from ? to - from : from - to;
  std::ostringstream out;
  if (delta < 120) {
    out << delta << " s";
  } else if (delta < 2 * 3600) {
    out << delta / 60 << " min";
  } else if (delta < 2 * 86400) {
    out << delta / 3600 << " h";
  } else {
    out << delta / 86400 << " days";
  }
  return out.str();
}

// For a refused token, reads the (unverified) payload again to say which value was wrong.
void explainClaims(std::string_view token, verifier::Status status,
                   const verifier::Policy& policy, std::int64_t now) {
  using verifier::Status;
  const auto parts = verifier::splitCompact(token);
  if (!parts) {
    return;
  }
  const auto payload = verifier::base64UrlDecodeToString(parts->payload);
  if (!payload) {
    return;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(*payload).get(root) != simdjson::SUCCESS) {
    return;
  }

  auto timeClaim = [&](const char* name) -> std::optional<std::int64_t> {
    double value = 0;
    if (root[name].get_double().get(value) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(value);
  };
  auto stringClaim = [&](const char* name) -> std::string {
    std::string_view value;
    if (root[name].get_string().get(value) != simdjson::SUCCESS) {
      return "(not a string)";
    }
    std::string quoted = printable(value);
    quoted.insert(quoted.begin(), '"');
    quoted.push_back('"');
    return quoted;
  };

  switch (status) {
    case Status::Expired:
      if (const auto exp = timeClaim("exp")) {
        std::cout << "  exp " << isoTime(*exp) << " is " << describeDistance(*exp, now)
                  << " before now (" << isoTime(now) << "), beyond the leeway of "
                  << policy.leeway_seconds << " s\n";
      }
      break;
    case Status::NotYetValid:
      if (const auto nbf = timeClaim("nbf")) {
        std::cout << "  nbf " << isoTime(*nbf) << " is " << describeDistance(*nbf, now)
                  << " after now (" << isoTime(now) << ")\n";
      }
      break;
    case Status::IssuedInFuture:
      if (const auto iat = timeClaim("iat")) {
        std::cout << "  iat " << isoTime(*iat) << " is " << describeDistance(*iat, now)
                  << " after now (" << isoTime(now) << ")\n";
      }
      break;
    case Status::IssuerMismatch:
      std::cout << "  token iss " << stringClaim("iss") << ", expected \""
                << printable(policy.issuer.value_or("")) << "\"\n";
      break;
    case Status::AudienceMismatch: {
      simdjson::dom::element aud;
      const bool has_aud = root["aud"].get(aud) == simdjson::SUCCESS;
      std::cout << "  token aud " << (has_aud ? printable(simdjson::minify(aud)) : "(absent)")
                << ", expected";
      for (const auto& audience : policy.audiences) {
        std::cout << " \"" << printable(audience) << "\"";
      }
      std::cout << "\n";
      break;
    }
    default:
      break;
  }
}

// Prints the decoded header and payload of a token that may not be valid.
bool printSegments(std::string_view token, std::string_view label) {
  const auto parts = verifier::splitCompact(token);
  if (!parts) {
    std::cout << verifier::describe(parts.error()) << " [" << verifier::toString(parts.error())
              << "]\n";
    return false;
  }
  const auto header = verifier::base64UrlDecodeToString(parts->header);
  const auto payload = verifier::base64UrlDecodeToString(parts->payload);
  std::cout << "header " << label << ": "
            << (header ? printable(*header) : "(not valid base64url)") << "\n";
  std::cout << "payload " << label << ": "
            << (payload ? printable(*payload) : "(not valid base64url)") << "\n";
  return header && payload;
}

std::int64_t wallClockSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int runVerify(const Args& args) {
  auto options = parseVerifyArgs(args);
  if (!options) {
    return kExitUsage;
  }
  auto keys = loadKeys(*options);
  if (!keys) {
    return kExitUsage;
  }
  const std::string token = readToken(options->token_argument);
  if (token.empty()) {
    std::cerr << "jwtgate verify: no token given\n";
    return kExitUsage;
  }

  const std::int64_t now = options->now.value_or(wallClockSeconds());
  verifier::Verifier verifier;
  const auto result = verifier.verify(token, options->policy, *keys, now);
  if (!result) {
    const verifier::Status status = result.error();
    std::cout << "INVALID: " << verifier::describe(status) << " ["
              << verifier::toString(status) << "]\n";
    explainClaims(token, status, options->policy, now);
    if (status == verifier::Status::KeyNotFound) {
      std::cout << "  the key set has kids:";
      for (const auto& key : keys->keys()) {
        // A key without a kid only verifies tokens without one (say so, not "").
        std::cout << " " << (key->kid() ? "\"" + printable(*key->kid()) + "\"" : "(no kid)");
      }
      std::cout << "\n";
    }
    printSegments(token, "(unverified)");
    return kExitInvalid;
  }

  std::cout << "VALID: signature " << verifier::toString(result->algorithm());
  if (result->kid()) {
    std::cout << " with key \"" << printable(*result->kid()) << "\"";
  }
  std::cout << ", claims checked at " << isoTime(now) << "\n";
  printSegments(token, "(verified)");
  return kExitValid;
}

int runDecode(const Args& args) {
  std::optional<std::string> argument;
  for (const auto& arg : args) {
    if (arg == "-h" || arg == "--help") {
      std::cout << kDecodeUsage;
      return kExitValid;
    }
    if (argument) {
      std::cerr << kDecodeUsage;
      return kExitUsage;
    }
    argument = arg;
  }
  const std::string token = readToken(argument);
  if (token.empty()) {
    std::cerr << "jwtgate decode: no token given\n";
    return kExitUsage;
  }
  std::cout << "UNVERIFIED: nothing below has been checked; do not trust it.\n";
  return printSegments(token, "(unverified)") ? kExitValid : kExitInvalid;
}

}  // namespace jwtgate::app

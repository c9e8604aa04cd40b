// Credential extraction: Authorization-style headers, cookies (RFC 6265 section 5.4) and
// query parameters (RFC 6750 section 2.3), refusing any ambiguity.
#include "auth/token_extractor.h"

#include <utility>

#include "auth/ascii.h"

namespace jwtgate::auth {

namespace {

// What one configured location holds.
struct LocationResult {
  ExtractProblem problem = ExtractProblem::None;
  bool found = false;
  std::string_view token;
};

LocationResult foundToken(std::string_view token) {
  if (token.empty()) {
    return {ExtractProblem::EmptyToken, false, {}};
  }
  return {ExtractProblem::None, true, token};
}

// Reads "<scheme> <token>", "<prefix><token>" or a bare token from one header value.
LocationResult parseHeaderValue(const TokenSource& source, std::string_view value) {
  value = trimOws(value);
  if (!source.scheme.empty()) {
    // RFC 6750 section 2.1: the scheme, then one or more spaces (tabs tolerated).
    const std::size_t length = source.scheme.size();
    if (value.size() < length || !equalsIgnoreCase(value.substr(0, length), source.scheme)) {
      return {};
    }
    if (value.size() == length) {
      return foundToken({});
    }
    if (!isOws(value[length])) {
      return {};  // Another scheme that merely starts with this one ("Bearerx").
    }
    return foundToken(trimOws(value.substr(length)));
  }
  if (!source.prefix.empty()) {
    if (!value.starts_with(source.prefix)) {
      return {};
    }
    return foundToken(trimOws(value.substr(source.prefix.size())));
  }
  return foundToken(value);
}

LocationResult fromHeader(const TokenSource& source, std::span<const HeaderField> headers) {
  const HeaderField* match = nullptr;
  for (const HeaderField& header : headers) {
    if (!equalsIgnoreCase(header.name, source.name)) {
      continue;
    }
    if (match != nullptr) {
      return {ExtractProblem::RepeatedHeader, false, {}};
    }
    match = &header;
  }
  if (match == nullptr) {
    return {};
  }
  return parseHeaderValue(source, match->value);
}

// Scans one Cookie header value for `name`; counts matches into `seen`.
void scanCookieHeader(std::string_view value, std::string_view name, int& seen,
                      std::string_view& token) {
  while (!value.empty()) {
    const std::size_t semicolon = value.find(';');
    const std::string_view pair = trimOws(value.substr(0, semicolon));
    value = semicolon == std::string_view::npos ? std::string_view() : value.substr(semicolon + 1);

    const std::size_t equals = pair.find('=');
    if (equals == std::string_view::npos || trimOws(pair.substr(0, equals)) != name) {
      continue;  // Cookie names are case-sensitive; a pair without '=' names nothing.
    }
    std::string_view cookie = trimOws(pair.substr(equals + 1));
    if (cookie.size() >= 2 && cookie.front() == '"' && cookie.back() == '"') {
      cookie = cookie.substr(1, cookie.size() - 2);  // RFC 6265 allows a DQUOTE'd value.
    }
    ++seen;
    token = cookie;
  }
}

LocationResult fromCookie(const TokenSource& source, std::span<const HeaderField> headers) {
  // Several Cookie headers are allowed (HTTP/2 splits them); they form one cookie list.
  int seen = 0;
  std::string_view token;
  for (const HeaderField& header : headers) {
    if (equalsIgnoreCase(header.name, "cookie")) {
      scanCookieHeader(header.value, source.name, seen, token);
    }
  }
  if (seen == 0) {
    return {};
  }
  if (seen > 1) {
    return {ExtractProblem::RepeatedCookie, false, {}};
  }
  return foundToken(token);
}

// Compares a raw parameter name, percent- and '+'-decoded on the fly, with `name`, so that
// "access%5Ftoken" is recognised too.
bool parameterNameEquals(std::string_view raw, std::string_view name) {
  std::size_t matched = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < raw.size()) {
      const int high = hexDigitValue(raw[i + 1]);
      const int low = hexDigitValue(raw[i + 2]);
      if (high >= 0 && low >= 0) {
        c = static_cast<char>(high * 16 + low);
        i += 2;
      }
    }
    if (matched == name.size() || name[matched] != c) {
      return false;
    }
    ++matched;
  }
  return matched == name.size();
}

// Calls visit(parameter, name, value) for each '&'-separated parameter.
template <typename Visit>
void forEachParameter(std::string_view query, Visit&& visit) {
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string_view::npos) {
      end = query.size();
    }
    const std::string_view parameter = query.substr(start, end - start);
    const std::size_t equals = parameter.find('=');
    const std::string_view name = parameter.substr(0, equals);
    const std::string_view value =
        equals == std::string_view::npos ? std::string_view() : parameter.substr(equals + 1);
    visit(parameter, name, value);
    start = end + 1;
  }
}

LocationResult fromQuery(const TokenSource& source, std::string_view query) {
  int seen = 0;
  std::string_view token;
  if (!query.empty()) {
    forEachParameter(query, [&](std::string_view, std::string_view name, std::string_view value) {
      if (parameterNameEquals(name, source.name)) {
        ++seen;
        token = value;
      }
    });
  }
  if (seen == 0) {
    return {};
  }
  if (seen > 1) {
    return {ExtractProblem::RepeatedParameter, false, {}};
  }
  return foundToken(token);
}

LocationResult fromSource(const TokenSource& source, std::span<const HeaderField> headers,
                          std::string_view query) {
  switch (source.location) {
    case TokenLocation::Header:
      return fromHeader(source, headers);
    case TokenLocation::Cookie:
      return fromCookie(source, headers);
    case TokenLocation::Query:
      return fromQuery(source, query);
  }
  return {};
}

ExtractedToken invalid(ExtractProblem problem, std::size_t source) {
  return {ExtractStatus::InvalidRequest, problem, static_cast<std::uint8_t>(source), {}};
}

}  // namespace

TokenSource TokenSource::header(std::string name, std::string prefix) {
  TokenSource source;
  source.location = TokenLocation::Header;
  source.name = std::move(name);
  source.scheme.clear();
  source.prefix = std::move(prefix);
  return source;
}

TokenSource TokenSource::cookie(std::string name) {
  TokenSource source;
  source.location = TokenLocation::Cookie;
  source.name = std::move(name);
  source.scheme.clear();
  return source;
}

TokenSource TokenSource::query(std::string name) {
  TokenSource source;
  source.location = TokenLocation::Query;
  source.name = std::move(name);
  source.scheme.clear();
  return source;
}

std::string_view toString(ExtractProblem problem) {
  switch (problem) {
    case ExtractProblem::None:
      return "none";
    case ExtractProblem::RepeatedHeader:
      return "repeated_header";
    case ExtractProblem::RepeatedCookie:
      return "repeated_cookie";
    case ExtractProblem::RepeatedParameter:
      return "repeated_parameter";
    case ExtractProblem::EmptyToken:
      return "empty_token";
    case ExtractProblem::ConflictingLocations:
      return "conflicting_locations";
  }
  return "unknown";
}

ExtractedToken extractToken(std::span<const TokenSource> sources,
                            std::span<const HeaderField> headers, std::string_view query) {
  // Every location is read, even after a hit, so that a conflict anywhere is refused.
  ExtractedToken result;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const LocationResult found = fromSource(sources[i], headers, query);
    if (found.problem != ExtractProblem::None) {
      return invalid(found.problem, i);
    }
    if (!found.found) {
      continue;
    }
    if (result.status == ExtractStatus::Found) {
      if (found.token != result.token) {
        return invalid(ExtractProblem::ConflictingLocations, i);
      }
      continue;
    }
    result = {ExtractStatus::Found, ExtractProblem::None, static_cast<std::uint8_t>(i),
              found.token};
  }
  return result;
}

bool removeQueryParameter(std::string_view query, std::string_view name, std::string& out) {
  out.clear();
  out.reserve(query.size());
  bool removed = false;
  bool first = true;
  if (query.empty()) {
    return false;
  }
  forEachParameter(query, [&](std::string_view parameter, std::string_view key, std::string_view) {
    if (parameterNameEquals(key, name)) {
      removed = true;
      return;
    }
    if (!first) {
      out.push_back('&');
    }
    out.append(parameter);
    first = false;
  });
  return removed;
}

}  // namespace jwtgate::auth

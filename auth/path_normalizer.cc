// Request-target normalisation: percent-escape canonicalisation and dot-segment removal.
#include "auth/path_normalizer.h"

#include <cstddef>

#include "auth/ascii.h"

namespace jwtgate::auth {

namespace {

constexpr char kHexDigits[] = "0123456789ABCDEF";

// RFC 3986 section 2.3.
bool isUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool isControl(unsigned char c) { return c < 0x20 || c == 0x7F; }

// Appends one percent-escape starting at raw[i] ('%'), decoded or canonicalised.
// Returns false and sets `error` when the escape is malformed or refused.
bool appendEscape(std::string_view raw, std::size_t i, std::string& out, PathError& error) {
  if (i + 2 >= raw.size()) {
    error = PathError::BadPercentEncoding;
    return false;
  }
  const int high = hexDigitValue(raw[i + 1]);
  const int low = hexDigitValue(raw[i + 2]);
  if (high < 0 || low < 0) {
    error = PathError::BadPercentEncoding;
    return false;
  }
  const auto value = static_cast<unsigned char>(high * 16 + low);

  // Refuse what upstreams decode into separators or control bytes.
  if (value == '/') {
    error = PathError::EncodedSlash;
    return false;
  }
  if (value == '\\') {
    error = PathError::EncodedBackslash;
    return false;
  }
  if (isControl(value)) {
    error = PathError::EncodedControl;
    return false;
  }

  if (isUnreserved(value)) {
    out.push_back(static_cast<char>(value));
  } else {
    out.push_back('%');
    out.push_back(kHexDigits[high]);
    out.push_back(kHexDigits[low]);
  }
  return true;
}

// Appends the canonical form of one raw segment (no '/') to `out`.
bool appendSegment(std::string_view raw, std::string& out, const PathOptions& options,
                   PathError& error) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c == '%') {
      if (!appendEscape(raw, i, out, error)) {
        return false;
      }
      i += 2;
      continue;
    }
    if (isControl(c) || c == '#') {
      error = PathError::ControlCharacter;
      return false;
    }
    if (c == '\\') {
      error = PathError::EncodedBackslash;
      return false;
    }
    if (c == ';' && options.refuse_path_parameters) {
      error = PathError::PathParameter;
      return false;
    }
    out.push_back(static_cast<char>(c));
  }
  return true;
}

// "." or ".." followed by ";params", which servlet containers treat as a dot segment.
bool isDotWithParameters(std::string_view piece) {
  const std::size_t semicolon = piece.find(';');
  if (semicolon == std::string_view::npos) {
    return false;
  }
  const std::string_view name = piece.substr(0, semicolon);
  return name == "." || name == "..";
}

// Applies RFC 3986 section 5.2.4 to the piece just appended at `begin` ('/' + segment).
bool resolveDotSegment(std::string& out, std::size_t begin, bool last, PathError& error) {
  const std::string_view piece = std::string_view(out).substr(begin + 1);
  if (piece == ".") {
    out.resize(last ? begin + 1 : begin);
    return true;
  }
  if (piece != "..") {
    if (isDotWithParameters(piece)) {
      error = PathError::DotSegmentParameter;
      return false;
    }
    return true;
  }

  // ".." removes the previous segment; above the root there is nothing to remove.
  out.resize(begin);
  const std::size_t previous = out.rfind('/');
  if (previous != std::string::npos) {
    if (previous + 1 == out.size()) {
      error = PathError::AmbiguousDotDot;
      return false;
    }
    out.resize(previous);
  }
  if (last) {
    out.push_back('/');
  }
  return true;
}

void mergeSlashes(std::string& path) {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '/' && kept > 0 && path[kept - 1] == '/') {
      continue;
    }
    path[kept++] = path[i];
  }
  path.resize(kept);
}

}  // namespace

std::string_view toString(PathError error) {
  switch (error) {
    case PathError::NotOriginForm:
      return "not_origin_form";
    case PathError::ControlCharacter:
      return "control_character";
    case PathError::BadPercentEncoding:
      return "bad_percent_encoding";
    case PathError::EncodedSlash:
      return "encoded_slash";
    case PathError::EncodedBackslash:
      return "encoded_backslash";
    case PathError::EncodedControl:
      return "encoded_control";
    case PathError::DotSegmentParameter:
      return "dot_segment_parameter";
    case PathError::PathParameter:
      return "path_parameter";
    case PathError::AmbiguousDotDot:
      return "ambiguous_dot_dot";
  }
  return "unknown";
}

Result<NormalizedTarget, PathError> normalizeTarget(std::string_view target, std::string& buffer,
                                                    const PathOptions& options) {
  NormalizedTarget result;

  // Split off the query (RFC 3986 section 3.4: the first '?').
  const std::size_t question = target.find('?');
  std::string_view raw_path = target;
  if (question != std::string_view::npos) {
    raw_path = target.substr(0, question);
    result.query = target.substr(question + 1);
    result.has_query = true;
  }
  if (raw_path.empty() || raw_path.front() != '/') {
    return makeError(PathError::NotOriginForm);
  }

  // Rebuild the path segment by segment: each piece is '/' + canonical segment.
  buffer.clear();
  buffer.reserve(raw_path.size());
  PathError error = PathError::NotOriginForm;
  std::size_t start = 1;
  while (true) {
    const std::size_t slash = raw_path.find('/', start);
    const bool last = slash == std::string_view::npos;
    const std::size_t end = last ? raw_path.size() : slash;
    const std::size_t begin = buffer.size();
    buffer.push_back('/');
    if (!appendSegment(raw_path.substr(start, end - start), buffer, options, error) ||
        !resolveDotSegment(buffer, begin, last, error)) {
      return makeError(error);
    }
    if (last) {
      break;
    }
    start = end + 1;
  }

  if (options.merge_slashes) {
    mergeSlashes(buffer);
  }
  if (buffer.empty()) {
    buffer.push_back('/');
  }
  result.path = buffer;
  return result;
}

}  // namespace jwtgate::auth

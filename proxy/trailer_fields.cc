// Trailer collection.
#include "proxy/trailer_fields.h"

#include "proxy/http_headers.h"

namespace jwtgate::proxy {
namespace {

// Fields a trailer must not carry (RFC 9110 section 6.5.1) plus the hop-by-hop ones.
bool isForbiddenInTrailers(std::string_view name) {
  HeaderKind kind = classifyHeader(name);
  if (isHopByHop(kind) || kind == HeaderKind::ContentLength || kind == HeaderKind::Host ||
      kind == HeaderKind::Expect) {
    return true;
  }
  for (std::string_view forbidden :
       {"authorization", "proxy-authorization", "cookie", "set-cookie", "content-type",
        "content-encoding", "content-range", "cache-control", "max-forwards"}) {
    if (equalsIgnoreCase(name, forbidden)) {
      return true;
    }
  }
  return false;
}

}  // namespace

void TrailerFields::addNamePiece(std::string_view piece) {
  if (name_.size() + piece.size() <= kMaxBytes) {
    name_.append(piece);
  }
}

void TrailerFields::addValuePiece(std::string_view piece) {
  if (value_.size() + piece.size() <= kMaxBytes) {
    value_.append(piece);
  }
}

void TrailerFields::endField() {
  std::string_view value = trimOws(value_);
  bool keep = isValidFieldName(name_) && isValidFieldValue(value) &&
              !isForbiddenInTrailers(name_) &&
              text_.size() + name_.size() + value.size() + 4 <= kMaxBytes;
  if (keep) {
    text_.append(name_);
    text_.append(": ");
    text_.append(value);
    text_.append("\r\n");
  }
  name_.clear();
  value_.clear();
}

void TrailerFields::clear() {
  text_.clear();
  name_.clear();
  value_.clear();
}

}  // namespace jwtgate::proxy

// Collects the trailer section of a chunked response (RFC 9112 section 7.1.2) so that it can be
// re-sent after the proxy's own last chunk. Request trailers are never collected: the client
// connection drops them. Trailers are rare and small: they are copied.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace jwtgate::proxy {

class TrailerFields {
 public:
  // NOTE: trailers beyond this size are dropped (the body itself is unaffected).
  static constexpr size_t kMaxBytes = 8 * 1024;

  // Pieces of one field as the parser hands them over (a field may arrive in pieces).
  void addNamePiece(std::string_view piece);
  void addValuePiece(std::string_view piece);

  // Ends the current field. It is kept unless its name is invalid, it is a field that must
  // not appear in trailers (framing, routing, hop-by-hop: RFC 9110 section 6.5.1), its value
  // is invalid, or the section would exceed kMaxBytes.
  void endField();

  // "name: value\r\n" for each kept field.
  const std::string& text() const { return text_; }
  bool empty() const { return text_.empty(); }
  void clear();

 private:
  std::string text_;
  std::string name_;
  std::string value_;
};

}  // namespace jwtgate::proxy

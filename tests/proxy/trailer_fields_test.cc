// Trailer sections re-sent after the proxy's last chunk.
#include "proxy/trailer_fields.h"

#include <doctest/doctest.h>

namespace jwtgate::proxy {

TEST_SUITE("proxy/trailer_fields") {
  TEST_CASE("fields arriving in pieces are joined and trimmed") {
    TrailerFields trailers;
    trailers.addNamePiece("X-Check");
    trailers.addNamePiece("sum");
    trailers.addValuePiece(" abc");
    trailers.addValuePiece("def \t");
    trailers.endField();
    trailers.addNamePiece("Server-Timing");
    trailers.addValuePiece("db;dur=53");
    trailers.endField();
    CHECK(trailers.text() == "X-Checksum: abcdef\r\nServer-Timing: db;dur=53\r\n");
  }

  TEST_CASE("framing, routing, authentication and hop-by-hop fields are not re-sent") {
    for (const char* name : {"Content-Length", "Transfer-Encoding", "Host", "Connection", "Trailer",
                             "TE", "Authorization", "Set-Cookie", "Content-Type",
                             "Content-Encoding", "Upgrade", "Keep-Alive"}) {
      CAPTURE(name);
      TrailerFields trailers;
      trailers.addNamePiece(name);
      trailers.addValuePiece("1");
      trailers.endField();
      CHECK(trailers.empty());
    }
  }

  TEST_CASE("invalid names and values are dropped") {
    TrailerFields trailers;
    trailers.addNamePiece("Bad Name");
    trailers.addValuePiece("1");
    trailers.endField();
    trailers.addNamePiece("X-Ctl");
    trailers.addValuePiece("a\x01");
    trailers.endField();
    trailers.addNamePiece("");
    trailers.endField();
    CHECK(trailers.empty());
  }

  TEST_CASE("the section stops growing at its size limit") {
    TrailerFields trailers;
    std::string value(1000, 'v');
    for (int i = 0; i < 20; ++i) {
      trailers.addNamePiece("X-Field-" + std::to_string(i));
      trailers.addValuePiece(value);
      trailers.endField();
    }
    CHECK(trailers.text().size() <= TrailerFields::kMaxBytes);
    CHECK(trailers.text().size() > TrailerFields::kMaxBytes - 1100);
    trailers.clear();
    CHECK(trailers.empty());
  }
}

}  // namespace jwtgate::proxy

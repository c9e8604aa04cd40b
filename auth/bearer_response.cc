// RFC 6750 refusals: status codes, challenges and bodies, with hostile text neutralised.
#include "auth/bearer_response.h"

namespace jwtgate::auth {

namespace {

struct RefusalShape {
  int status;
  std::string_view reason;
  std::string_view error;  // The challenge's error attribute and the body's "error".
  bool challenge;          // Sends WWW-Authenticate.
  bool challenge_error;    // The challenge carries error attributes.
};

RefusalShape shapeOf(Refusal refusal) {
  switch (refusal) {
    case Refusal::MissingToken:
      return {401, "Unauthorized", "missing_token", true, false};
    case Refusal::InvalidRequest:
      return {400, "Bad Request", "invalid_request", true, true};
    case Refusal::InvalidToken:
      return {401, "Unauthorized", "invalid_token", true, true};
    case Refusal::InsufficientScope:
      return {403, "Forbidden", "insufficient_scope", true, true};
    case Refusal::BadTarget:
      return {400, "Bad Request", "bad_request", false, false};
    case Refusal::NoRouteNotFound:
      return {404, "Not Found", "no_route", false, false};
    case Refusal::NoRouteForbidden:
      return {403, "Forbidden", "no_route", false, false};
    case Refusal::Unavailable:
      return {503, "Service Unavailable", "temporarily_unavailable", false, false};
  }
  return {500, "Internal Server Error", "internal_error", false, false};
}

// RFC 6750 section 3: error_description and realm-safe bytes.
bool isDescriptionChar(unsigned char c) {
  return c == 0x20 || c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

// RFC 6750 section 3: scope-token bytes.
bool isScopeChar(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

void appendQuotedSafe(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char c : text.substr(0, HttpRefusal::kMaxDescription)) {
    out.push_back(isDescriptionChar(static_cast<unsigned char>(c)) ? c : '?');
  }
  out.push_back('"');
}

void appendScopes(std::string& out, std::span<const std::string> scopes) {
  out.append(", scope=\"");
  bool first = true;
  for (const std::string& scope : scopes) {
    const std::size_t mark = out.size();
    if (!first) {
      out.push_back(' ');
    }
    const std::size_t begin = out.size();
    for (char c : scope) {
      if (isScopeChar(static_cast<unsigned char>(c))) {
        out.push_back(c);
      }
    }
    if (out.size() == begin) {
      out.resize(mark);  // Nothing printable left of this scope.
      continue;
    }
    first = false;
  }
  out.push_back('"');
}

void appendJsonString(std::string& out, std::string_view text) {
  constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text.substr(0, HttpRefusal::kMaxDescription)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      out.append("\\ufffd");
    } else if (u < 0x20 || u == 0x7F || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&') {
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void buildChallenge(const RefusalShape& shape, const RefusalInput& input,
                    const ResponseOptions& options, std::string& out) {
  out.append("Bearer realm=");
  appendQuotedSafe(out, options.realm);
  if (!shape.challenge_error) {
    return;
  }
  out.append(", error=\"");
  out.append(shape.error);
  out.push_back('"');
  if (options.include_descriptions && !input.description.empty()) {
    out.append(", error_description=");
    appendQuotedSafe(out, input.description);
  }
  if (input.refusal == Refusal::InsufficientScope && !input.scopes.empty()) {
    appendScopes(out, input.scopes);
  }
}

}  // namespace

std::string_view toString(Refusal refusal) {
  switch (refusal) {
    case Refusal::MissingToken:
      return "missing_token";
    case Refusal::InvalidRequest:
      return "invalid_request";
    case Refusal::InvalidToken:
      return "invalid_token";
    case Refusal::InsufficientScope:
      return "insufficient_scope";
    case Refusal::BadTarget:
      return "bad_target";
    case Refusal::NoRouteNotFound:
      return "no_route_not_found";
    case Refusal::NoRouteForbidden:
      return "no_route_forbidden";
    case Refusal::Unavailable:
      return "unavailable";
  }
  return "unknown";
}

RefusalInput refusalFor(verifier::Status status) {
  RefusalInput input;
  switch (verifier::bearerErrorFor(status)) {
    case verifier::BearerError::InvalidRequest:
      input.refusal = Refusal::InvalidRequest;
      break;
    case verifier::BearerError::InsufficientScope:
      input.refusal = Refusal::InsufficientScope;
      break;
    case verifier::BearerError::InvalidToken:
    case verifier::BearerError::None:  // Ok is not a refusal; fail closed if asked anyway.
      input.refusal = Refusal::InvalidToken;
      break;
  }
  input.description = verifier::describe(status);
  return input;
}

void buildRefusal(const RefusalInput& input, const ResponseOptions& options, HttpRefusal& out) {
  const RefusalShape shape = shapeOf(input.refusal);
  out.status_ = shape.status;
  out.reason_ = shape.reason;

  // Header lines; the challenge's position is kept so it can be read on its own.
  std::string& headers = out.headers_;
  headers.clear();
  headers.append("Content-Type: ").append(HttpRefusal::kContentType).append("\r\n");
  headers.append("Cache-Control: no-store\r\n");
  out.challenge_begin_ = headers.size();
  out.challenge_size_ = 0;
  if (shape.challenge) {
    headers.append("WWW-Authenticate: ");
    out.challenge_begin_ = headers.size();
    buildChallenge(shape, input, options, headers);
    out.challenge_size_ = headers.size() - out.challenge_begin_;
    headers.append("\r\n");
  }

  // Body: {"error":"...","error_description":"..."}.
  std::string& body = out.body_;
  body.assign("{\"error\":\"");
  body.append(shape.error);
  body.push_back('"');
  if (options.include_descriptions && !input.description.empty()) {
    body.append(",\"error_description\":");
    appendJsonString(body, input.description);
  }
  body.push_back('}');
}

void fillLocalReply(const HttpRefusal& refusal, proxy::LocalReply& reply) {
  reply.status = refusal.status();
  reply.content_type.assign(HttpRefusal::kContentType);
  reply.body.assign(refusal.body());
  reply.headers.clear();
  reply.headers.emplace_back("Cache-Control", "no-store");
  if (!refusal.wwwAuthenticate().empty()) {
    reply.headers.emplace_back("WWW-Authenticate", std::string(refusal.wwwAuthenticate()));
  }
}

}  // namespace jwtgate::auth

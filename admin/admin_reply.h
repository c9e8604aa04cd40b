// What the admin listener answers to one request, and the bytes of that answer: routing by
// method and path, and the HTTP/1.1 framing (status line, Content-Type, Content-Length).
#pragma once

#include <string>
#include <string_view>

#include "admin/admin_server.h"

namespace jwtgate::admin {

struct AdminReply {
  int status = 200;
  std::string_view content_type;  // a static string
  std::string body;
  bool allow_header = false;  // 405: "Allow: GET, HEAD"
};

// The answer to `method_name` on `target` (origin-form; the query string is ignored). Calls
// at most one handler; a handler that throws gives 500.
AdminReply routeAdminRequest(std::string_view method_name, std::string_view target,
                             const AdminHandlers& handlers);

// A local error answer (400, 408, 413, 431, ...) with a short fixed text body.
AdminReply errorReply(int status);

// The response bytes. `head_only` leaves the body out (the headers still give its length);
// `close` adds "Connection: close".
std::string serializeReply(const AdminReply& reply, bool head_only, bool close);

}  // namespace jwtgate::admin

// The hook through which a layer such as authentication sees every request before anything
// of it goes upstream: it may let the request through (optionally editing its headers and
// target), answer it locally, or suspend it and decide later.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jwtgate::proxy {

class ClientConnection;
class Worker;

// One request field. Both views point into the connection's receive buffer and are valid
// only during the call that handed them out.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

enum class FilterVerdict : uint8_t {
  Pass,     // forward the request (with the edits recorded on the context)
  Respond,  // send the reply recorded with RequestContext::respond(); nothing goes upstream
  Pending,  // the filter called RequestContext::suspend() and will resume the request later
};

// A response the proxy sends instead of forwarding the request. The proxy adds
// Content-Length and, when it closes the connection, Connection: close.
struct LocalReply {
  int status = 0;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. WWW-Authenticate

  void clear() {
    status = 0;
    content_type = "application/json";
    body.clear();
    headers.clear();
  }
};

class PendingRequest;

// A filter's decision as the access log records it. `subject` must already be screened
// (no secret claims, no control characters); `outcome` and `reason` are short fixed words.
struct FilterNote {
  std::string_view route;     // the matched route's name; empty when none matched
  std::string_view provider;  // the identity's provider; empty when there is none
  std::string_view subject;   // the identity's subject claim; may be empty
  std::string_view outcome;   // allowed, refused, reported, anonymous, open, no_route
  std::string_view reason;    // the refusal reason ("expired", ...); empty when none
};

// What a filter sees of one request and what it may change. Handed to RequestFilter::
// onRequest and valid only during that call (and during PendingRequest::context()).
class RequestContext {
 public:
  std::string_view method() const;
  // The request target as received (origin-form "/path?query", or "*").
  std::string_view target() const;
  int httpMajor() const;
  int httpMinor() const;

  // The client's IP address, numeric ("192.0.2.1", "::1"), and its socket address.
  std::string_view clientAddress() const;
  const sockaddr* clientSocketAddress() const;

  // The fields in the order received, hop-by-hop ones included. Removed fields stay in the
  // list (see isRemoved) so that indexes do not shift while a filter iterates.
  size_t headerCount() const;
  HeaderField header(size_t index) const;
  bool isRemoved(size_t index) const;

  // The value of the first field named `name` (case-insensitive) that was not removed.
  // Returns false when there is none.
  bool findHeader(std::string_view name, std::string_view* value) const;

  // Edits applied when the request is forwarded. They never change the framing: fields the
  // proxy owns (Content-Length, Transfer-Encoding, Host, Connection and other hop-by-hop
  // fields) cannot be added, and removing them is refused too (returns false).
  bool removeHeader(size_t index);
  // Removes every field named `name` (case-insensitive); returns how many.
  size_t removeHeaders(std::string_view name);
  // Returns false (and adds nothing) when the name is not a token, the value has control
  // characters or surrounding whitespace, or the field is one the proxy owns.
  bool addHeader(std::string_view name, std::string_view value);
  // Replaces the target (e.g. to drop a token query parameter). Must be origin-form.
  bool setTarget(std::string_view target);

  // Tells the access log (and only it) what the filter decided; the strings are copied.
  void note(const FilterNote& note);

  // Records a local reply; return FilterVerdict::Respond after filling it.
  LocalReply& respond(int status);

  // Suspends the request; return FilterVerdict::Pending afterwards and call resume() on the
  // handle (on this worker's thread) when the decision is known.
  PendingRequest suspend();

 private:
  friend class ClientConnection;
  explicit RequestContext(ClientConnection& connection) : connection_(connection) {}

  ClientConnection& connection_;
};

// A suspended request. Cheap to copy; every copy names the same request. When the client
// connection closes first the request is cancelled: alive() turns false, resume() does
// nothing, and the filter's onCancelled() is called with the id.
class PendingRequest {
 public:
  PendingRequest() = default;

  uint64_t id() const { return id_; }
  bool alive() const;

  // The context of the suspended request (valid until resume), or nullptr when cancelled.
  RequestContext* context() const;

  // Continues the request with Pass or Respond; Pending is not a decision and is answered
  // with a 500 reply. Does nothing when the request was cancelled or already resumed.
  // The auth filter uses this while a provider's first key fetch is in flight.
  void resume(FilterVerdict verdict) const;

 private:
  friend class RequestContext;
  PendingRequest(Worker* worker, uint64_t id) : worker_(worker), id_(id) {}

  Worker* worker_ = nullptr;
  uint64_t id_ = 0;
};

// Called by the worker once per request, after the head is parsed and validated and before
// anything is sent upstream. One instance per worker thread (made by the factory on that
// thread), so it may keep per-thread caches without locks. Must not throw.
class RequestFilter {
 public:
  virtual ~RequestFilter() = default;

  virtual FilterVerdict onRequest(RequestContext& request) = 0;

  // A suspended request's connection closed before resume().
  virtual void onCancelled(uint64_t pending_id) { (void)pending_id; }

  // The worker is shutting down (every client connection is closed): close the libuv
  // handles the filter opened on the worker's loop, so that the loop can end.
  virtual void close() {}
};

// Makes one filter per worker; called on the worker's thread, with the worker's loop (for
// asynchronous work such as key fetches), before the worker accepts anything.
using RequestFilterFactory = std::function<std::unique_ptr<RequestFilter>(uv_loop_t* loop)>;

// The filter used when none is configured: every request passes unchanged.
class PassThroughFilter final : public RequestFilter {
 public:
  FilterVerdict onRequest(RequestContext&) override { return FilterVerdict::Pass; }
};

}  // namespace jwtgate::proxy

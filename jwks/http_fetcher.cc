// libcurl multi-socket on libuv: curl tells which sockets to watch and when to wake it; the
// loop tells curl what happened. Completions are read after every curl call-out returns.
#include "jwks/http_fetcher.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "jwks/curl_library.h"

namespace jwtgate::jwks {
namespace {

// NOTE: a Cache-Control value longer than this is cut; the directives that matter are short.
constexpr std::size_t kMaxKeptHeaderBytes = 4096;

constexpr char lowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lowerAscii(text[i]) != lowerAscii(prefix[i])) {
      return false;
    }
  }
  return true;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// libcurl is mapped on the first call, so only a process with a remote provider pays for it.
bool curlReady() { return curlLibrary().ok(); }

// A field value that curl may put on a request line of its own: printable ASCII and tabs
// only, so that nothing can end the line early.
bool isSafeFieldValue(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    return c == '\t' || (c >= ' ' && c <= '~');
  });
}

FetchErrorKind classify(CURLcode code, bool too_large) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return FetchErrorKind::Refused;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return FetchErrorKind::Resolve;
    case CURLE_COULDNT_CONNECT:
      return FetchErrorKind::Connect;
    case CURLE_OPERATION_TIMEDOUT:
      return FetchErrorKind::Timeout;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return FetchErrorKind::Tls;
    case CURLE_FILESIZE_EXCEEDED:
      return FetchErrorKind::TooLarge;
    case CURLE_WRITE_ERROR:
      return too_large ? FetchErrorKind::TooLarge : FetchErrorKind::Transport;
    case CURLE_TOO_MANY_REDIRECTS:
      return FetchErrorKind::TooManyRedirects;
    default:
      return FetchErrorKind::Transport;
  }
}

}  // namespace

std::string_view toString(FetchErrorKind kind) {
  switch (kind) {
    case FetchErrorKind::Refused:
      return "refused";
    case FetchErrorKind::Resolve:
      return "resolve";
    case FetchErrorKind::Connect:
      return "connect";
    case FetchErrorKind::Tls:
      return "tls";
    case FetchErrorKind::Timeout:
      return "timeout";
    case FetchErrorKind::TooLarge:
      return "too_large";
    case FetchErrorKind::TooManyRedirects:
      return "too_many_redirects";
    case FetchErrorKind::Transport:
      return "transport";
    case FetchErrorKind::Cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string redactUrl(std::string_view url) {
  std::size_t scheme_end = url.find("://");
  std::size_t authority_start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  std::size_t authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string_view::npos) {
    authority_end = url.size();
  }
  std::string_view authority = url.substr(authority_start, authority_end - authority_start);
  std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::size_t path_end = url.find_first_of("?#", authority_end);
  std::string_view path = url.substr(
      authority_end, (path_end == std::string_view::npos ? url.size() : path_end) - authority_end);

  std::string out(url.substr(0, authority_start));
  out += authority;
  out += path;
  return out;
}

// One transfer: the easy handle and what has arrived so far.
struct Transfer {
  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() {
    if (headers != nullptr) {
      curl->slist_free_all(headers);
    }
  }

  HttpFetcher::Impl* owner = nullptr;
  const CurlLibrary* curl = nullptr;
  std::uint64_t id = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;  // the request fields curl sends; lives as long as `easy`
  bool etag_seen = false;         // an ETag field came in the current response
  FetchCallback callback;
  FetchResponse response;
  std::size_t max_body_bytes = 0;
  bool too_large = false;
  char error[CURL_ERROR_SIZE] = {};
};

// One socket curl asked us to watch.
struct SocketWatch {
  HttpFetcher::Impl* owner = nullptr;
  uv_poll_t poll;
  curl_socket_t fd = CURL_SOCKET_BAD;
};

class HttpFetcher::Impl {
 public:
  explicit Impl(uv_loop_t* loop) : loop_(loop) {}

  bool init(std::string* error);
  Result<std::uint64_t, FetchFailure> start(std::string_view url, const FetchOptions& options,
                                            FetchCallback callback);
  void cancel(std::uint64_t id);
  void close();
  std::size_t pending() const { return transfers_.size(); }

 private:
  static int onSocket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp) noexcept;
  static int onCurlTimer(CURLM* multi, long timeout_ms, void* userp) noexcept;
  static void onTimer(uv_timer_t* timer) noexcept;
  static void onPoll(uv_poll_t* poll, int status, int events) noexcept;
  static void onWatchClosed(uv_handle_t* handle) noexcept;
  static void onTimerClosed(uv_handle_t* handle) noexcept;
  static size_t onBody(char* data, size_t size, size_t count, void* userp) noexcept;
  static size_t onHeader(char* data, size_t size, size_t count, void* userp) noexcept;

  bool configure(Transfer& transfer, const std::string& url, const FetchOptions& options);
  void watchSocket(curl_socket_t fd, int what, SocketWatch* watch);
  void unwatchSocket(curl_socket_t fd, SocketWatch* watch);
  void socketAction(curl_socket_t fd, int flags);
  void finishCompleted();
  void finish(CURL* easy, CURLcode code);
  void releaseIfDone();

  uv_loop_t* loop_;
  const CurlLibrary* curl_ = nullptr;  // the process-wide table, set by a successful init()
  CURLM* multi_ = nullptr;
  uv_timer_t timer_;
  bool timer_open_ = false;
  bool closing_ = false;
  int open_handles_ = 0;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Transfer>> transfers_;
  std::unordered_set<SocketWatch*> watches_;
};

bool HttpFetcher::Impl::init(std::string* error) {
  // Fails closed: without libcurl no fetcher, so a remote provider cannot start.
  if (!curlReady()) {
    *error = curlLibrary().error();
    return false;
  }
  curl_ = &curlLibrary().value();
  multi_ = curl_->multi_init();
  if (multi_ == nullptr) {
    *error = "curl_multi_init failed";
    return false;
  }
  curl_->multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Impl::onSocket);
  curl_->multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_->multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Impl::onCurlTimer);
  curl_->multi_setopt(multi_, CURLMOPT_TIMERDATA, this);

  int rc = uv_timer_init(loop_, &timer_);
  if (rc != 0) {
    *error = std::string("uv_timer_init: ") + uv_strerror(rc);
    return false;
  }
  timer_.data = this;
  timer_open_ = true;
  ++open_handles_;
  return true;
}

bool HttpFetcher::Impl::configure(Transfer& transfer, const std::string& url,
                                  const FetchOptions& options) {
  CURL* easy = transfer.easy;
  const char* protocols = options.allow_insecure ? "http,https" : "https";
  bool ok = true;
  auto set = [&ok](CURLcode code) { ok = ok && code == CURLE_OK; };

  set(curl_->easy_setopt(easy, CURLOPT_URL, url.c_str()));
  // Never file://, ftp:// and the rest, neither at first nor through a redirect.
  set(curl_->easy_setopt(easy, CURLOPT_PROTOCOLS_STR, protocols));
  set(curl_->easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, protocols));
  set(curl_->easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L));
  set(curl_->easy_setopt(easy, CURLOPT_MAXREDIRS, options.max_redirects));
  set(curl_->easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_->easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L));
  if (!options.ca_file.empty()) {
    set(curl_->easy_setopt(easy, CURLOPT_CAINFO, options.ca_file.c_str()));
  }
  set(curl_->easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                         static_cast<long>(options.connect_timeout.count())));
  set(curl_->easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                         static_cast<long>(options.total_timeout.count())));
  set(curl_->easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                         static_cast<curl_off_t>(options.max_body_bytes)));
  // HTTP/2 over TLS when the server offers it; HTTP/1.1 for plain http.
  set(curl_->easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS)));
  set(curl_->easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
  // Compressed bodies are decoded before onBody counts them, so the cap holds for both.
  set(curl_->easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, ""));
  set(curl_->easy_setopt(easy, CURLOPT_USERAGENT, "jwtgate"));
  set(curl_->easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error));
  set(curl_->easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Impl::onBody));
  set(curl_->easy_setopt(easy, CURLOPT_WRITEDATA, &transfer));
  set(curl_->easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Impl::onHeader));
  set(curl_->easy_setopt(easy, CURLOPT_HEADERDATA, &transfer));
  set(curl_->easy_setopt(easy, CURLOPT_PRIVATE, &transfer));

  // Accept names the media types asked for; If-None-Match makes a refresh of an unchanged
  // document a bodiless 304.
  std::string fields[2];
  if (!options.accept.empty() && isSafeFieldValue(options.accept)) {
    fields[0] = "Accept: " + options.accept;
  }
  if (isValidEntityTag(options.if_none_match)) {
    fields[1] = "If-None-Match: " + options.if_none_match;
  }
  for (const std::string& field : fields) {
    if (field.empty()) {
      continue;
    }
    curl_slist* grown = curl_->slist_append(transfer.headers, field.c_str());
    if (grown == nullptr) {
      return false;
    }
    transfer.headers = grown;
  }
  if (transfer.headers != nullptr) {
    set(curl_->easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.headers));
  }
  return ok;
}

Result<std::uint64_t, FetchFailure> HttpFetcher::Impl::start(std::string_view url,
                                                             const FetchOptions& options,
                                                             FetchCallback callback) {
  if (closing_) {
    return makeError(FetchFailure{FetchErrorKind::Cancelled, "the fetcher is closed"});
  }
  bool https = startsWithIgnoreCase(url, "https://");
  bool http = startsWithIgnoreCase(url, "http://");
  if (!https && !(http && options.allow_insecure)) {
    return makeError(FetchFailure{FetchErrorKind::Refused,
                                  http ? "plain http:// is not allowed (allow_insecure is off)"
                                       : "only https:// URLs are fetched"});
  }
  if (url.find('\0') != std::string_view::npos) {
    return makeError(FetchFailure{FetchErrorKind::Refused, "the URL contains a NUL byte"});
  }

  auto transfer = std::make_unique<Transfer>();
  transfer->owner = this;
  transfer->curl = curl_;
  transfer->id = next_id_++;
  transfer->callback = std::move(callback);
  transfer->max_body_bytes = options.max_body_bytes;
  transfer->easy = curl_->easy_init();
  if (transfer->easy == nullptr) {
    return makeError(FetchFailure{FetchErrorKind::Transport, "curl_easy_init failed"});
  }
  if (!configure(*transfer, std::string(url), options) ||
      curl_->multi_add_handle(multi_, transfer->easy) != CURLM_OK) {
    curl_->easy_cleanup(transfer->easy);
    return makeError(FetchFailure{FetchErrorKind::Transport, "libcurl refused the options"});
  }

  std::uint64_t id = transfer->id;
  transfers_.emplace(id, std::move(transfer));
  return id;
}

void HttpFetcher::Impl::cancel(std::uint64_t id) {
  auto found = transfers_.find(id);
  if (found == transfers_.end()) {
    return;
  }
  std::unique_ptr<Transfer> transfer = std::move(found->second);
  transfers_.erase(found);
  curl_->multi_remove_handle(multi_, transfer->easy);
  curl_->easy_cleanup(transfer->easy);
}

void HttpFetcher::Impl::close() {
  if (closing_) {
    return;
  }
  closing_ = true;

  // Pending fetches end with Cancelled; a callback may not start anything new (closing_).
  std::vector<std::unique_ptr<Transfer>> cancelled;
  for (auto& [id, transfer] : transfers_) {
    cancelled.push_back(std::move(transfer));
  }
  transfers_.clear();
  for (auto& transfer : cancelled) {
    curl_->multi_remove_handle(multi_, transfer->easy);
    curl_->easy_cleanup(transfer->easy);
    transfer->easy = nullptr;
  }
  for (auto& transfer : cancelled) {
    if (transfer->callback) {
      transfer->callback(makeError(FetchFailure{FetchErrorKind::Cancelled, "fetcher closed"}));
    }
  }

  // Stop watching before curl closes its sockets, so no poll outlives its descriptor.
  for (SocketWatch* watch : watches_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll), &Impl::onWatchClosed);
  }
  watches_.clear();
  if (multi_ != nullptr) {
    curl_->multi_cleanup(multi_);
    multi_ = nullptr;
  }
  if (timer_open_) {
    timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Impl::onTimerClosed);
  }

  // Only an Impl whose init failed before opening the timer has no close callback to come;
  // otherwise the timer is open until here, so this never frees an Impl that is on the stack.
  releaseIfDone();
}

void HttpFetcher::Impl::releaseIfDone() {
  if (closing_ && open_handles_ == 0) {
    delete this;
  }
}

int HttpFetcher::Impl::onSocket(CURL* easy, curl_socket_t fd, int what, void* userp,
                                void* socketp) noexcept {
  (void)easy;
  auto* self = static_cast<Impl*>(userp);
  if (self->closing_) {
    return 0;
  }
  auto* watch = static_cast<SocketWatch*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    self->unwatchSocket(fd, watch);
  } else {
    self->watchSocket(fd, what, watch);
  }
  return 0;
}

void HttpFetcher::Impl::watchSocket(curl_socket_t fd, int what, SocketWatch* watch) {
  if (watch == nullptr) {
    auto fresh = std::make_unique<SocketWatch>();
    fresh->owner = this;
    fresh->fd = fd;
    if (uv_poll_init_socket(loop_, &fresh->poll, fd) != 0) {
      // curl sees no progress on this socket and ends the transfer by its timeout.
      return;
    }
    fresh->poll.data = fresh.get();
    ++open_handles_;
    watch = fresh.release();
    watches_.insert(watch);
    curl_->multi_assign(multi_, fd, watch);
  }

  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
    events |= UV_READABLE;
  }
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
    events |= UV_WRITABLE;
  }
  uv_poll_start(&watch->poll, events, &Impl::onPoll);
}

void HttpFetcher::Impl::unwatchSocket(curl_socket_t fd, SocketWatch* watch) {
  if (watch == nullptr) {
    return;
  }
  curl_->multi_assign(multi_, fd, nullptr);
  watches_.erase(watch);
  uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll), &Impl::onWatchClosed);
}

int HttpFetcher::Impl::onCurlTimer(CURLM* multi, long timeout_ms, void* userp) noexcept {
  (void)multi;
  auto* self = static_cast<Impl*>(userp);
  if (self->closing_ || !self->timer_open_) {
    return 0;
  }
  if (timeout_ms < 0) {
    uv_timer_stop(&self->timer_);
  } else {
    // Never call curl back from inside its own callback: a 0 timeout runs on the next turn.
    uv_timer_start(&self->timer_, &Impl::onTimer, static_cast<uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void HttpFetcher::Impl::onTimer(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Impl*>(timer->data);
  self->socketAction(CURL_SOCKET_TIMEOUT, 0);
}

void HttpFetcher::Impl::onPoll(uv_poll_t* poll, int status, int events) noexcept {
  auto* watch = static_cast<SocketWatch*>(poll->data);
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
    flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
  }
  watch->owner->socketAction(watch->fd, flags);
}

void HttpFetcher::Impl::socketAction(curl_socket_t fd, int flags) {
  if (closing_) {
    return;
  }
  int running = 0;
  curl_->multi_socket_action(multi_, fd, flags, &running);
  finishCompleted();
}

void HttpFetcher::Impl::finishCompleted() {
  // A callback may cancel other fetches or close the fetcher: re-check after each one.
  while (!closing_) {
    int left = 0;
    CURLMsg* message = curl_->multi_info_read(multi_, &left);
    if (message == nullptr) {
      return;
    }
    if (message->msg == CURLMSG_DONE) {
      finish(message->easy_handle, message->data.result);
    }
  }
}

void HttpFetcher::Impl::finish(CURL* easy, CURLcode code) {
  char* private_data = nullptr;
  curl_->easy_getinfo(easy, CURLINFO_PRIVATE, &private_data);
  auto* raw = reinterpret_cast<Transfer*>(private_data);
  auto found = raw == nullptr ? transfers_.end() : transfers_.find(raw->id);
  if (found == transfers_.end()) {
    curl_->multi_remove_handle(multi_, easy);
    return;
  }
  std::unique_ptr<Transfer> transfer = std::move(found->second);
  transfers_.erase(found);

  long status = 0;
  char* final_url = nullptr;
  curl_->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_->easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &final_url);
  transfer->response.status = status;
  transfer->response.url = final_url != nullptr ? final_url : "";
  curl_->multi_remove_handle(multi_, easy);
  curl_->easy_cleanup(easy);
  transfer->easy = nullptr;

  FetchCallback callback = std::move(transfer->callback);
  if (!callback) {
    return;
  }
  if (code != CURLE_OK) {
    std::string message = curl_->easy_strerror(code);
    if (transfer->error[0] != '\0') {
      message += ": ";
      message += transfer->error;
    }
    callback(makeError(FetchFailure{classify(code, transfer->too_large), std::move(message)}));
    return;
  }
  callback(std::move(transfer->response));
}

size_t HttpFetcher::Impl::onBody(char* data, size_t size, size_t count, void* userp) noexcept {
  auto* transfer = static_cast<Transfer*>(userp);
  size_t bytes = size * count;
  // A body without (or with a lying) Content-Length is capped here; returning less than
  // given makes curl fail the transfer with CURLE_WRITE_ERROR.
  if (bytes > transfer->max_body_bytes -
                  std::min(transfer->max_body_bytes, transfer->response.body.size())) {
    transfer->too_large = true;
    return 0;
  }
  transfer->response.body.append(data, bytes);
  return bytes;
}

size_t HttpFetcher::Impl::onHeader(char* data, size_t size, size_t count, void* userp) noexcept {
  auto* transfer = static_cast<Transfer*>(userp);
  size_t bytes = size * count;
  std::string_view line(data, bytes);
  FetchResponse& response = transfer->response;

  // Each response (a redirect, a proxy's CONNECT answer, the final one) starts with its
  // status line: only the last response's fields count.
  if (startsWithIgnoreCase(line, "HTTP/")) {
    response.cache_control.clear();
    response.age.clear();
    response.content_type.clear();
    response.expires.clear();
    response.date.clear();
    response.etag.clear();
    transfer->etag_seen = false;
    response.body.clear();
    return bytes;
  }
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return bytes;
  }
  std::string_view name = line.substr(0, colon);
  std::string_view value = trimmed(line.substr(colon + 1));
  if (startsWithIgnoreCase(name, "cache-control") && name.size() == 13) {
    if (!response.cache_control.empty()) {
      response.cache_control += ", ";
    }
    response.cache_control += value;
    response.cache_control.resize(std::min(response.cache_control.size(), kMaxKeptHeaderBytes));
  } else if (startsWithIgnoreCase(name, "age") && name.size() == 3) {
    response.age.assign(value.substr(0, 32));
  } else if (startsWithIgnoreCase(name, "content-type") && name.size() == 12) {
    response.content_type.assign(value.substr(0, 256));
  } else if (startsWithIgnoreCase(name, "expires") && name.size() == 7) {
    response.expires.assign(value.substr(0, 64));
  } else if (startsWithIgnoreCase(name, "date") && name.size() == 4) {
    response.date.assign(value.substr(0, 64));
  } else if (startsWithIgnoreCase(name, "etag") && name.size() == 4) {
    // Kept only when it could be sent back as it is; a second ETag field makes it unusable.
    bool usable = !transfer->etag_seen && isValidEntityTag(value);
    response.etag = usable ? std::string(value) : std::string();
    transfer->etag_seen = true;
  }
  return bytes;
}

void HttpFetcher::Impl::onWatchClosed(uv_handle_t* handle) noexcept {
  auto* watch = static_cast<SocketWatch*>(handle->data);
  Impl* self = watch->owner;
  delete watch;
  --self->open_handles_;
  self->releaseIfDone();
}

void HttpFetcher::Impl::onTimerClosed(uv_handle_t* handle) noexcept {
  auto* self = static_cast<Impl*>(handle->data);
  --self->open_handles_;
  self->releaseIfDone();
}

Result<std::unique_ptr<HttpFetcher>, std::string> HttpFetcher::create(uv_loop_t* loop) {
  auto* impl = new Impl(loop);
  std::string error;
  if (!impl->init(&error)) {
    impl->close();  // frees it now when no handle was opened, else in the close callback
    return makeError(std::move(error));
  }
  return std::unique_ptr<HttpFetcher>(new HttpFetcher(impl));
}

HttpFetcher::~HttpFetcher() { close(); }

Result<std::uint64_t, FetchFailure> HttpFetcher::fetch(std::string_view url,
                                                       const FetchOptions& options,
                                                       FetchCallback callback) {
  if (impl_ == nullptr) {
    return makeError(FetchFailure{FetchErrorKind::Cancelled, "the fetcher is closed"});
  }
  return impl_->start(url, options, std::move(callback));
}

void HttpFetcher::cancel(std::uint64_t id) {
  if (impl_ != nullptr) {
    impl_->cancel(id);
  }
}

void HttpFetcher::close() {
  Impl* impl = std::exchange(impl_, nullptr);
  if (impl != nullptr) {
    impl->close();
  }
}

std::size_t HttpFetcher::pendingCount() const { return impl_ == nullptr ? 0 : impl_->pending(); }

bool isValidEntityTag(std::string_view text) {
  constexpr std::size_t kMaxEntityTagBytes = 256;
  if (text.size() > kMaxEntityTagBytes) {
    return false;
  }
  if (text.starts_with("W/")) {
    text.remove_prefix(2);
  }
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') {
    return false;
  }
  // etagc: %x21 / %x23-7E (obs-text is refused: it would have to be sent back verbatim).
  return std::all_of(text.begin() + 1, text.end() - 1,
                     [](char c) { return c == '!' || (c >= '#' && c <= '~'); });
}

bool HttpFetcher::http2Available() {
  if (!curlReady()) {
    return false;
  }
  const curl_version_info_data* info = curlLibrary()->version_info(CURLVERSION_NOW);
  return info != nullptr && (info->features & CURL_VERSION_HTTP2) != 0;
}

}  // namespace jwtgate::jwks

// The configuration reloader: watchers, debounce, validation and the live apply.
#include "app/config_reloader.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <set>
#include <string_view>
#include <utility>

#include "auth/auth_filter_group.h"
#include "auth/local_file.h"
#include "auth/remote_keys.h"
#include "observe/log.h"
#include "proxy/server.h"

namespace jwtgate::app {

struct ConfigReloader::Watch {
  uv_fs_event_t handle{};
  ConfigReloader* owner = nullptr;
  std::string directory;
  // The entries of the directory a reload reads. Events for other names (a log file written
  // beside the config, an editor's swap file) are ignored: reacting to them would re-read the
  // files for nothing, and a log line about that reload could trigger the next one.
  std::set<std::string> names;
};

namespace {

// The directory part of `path` ("." for a bare name); the path is not resolved, so that a
// symlinked file (Kubernetes' config.yaml -> ..data/config.yaml) is watched where the swap
// happens.
std::string directoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? std::string("/") : path.substr(0, slash);
}

std::string baseNameOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Whether an event for `name` in a watched directory can change what a reload reads. A
// missing name (some file systems do not give one) counts. Kubernetes updates a mounted
// volume by writing a new "..<timestamp>" directory and renaming a "..data_tmp" symlink over
// "..data", so every name starting with ".." counts too.
bool eventConcerns(const std::set<std::string>& names, const char* name) {
  if (name == nullptr || name[0] == '\0') {
    return true;
  }
  const std::string_view entry(name);
  return entry.starts_with("..") || names.count(std::string(entry)) != 0;
}

bool sameLimits(const proxy::Limits& a, const proxy::Limits& b) {
  return a.max_header_bytes == b.max_header_bytes && a.max_header_count == b.max_header_count &&
         a.max_body_bytes == b.max_body_bytes && a.max_connections == b.max_connections &&
         a.max_idle_upstream == b.max_idle_upstream && a.upgrade_protocols == b.upgrade_protocols;
}

bool sameTimeouts(const proxy::Timeouts& a, const proxy::Timeouts& b) {
  return a.request_header_ms == b.request_header_ms && a.client_idle_ms == b.client_idle_ms &&
         a.upstream_connect_ms == b.upstream_connect_ms &&
         a.upstream_response_ms == b.upstream_response_ms && a.drain_ms == b.drain_ms &&
         a.shutdown_grace_ms == b.shutdown_grace_ms;
}

std::vector<std::string> listenTexts(const proxy::ProxyConfig& config) {
  std::vector<std::string> out;
  for (const proxy::ListenAddress& address : config.listen) {
    out.push_back(address.text);
  }
  return out;
}

std::string adminText(const OpsSettings& ops) {
  return ops.admin_listen ? ops.admin_listen->text : std::string("off");
}

double nowSeconds() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

}  // namespace

std::vector<std::string> restartOnlyChanges(const Config& running, const Config& next) {
  const proxy::ProxyConfig& a = running.proxy;
  const proxy::ProxyConfig& b = next.proxy;
  std::vector<std::string> changed;
  const auto note = [&changed](bool differs, const char* key) {
    if (differs) {
      changed.emplace_back(key);
    }
  };
  note(listenTexts(a) != listenTexts(b), "listen");
  note(a.workers != b.workers, "workers");
  note(a.upstream.text != b.upstream.text, "upstream");
  note(!sameLimits(a.limits, b.limits), "limits");
  note(!sameTimeouts(a.timeouts, b.timeouts), "timeouts");
  note(a.trust_forwarded != b.trust_forwarded, "trust_forwarded");
  note(adminText(running.ops) != adminText(next.ops), "admin");
  note(a.access_log.output != b.access_log.output, "access_log.output");
  note(a.access_log.buffer_bytes != b.access_log.buffer_bytes, "access_log.buffer");
  note(running.ops.watch != next.ops.watch || running.ops.debounce_ms != next.ops.debounce_ms,
       "reload");
  // The filters are installed when the server starts: `auth: off` cannot be turned on (or
  // the other way round) in a running process.
  note((running.auth == nullptr) != (next.auth == nullptr), "auth: off");
  return changed;
}

std::vector<std::string> localKeyFiles(const Config& config) {
  std::vector<std::string> files;
  if (!config.auth) {
    return files;
  }
  // TODO(reload): the loader records key files only as descriptions ("file PATH",
  // "pem PATH"); a list of paths in Provider would be sturdier than parsing them back.
  for (const auto& provider : config.auth->providers) {
    for (const std::string& source : provider->key_sources) {
      for (std::string_view kind : {"file ", "pem "}) {
        if (source.starts_with(kind)) {
          files.push_back(source.substr(kind.size()));
        }
      }
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

std::vector<std::string> redactedQueryParams(const Config& config) {
  std::vector<std::string> names;
  if (!config.auth) {
    return names;
  }
  for (const auto& provider : config.auth->providers) {
    for (const auth::TokenSource& source : provider->token_from) {
      if (source.location == auth::TokenLocation::Query) {
        names.push_back(source.name);
      }
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

ConfigReloader::ConfigReloader(std::string config_path, Config running, ReloadTargets targets)
    : config_path_(std::move(config_path)), running_(std::move(running)), targets_(targets) {
  // The start-up load is the first successful one.
  last_success_seconds_.set(static_cast<int64_t>(nowSeconds()));
  rememberFiles(running_, running_.source_text);
}

ConfigReloader::~ConfigReloader() { close(); }

void ConfigReloader::start(uv_loop_t* loop) {
  loop_ = loop;
  if (!running_.ops.watch || closed_) {
    return;
  }
  debounce_ = new uv_timer_t;
  uv_timer_init(loop_, debounce_);
  debounce_->data = this;
  armWatchers();
}

void ConfigReloader::onHangup() {
  observe::log(observe::Level::Info, "reload: SIGHUP received; reading %s", config_path_.c_str());
  if (reload() == ReloadResult::Unchanged) {
    // Asked for by hand: say that nothing was done, which a debug line would hide.
    observe::log(observe::Level::Info, "reload: %s and its key files are unchanged",
                 config_path_.c_str());
  }
}

ReloadResult ConfigReloader::reload() {
  // Fresh watches every time: a directory that was deleted and made again (rm -rf; mv) has
  // a new inode, and the watch on the old one would stay silent for ever. Before reading,
  // so that a change made while this reload reads is seen by the next one.
  armWatchers(/*fresh=*/true);
  const ReloadResult result = readAndApply();
  armWatchers();  // the directories of key files the new configuration names
  return result;
}

ReloadResult ConfigReloader::readAndApply() {
  auto text = auth::readLocalFile(config_path_, auth::kMaxConfigFileBytes);
  if (text && sameAsApplied(*text)) {
    observe::log(observe::Level::Debug, "reload: %s and its key files are unchanged",
                 config_path_.c_str());
    return ReloadResult::Unchanged;
  }
  auto next = text ? parseConfigText(*text, config_path_)
                   : Result<Config, proxy::ConfigError>(makeError(proxy::ConfigError{
                         config_path_, 0, "cannot read the configuration: " + text.error()}));
  if (!next) {
    reloads_failed_.add();
    observe::log(observe::Level::Error, "reload refused: %s; keeping the running configuration",
                 next.error().toString().c_str());
    return ReloadResult::Failed;
  }
  return apply(std::move(next).value(), std::move(text).value());
}

bool ConfigReloader::sameAsApplied(const std::string& text) const {
  if (text != applied_text_) {
    return false;
  }
  for (const auto& [path, bytes] : applied_key_files_) {
    auto now = auth::readLocalFile(path, auth::kMaxKeyFileBytes);
    if (!now || *now != bytes) {
      return false;
    }
  }
  return true;
}

ReloadResult ConfigReloader::apply(Config next, std::string text) {
  const std::vector<std::string> restart = restartOnlyChanges(running_, next);
  const bool auth_applies = running_.auth != nullptr && next.auth != nullptr;

  // Keys first (the group binds the new config to the key services): a service that
  // cannot start leaves everything as it was. The app always creates RemoteKeys when auth
  // is on, so that a reload can add remote providers.
  if (auth_applies && targets_.remote_keys != nullptr) {
    auto updated = targets_.remote_keys->update(next.auth);
    if (!updated) {
      reloads_failed_.add();
      observe::log(observe::Level::Error,
                   "reload refused: %s: remote keys: %s; keeping the running configuration",
                   config_path_.c_str(), updated.error().c_str());
      return ReloadResult::Failed;
    }
  }

  // Then the filters, the workers' redaction set and the log level.
  if (auth_applies && targets_.auth != nullptr) {
    targets_.auth->reconfigure(next.auth);
  }
  if (targets_.server != nullptr) {
    targets_.server->setRedactedQueryParams(redactedQueryParams(next));
  }

  // What runs now: the live parts of `next`, the start-up values of the restart-only keys.
  if (auth_applies) {
    running_.auth = next.auth;
  }
  running_.ops.log_level = next.ops.log_level;
  running_.proxy.access_log.subject_claim = next.proxy.access_log.subject_claim;
  running_.proxy.access_log.secret_claims = next.proxy.access_log.secret_claims;
  rememberFiles(next, std::move(text));
  last_success_seconds_.set(static_cast<int64_t>(nowSeconds()));

  for (const std::string& key : restart) {
    observe::log(observe::Level::Warn,
                 "reload: '%s' changed in %s; the new value takes effect after a restart",
                 key.c_str(), config_path_.c_str());
  }
  const std::string summary = running_.auth ? running_.auth->summary() : std::string("auth off");
  if (restart.empty()) {
    reloads_ok_.add();
    observe::log(observe::Level::Info, "configuration reloaded from %s: %s", config_path_.c_str(),
                 summary.c_str());
  } else {
    reloads_partial_.add();
    observe::log(observe::Level::Info,
                 "configuration reloaded from %s: %s (partly: %zu key(s) need a restart)",
                 config_path_.c_str(), summary.c_str(), restart.size());
  }
  // Last, so that the lines above are written at the level that was asked for until now.
  observe::setLevel(next.ops.log_level);
  return restart.empty() ? ReloadResult::Ok : ReloadResult::Partial;
}

void ConfigReloader::rememberFiles(const Config& config, std::string text) {
  applied_text_ = std::move(text);
  applied_key_files_.clear();
  for (const std::string& path : localKeyFiles(config)) {
    auto bytes = auth::readLocalFile(path, auth::kMaxKeyFileBytes);
    applied_key_files_[path] = bytes ? std::move(bytes).value() : std::string();
  }
}

std::vector<std::string> ConfigReloader::watchedDirectories() const {
  std::vector<std::string> out;
  for (const auto& entry : watches_) {
    out.push_back(entry.first);
  }
  return out;
}

void ConfigReloader::armWatchers(bool fresh) {
  if (loop_ == nullptr || closed_ || !running_.ops.watch) {
    return;
  }
  if (fresh) {
    closeWatches();
  }
  std::map<std::string, std::set<std::string>> wanted;
  wanted[directoryOf(config_path_)].insert(baseNameOf(config_path_));
  for (const std::string& path : localKeyFiles(running_)) {
    wanted[directoryOf(path)].insert(baseNameOf(path));
  }

  // Directories no longer named stop being watched; new ones start.
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (wanted.count(it->first) == 0) {
      uv_fs_event_stop(&it->second->handle);
      uv_close(reinterpret_cast<uv_handle_t*>(&it->second->handle), onClosed);
      it = watches_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [directory, names] : wanted) {
    if (auto found = watches_.find(directory); found != watches_.end()) {
      found->second->names = names;
      continue;
    }
    auto* watch = new Watch;
    watch->owner = this;
    watch->directory = directory;
    watch->names = names;
    uv_fs_event_init(loop_, &watch->handle);
    watch->handle.data = watch;
    const int rc = uv_fs_event_start(&watch->handle, onDirectoryEvent, directory.c_str(), 0);
    if (rc != 0) {
      observe::log(observe::Level::Warn, "reload: cannot watch %s: %s; use SIGHUP to reload",
                   directory.c_str(), uv_strerror(rc));
      uv_close(reinterpret_cast<uv_handle_t*>(&watch->handle), onClosed);
      continue;
    }
    watches_[directory] = watch;
  }
}

void ConfigReloader::scheduleReload() {
  if (closed_ || debounce_ == nullptr) {
    return;
  }
  // Every change restarts the wait: the reload reads the files once writes have settled.
  uv_timer_start(debounce_, onDebounce, running_.ops.debounce_ms, 0);
}

void ConfigReloader::onDirectoryEvent(uv_fs_event_t* handle, const char* name, int /*events*/,
                                      int status) noexcept {
  auto* watch = static_cast<Watch*>(handle->data);
  if (status < 0) {
    observe::log(observe::Level::Warn, "reload: watching %s failed: %s", watch->directory.c_str(),
                 uv_strerror(status));
    return;
  }
  if (eventConcerns(watch->names, name)) {
    watch->owner->scheduleReload();
  }
}

void ConfigReloader::onDebounce(uv_timer_t* handle) noexcept {
  static_cast<ConfigReloader*>(handle->data)->reload();
}

void ConfigReloader::onClosed(uv_handle_t* handle) noexcept {
  if (handle->type == UV_TIMER) {
    delete reinterpret_cast<uv_timer_t*>(handle);
  } else {
    delete static_cast<Watch*>(handle->data);
  }
}

void ConfigReloader::closeWatches() {
  for (auto& entry : watches_) {
    uv_fs_event_stop(&entry.second->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&entry.second->handle), onClosed);
  }
  watches_.clear();
}

void ConfigReloader::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  closeWatches();
  if (debounce_ != nullptr) {
    uv_timer_stop(debounce_);
    uv_close(reinterpret_cast<uv_handle_t*>(debounce_), onClosed);
    debounce_ = nullptr;
  }
}

void ConfigReloader::collectMetrics(observe::MetricsText& out) const {
  out.family("jwtgate_config_reloads_total", "counter",
             "Configuration reloads by result (ok, partial: some keys need a restart, failed)");
  out.sample("jwtgate_config_reloads_total", {{"result", "ok"}}, reloads_ok_.value());
  out.sample("jwtgate_config_reloads_total", {{"result", "partial"}}, reloads_partial_.value());
  out.sample("jwtgate_config_reloads_total", {{"result", "failed"}}, reloads_failed_.value());
  out.family("jwtgate_config_last_reload_success_timestamp_seconds", "gauge",
             "When the configuration was last loaded successfully (start-up included)");
  out.sample("jwtgate_config_last_reload_success_timestamp_seconds", {},
             static_cast<double>(last_success_seconds_.value()));
}

}  // namespace jwtgate::app

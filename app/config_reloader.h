// Live reload of the configuration file: on SIGHUP, and (with `reload.watch`) when the file
// or a local key file it names changes, re-reads and validates the whole file and applies
// what can change without a restart (auth, providers, routes, log level, redacted query
// parameters). Runs on the server's main loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/config_file.h"
#include "observe/metrics.h"

namespace jwtgate::auth {
class AuthFilterGroup;
class RemoteKeys;
}  // namespace jwtgate::auth

namespace jwtgate::proxy {
class Server;
}  // namespace jwtgate::proxy

namespace jwtgate::app {

// What a reload acts on. Every pointer outlives the reloader; any may be null (a unit test
// without a server, `auth: off`).
struct ReloadTargets {
  proxy::Server* server = nullptr;        // gets the redacted query parameters
  auth::AuthFilterGroup* auth = nullptr;  // gets the new AuthConfig
  // The remote key services, updated before the filters get the new config. Serve always
  // creates them (RemoteKeys::create) when auth is on, so that a reload can add remote
  // providers; a null one is skipped.
  auth::RemoteKeys* remote_keys = nullptr;
};

enum class ReloadResult : uint8_t {
  Unchanged,  // same bytes as the last applied file and key files: nothing done or counted
  Ok,         // applied entirely
  Partial,    // applied, but some keys need a restart (each named in a warn line)
  Failed,     // invalid file (or the key service refused it): the running config stays
};

// The restart-only keys whose values differ between `running` and `next` ("listen",
// "timeouts", "access_log.output", ...), in a fixed order.
std::vector<std::string> restartOnlyChanges(const Config& running, const Config& next);

// The local key files `config` reads (file and pem key sources), as the loader resolved
// them.
std::vector<std::string> localKeyFiles(const Config& config);

// Every query parameter name some provider reads a token from (the access log redacts
// their values).
std::vector<std::string> redactedQueryParams(const Config& config);

// Not thread-safe: every call comes from the main loop's thread.
class ConfigReloader {
 public:
  // `running` is the configuration the process started with (read from `config_path`).
  ConfigReloader(std::string config_path, Config running, ReloadTargets targets);
  ~ConfigReloader();
  ConfigReloader(const ConfigReloader&) = delete;
  ConfigReloader& operator=(const ConfigReloader&) = delete;

  // With reload.watch: watches the directory of the config file and of every local key
  // file on `loop` (a directory, so that a file replaced by rename or a Kubernetes `..data`
  // symlink swap is seen), reloading `debounce` after the last change. A directory that
  // cannot be watched is a warn line, not an error.
  void start(uv_loop_t* loop);

  // SIGHUP: reloads at once.
  void onHangup();

  // Reads, validates and applies the file now. Logs the outcome and counts it.
  ReloadResult reload();

  // Closes every handle (the loop must run once more for their close callbacks).
  // Idempotent.
  void close();

  // jwtgate_config_reloads_total{result} and
  // jwtgate_config_last_reload_success_timestamp_seconds.
  void collectMetrics(observe::MetricsText& out) const;

  // The directories being watched now (sorted).
  std::vector<std::string> watchedDirectories() const;

  // What is running: the start-up restart-only settings plus the last applied live parts.
  const Config& running() const { return running_; }

 private:
  struct Watch;

  bool sameAsApplied(const std::string& text) const;
  ReloadResult apply(Config next, std::string text);
  void rememberFiles(const Config& config, std::string text);
  ReloadResult readAndApply();
  // Starts the watches the running config needs; `fresh` replaces those already running.
  void armWatchers(bool fresh = false);
  void closeWatches();
  void scheduleReload();

  static void onDirectoryEvent(uv_fs_event_t* handle, const char* name, int events,
                               int status) noexcept;
  static void onDebounce(uv_timer_t* handle) noexcept;
  static void onClosed(uv_handle_t* handle) noexcept;

  std::string config_path_;
  Config running_;
  ReloadTargets targets_;
  uv_loop_t* loop_ = nullptr;
  uv_timer_t* debounce_ = nullptr;         // owned; freed in its close callback
  std::map<std::string, Watch*> watches_;  // by directory; each freed in its close callback
  bool closed_ = false;

  // The bytes of the last applied file and of each key file it read then.
  std::string applied_text_;
  std::map<std::string, std::string> applied_key_files_;

  observe::Counter reloads_ok_;
  observe::Counter reloads_partial_;
  observe::Counter reloads_failed_;
  observe::Gauge last_success_seconds_;
};

}  // namespace jwtgate::app

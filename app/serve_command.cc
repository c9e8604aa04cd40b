// The serve subcommand: loads the configuration, then runs the proxy with its authentication
// filters, the admin listener (/metrics, /healthz, /readyz) and the configuration reloader.
#include "app/serve_command.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "admin/admin_server.h"
#include "app/config_file.h"
#include "app/config_reloader.h"
#include "auth/auth_filter_group.h"
#include "auth/remote_keys.h"
#include "observe/json_line.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "proxy/config_values.h"
#include "proxy/server.h"

namespace jwtgate::app {
namespace {

constexpr std::string_view kServeUsage =
    "usage: jwtgate serve --config FILE [--wait-for-keys[=TIMEOUT]]\n"
    "Runs the proxy with the settings in FILE (YAML; see docs/proxy-config.md).\n"
    "--wait-for-keys: listen only once every remote provider has keys; fail after TIMEOUT\n"
    "(default 30s; see docs/remote-keys.md).\n"
    "SIGHUP reloads FILE (so does a change of FILE or of a key file, with reload.watch).\n";

// ---- remote keys: how long start-up waits for every remote provider's keys (0: not) ----
constexpr std::uint64_t kDefaultWaitForKeysMs = 30000;
// ---- end remote keys ----

// A worker whose loop has not turned for this long is reported by /healthz.
constexpr std::uint64_t kStalledWorkerMs = 5000;

// Finds --config FILE or --config=FILE (and --wait-for-keys[=TIMEOUT]); false on anything
// else.
bool parseArguments(const std::vector<std::string>& args, std::string* config_path,
                    std::uint64_t* wait_for_keys_ms) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--wait-for-keys") {
      *wait_for_keys_ms = kDefaultWaitForKeysMs;
    } else if (arg.starts_with("--wait-for-keys=")) {
      auto millis = proxy::parseDuration(arg.substr(std::string_view("--wait-for-keys=").size()));
      if (!millis || *millis == 0) {
        return false;
      }
      *wait_for_keys_ms = *millis;
    } else if (arg == "--config" && i + 1 < args.size() && config_path->empty()) {
      *config_path = args[++i];
    } else if (arg.starts_with("--config=") && config_path->empty()) {
      *config_path = std::string(arg.substr(std::string_view("--config=").size()));
    } else {
      return false;
    }
  }
  return !config_path->empty();
}

double wallSeconds() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// Fails early, with the kernel's reason, when the admin address cannot be bound (taken by
// another process, not a local address), so that the proxy never starts without it. The
// probe socket is closed at once; the admin listener binds again once the loop runs.
Result<void*, std::string> probeAdminAddress(const proxy::ListenAddress& address) {
  const int fd = ::socket(address.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return makeError(std::string(std::strerror(errno)));
  }
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (address.address.ss_family == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
  }
  const bool bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address.address),
                            address.address_length) == 0 &&
                     ::listen(fd, 1) == 0;
  const int error = errno;
  ::close(fd);
  if (!bound) {
    return makeError(std::string(std::strerror(error)));
  }
  return nullptr;
}

// The process and its parts as the admin endpoints see them. Every member is touched on
// the main loop's thread only (admin requests, reloads and signals all run there).
struct Service {
  std::string config_path;
  std::string version;
  double start_seconds = 0;
  std::unique_ptr<auth::RemoteKeys> remote_keys;  // never null; outlives the server
  std::shared_ptr<auth::AuthFilterGroup> auth;    // null with `auth: off`
  std::unique_ptr<ConfigReloader> reloader;
  std::unique_ptr<proxy::Server> server;
  std::unique_ptr<admin::AdminServer> admin;
  observe::MetricsRegistry metrics;
  bool listening = false;
  bool draining = false;
  bool admin_failed = false;

  bool healthz(std::string* body) const;
  bool readyz(std::string* body) const;
  void collectProcess(observe::MetricsText& out) const;
};

bool Service::healthz(std::string* body) const {
  const std::vector<uint32_t> stalled = server->stalledWorkers(kStalledWorkerMs);
  if (stalled.empty()) {
    *body = "{\"status\":\"ok\",\"workers\":" + std::to_string(server->workerCount()) + "}";
    return true;
  }
  *body = "{\"status\":\"stalled\",\"stalled_workers\":[";
  for (size_t i = 0; i < stalled.size(); ++i) {
    *body += (i == 0 ? "" : ",") + std::to_string(stalled[i]);
  }
  *body += "]}";
  return false;
}

bool Service::readyz(std::string* body) const {
  std::vector<std::string> reasons;
  if (draining || server->shuttingDown()) {
    reasons.emplace_back("draining");
  }
  if (!listening) {
    reasons.emplace_back("not listening");
  }
  if (remote_keys) {
    const std::vector<std::string> missing = remote_keys->missingProviders();
    if (!missing.empty()) {
      std::string reason = "no keys: ";
      for (size_t i = 0; i < missing.size(); ++i) {
        reason += (i == 0 ? "" : ", ") + missing[i];
      }
      reasons.push_back(std::move(reason));
    }
  }
  if (reasons.empty()) {
    *body = "{\"status\":\"ready\"}";
    return true;
  }
  *body = "{\"status\":\"not_ready\",\"reasons\":[";
  for (size_t i = 0; i < reasons.size(); ++i) {
    if (i > 0) {
      *body += ',';
    }
    observe::appendJsonString(*body, reasons[i]);
  }
  *body += "]}";
  return false;
}

void Service::collectProcess(observe::MetricsText& out) const {
  out.family("jwtgate_build_info", "gauge", "Always 1; the version label says which build runs");
  out.sample("jwtgate_build_info", {{"version", version}}, uint64_t{1});
  out.family("jwtgate_start_time_seconds", "gauge", "When the process started (Unix time)");
  out.sample("jwtgate_start_time_seconds", {}, start_seconds);
}

// The collectors behind /metrics, in exposition order.
void registerCollectors(Service& service) {
  service.metrics.add([&service](observe::MetricsText& out) { service.collectProcess(out); });
  service.metrics.add(
      [&service](observe::MetricsText& out) { service.server->collectMetrics(out); });
  service.metrics.add([&service](observe::MetricsText& out) {
    if (service.auth) {
      service.auth->collectMetrics(out);
    } else {
      auth::AuthFilterGroup::collectEmptyMetrics(out);
    }
  });
  service.metrics.add([&service](observe::MetricsText& out) {
    if (service.remote_keys) {
      service.remote_keys->collectMetrics(out);
    }
  });
  service.metrics.add([&service](observe::MetricsText& out) {
    if (service.reloader) {
      service.reloader->collectMetrics(out);
    }
  });
}

// on_start: the workers run; the admin listener and the reloader join the main loop.
void startOnLoop(Service& service, const Config& config, uv_loop_t* loop) {
  service.listening = true;
  if (config.ops.admin_listen) {
    admin::AdminHandlers handlers;
    handlers.metrics = [&service] { return service.metrics.render(); };
    handlers.healthz = [&service](std::string* body) { return service.healthz(body); };
    handlers.readyz = [&service](std::string* body) { return service.readyz(body); };
    auto started = admin::AdminServer::start(loop, *config.ops.admin_listen, std::move(handlers));
    if (!started) {
      // The probe before start-up makes this a lost race; stop as on SIGTERM, exit 1.
      observe::log(observe::Level::Error, "%s", started.error().c_str());
      service.admin_failed = true;
      ::kill(::getpid(), SIGTERM);
    } else {
      service.admin = std::move(started).value();
      observe::log(observe::Level::Info, "admin listening on %s (/metrics, /healthz, /readyz)",
                   service.admin->boundAddress().c_str());
    }
  }
  service.reloader->start(loop);
}

}  // namespace

int runServe(const std::vector<std::string>& args, std::string_view version) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::fputs(kServeUsage.data(), stdout);
    return 0;
  }
  std::string config_path;
  std::uint64_t wait_for_keys_ms = 0;
  if (!parseArguments(args, &config_path, &wait_for_keys_ms)) {
    std::fputs(kServeUsage.data(), stderr);
    return 2;
  }

  auto config = loadConfigFile(config_path);
  if (!config) {
    std::fprintf(stderr, "jwtgate: error: %s\n", config.error().toString().c_str());
    return 1;
  }
  if (!proxy::parserIsStrict()) {
    std::fprintf(stderr, "jwtgate: error: llhttp was built without LLHTTP_STRICT_MODE\n");
    return 1;
  }
  observe::setLevel(config->ops.log_level);
  if (config->ops.admin_listen) {
    if (auto probed = probeAdminAddress(*config->ops.admin_listen); !probed) {
      std::fprintf(stderr, "jwtgate: error: admin listen %s: %s\n",
                   config->ops.admin_listen->text.c_str(), probed.error().c_str());
      return 1;
    }
  }

  // A client that disconnects mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  Service service;
  service.config_path = config_path;
  service.version = std::string(version);
  service.start_seconds = wallSeconds();

  // ---- remote keys: fetched on their own thread, before the listener reports ready when
  // --wait-for-keys says so ----
  // Created even without remote providers (and with `auth: off`, for the key metrics), so
  // that a reload can add some.
  auto started = auth::RemoteKeys::create(config->auth);
  if (!started) {
    std::fprintf(stderr, "jwtgate: error: remote keys: %s\n", started.error().c_str());
    return 1;
  }
  service.remote_keys = std::move(started).value();
  if (wait_for_keys_ms > 0) {
    std::string missing;
    if (!service.remote_keys->waitUntilReady(std::chrono::milliseconds(wait_for_keys_ms),
                                             &missing)) {
      std::fprintf(stderr, "jwtgate: error: no keys within %llu ms for provider(s): %s\n",
                   static_cast<unsigned long long>(wait_for_keys_ms), missing.c_str());
      return 1;
    }
    std::fprintf(stderr, "jwtgate: info: remote keys: every provider has keys\n");
  }
  // ---- end remote keys ----

  // Authentication: one filter per worker, all reconfigured together on reload, unless the
  // file says `auth: off` (which only a restart undoes).
  proxy::RequestFilterFactory filter;
  if (config->auth) {
    service.auth = auth::AuthFilterGroup::create(config->auth, service.remote_keys.get());
    filter = service.auth->factory();
    std::fprintf(stderr, "jwtgate: info: authentication: %s\n", config->auth->summary().c_str());
  } else {
    std::fprintf(stderr, "jwtgate: info: auth: off: forwarding without authentication\n");
  }

  proxy::ServerHooks hooks;
  hooks.on_start = [&service, &config](uv_loop_t* loop) { startOnLoop(service, *config, loop); };
  hooks.on_hangup = [&service] { service.reloader->onHangup(); };
  hooks.on_shutdown = [&service] { service.draining = true; };
  hooks.on_stop = [&service] {
    if (service.admin) {
      service.admin->close();
    }
    service.reloader->close();
  };
  auto server = proxy::Server::create(config->proxy, std::move(filter), std::move(hooks));
  if (!server) {
    std::fprintf(stderr, "jwtgate: error: %s\n", server.error().c_str());
    return 1;
  }
  service.server = std::move(server).value();
  service.reloader = std::make_unique<ConfigReloader>(
      config_path, *config,
      ReloadTargets{service.server.get(), service.auth.get(), service.remote_keys.get()});
  service.server->setRedactedQueryParams(redactedQueryParams(*config));
  registerCollectors(service);

  for (const std::string& address : service.server->boundAddresses()) {
    std::fprintf(stderr, "jwtgate: info: listening on %s (workers=%u)\n", address.c_str(),
                 service.server->workerCount());
  }
  std::fflush(stderr);
  const int result = service.server->run();
  service.admin.reset();
  service.server.reset();
  return result == 0 && !service.admin_failed ? 0 : 1;
}

}  // namespace jwtgate::app

// The serve subcommand.
#include "app/serve_command.h"

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "app/config_file.h"
#include "auth/auth_filter.h"
#include "auth/remote_keys.h"
#include "proxy/config_values.h"
#include "proxy/server.h"

namespace jwtgate::app {
namespace {

constexpr std::string_view kServeUsage =
    "usage: jwtgate serve --config FILE [--wait-for-keys[=TIMEOUT]]\n"
    "Runs the proxy with the settings in FILE (YAML; see docs/proxy-config.md).\n"
    "--wait-for-keys: listen only once every remote provider has keys; fail after TIMEOUT\n"
    "(default 30s; see docs/remote-keys.md).\n";

// ---- remote keys: how long start-up waits for every remote provider's keys (0: not) ----
constexpr std::uint64_t kDefaultWaitForKeysMs = 30000;
// ---- end remote keys ----

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

}  // namespace

int runServe(const std::vector<std::string>& args) {
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

  // A client that disconnects mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  // Authentication: one filter per worker unless the file says `auth: off`
  // (auth/auth_filter.h).
  proxy::RequestFilterFactory filter;
  // ---- remote keys: fetched on their own thread, before the listener reports ready when
  // --wait-for-keys says so; declared before the server, so it outlives the workers ----
  std::unique_ptr<auth::RemoteKeys> remote_keys;
  if (config->auth) {
    auto started = auth::RemoteKeys::start(config->auth);
    if (!started) {
      std::fprintf(stderr, "jwtgate: error: remote keys: %s\n", started.error().c_str());
      return 1;
    }
    remote_keys = std::move(*started);
  }
  if (remote_keys && wait_for_keys_ms > 0) {
    std::string missing;
    if (!remote_keys->waitUntilReady(std::chrono::milliseconds(wait_for_keys_ms), &missing)) {
      std::fprintf(stderr, "jwtgate: error: no keys within %llu ms for provider(s): %s\n",
                   static_cast<unsigned long long>(wait_for_keys_ms), missing.c_str());
      return 1;
    }
  }
  // ---- end remote keys ----
  if (config->auth) {
    filter = auth::makeAuthFilterFactory(config->auth, remote_keys.get());
    std::fprintf(stderr, "jwtgate: info: authentication: %s\n", config->auth->summary().c_str());
  } else {
    // Only `auth: off` gets here: the loader refuses a file without routes.
    std::fprintf(stderr, "jwtgate: info: auth: off: forwarding without authentication\n");
  }
  auto server = proxy::Server::create(config->proxy, std::move(filter));
  if (!server) {
    std::fprintf(stderr, "jwtgate: error: %s\n", server.error().c_str());
    return 1;
  }
  for (const std::string& address : (*server)->boundAddresses()) {
    std::fprintf(stderr, "jwtgate: listening on %s (workers=%u)\n", address.c_str(),
                 (*server)->workerCount());
  }
  std::fflush(stderr);
  return (*server)->run() == 0 ? 0 : 1;
}

}  // namespace jwtgate::app

// The serve subcommand.
#include "app/serve_command.h"

#include <csignal>
#include <cstdio>
#include <string_view>
#include <utility>

#include "app/config_file.h"
#include "auth/auth_filter.h"
#include "proxy/server.h"

namespace jwtgate::app {
namespace {

constexpr std::string_view kServeUsage =
    "usage: jwtgate serve --config FILE\n"
    "Runs the proxy with the settings in FILE (YAML; see docs/proxy-config.md).\n";

// Finds --config FILE or --config=FILE; false on anything else.
bool parseArguments(const std::vector<std::string>& args, std::string* config_path) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--config" && i + 1 < args.size() && config_path->empty()) {
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
  if (!parseArguments(args, &config_path)) {
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

  // Authentication: one filter per worker when the file has routes (auth/auth_filter.h).
  proxy::RequestFilterFactory filter;
  if (config->auth) {
    filter = auth::makeAuthFilterFactory(config->auth);
    std::fprintf(stderr, "jwtgate: info: authentication: %s\n", config->auth->summary().c_str());
  } else {
    std::fprintf(stderr, "jwtgate: warn: no routes configured: requests are forwarded without "
                         "authentication\n");
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

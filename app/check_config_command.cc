// The check-config subcommand: the same loader as `serve`, stopped before any socket.
#include "app/check_config_command.h"

#include <cstdio>
#include <string_view>

#include "app/config_file.h"

namespace jwtgate::app {

namespace {

constexpr std::string_view kCheckConfigUsage =
    "usage: jwtgate check-config FILE\n"
    "Checks FILE as `jwtgate serve --config FILE` would (every key file is read and\n"
    "checked) without starting the proxy. Exit status 0 when it is valid, 1 otherwise.\n";

}  // namespace

int runCheckConfig(const std::vector<std::string>& args) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::fputs(kCheckConfigUsage.data(), stdout);
    return 0;
  }
  if (args.size() != 1 || args[0].empty() || args[0].starts_with("-")) {
    std::fputs(kCheckConfigUsage.data(), stderr);
    return 2;
  }

  const auto config = loadConfigFile(args[0]);
  if (!config) {
    std::fprintf(stderr, "jwtgate: error: %s\n", config.error().toString().c_str());
    return 1;
  }
  const std::string summary =
      config->auth ? config->auth->summary() : std::string("0 providers, 0 routes");
  std::printf("config OK: %s\n", summary.c_str());
  return 0;
}

}  // namespace jwtgate::app

// jwtgate: a JWT-verifying reverse-proxy sidecar. This file only dispatches subcommands.

#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "app/check_config_command.h"
#include "app/commands.h"
#include "app/serve_command.h"

namespace {

constexpr std::string_view kUsage =
    "usage: jwtgate [serve] --config FILE    run the proxy\n"
    "       jwtgate check-config FILE        check a configuration without starting\n"
    "       jwtgate demo                     run the built-in demo\n"
    "       jwtgate verify ...               verify one token against local keys\n"
    "       jwtgate decode TOKEN             show a token without verifying it\n"
    "       jwtgate version\n"
    "Run a subcommand with --help for its options.\n";

}  // namespace

int main(int argc, char** argv) {
  using jwtgate::app::Args;
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string_view command = argv[1];
  const Args rest(argv + 2, argv + argc);

  if (command == "serve") {
    return jwtgate::app::runServe(rest, JWTGATE_VERSION);
  }
  if (command == "--config" || command.starts_with("--config=")) {
    return jwtgate::app::runServe(Args(argv + 1, argv + argc), JWTGATE_VERSION);
  }
  if (command == "check-config") {
    return jwtgate::app::runCheckConfig(rest);
  }
  if (command == "verify") {
    return jwtgate::app::runVerify(rest);
  }
  if (command == "decode") {
    return jwtgate::app::runDecode(rest);
  }
  if (command == "demo") {
    return jwtgate::app::runDemo(rest);
  }
  if (command == "version" || command == "--version") {
    std::cout << "jwtgate " << JWTGATE_VERSION << "\n";
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "jwtgate: unknown command '" << command << "'\n" << kUsage;
  return 2;
}

// `jwtgate demo`: the sidecar at work on an embedded default, with nothing to configure. It
// generates a demo key, starts a small echo service on loopback, runs jwtgate in front of it
// with a built-in configuration, and prints curl commands with a valid token, no token and a
// forged token. `--check` sends those three requests itself and exits 0 when they give 200,
// 401 and 401.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "app/commands.h"
#include "app/config_file.h"
#include "app/demo_issuer.h"
#include "app/demo_upstream.h"
#include "auth/auth_filter.h"
#include "proxy/server.h"

namespace jwtgate::app {
namespace {

constexpr std::string_view kDemoIssuer = "https://demo.jwtgate.invalid/";
constexpr std::string_view kDemoAudience = "demo-api";
constexpr int kDefaultPort = 8080;

constexpr std::string_view kDemoUsage =
    "usage: jwtgate demo [--port N] [--check]\n"
    "Runs jwtgate on 127.0.0.1:N (default 8080, or a free port if that is taken) in front\n"
    "of a demo echo service, with a generated key. --check sends a valid, a missing and a\n"
    "forged token itself and exits 0 if they get 200, 401 and 401.\n";

struct DemoOptions {
  int port = kDefaultPort;
  bool port_given = false;
  bool check = false;
  bool help = false;  // --help: the usage was printed, nothing else to do
};

std::optional<DemoOptions> parseDemoArgs(const Args& args) {
  DemoOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--check") {
      options.check = true;
    } else if (args[i] == "--port" && i + 1 < args.size()) {
      try {
        options.port = std::stoi(args[++i]);
      } catch (const std::exception&) {
        options.port = -1;
      }
      if (options.port < 0 || options.port > 65535) {
        std::cerr << "jwtgate demo: --port takes a port number\n";
        return std::nullopt;
      }
      options.port_given = true;
    } else if (args[i] == "--help" || args[i] == "-h") {
      std::cout << kDemoUsage;  // like the other commands' --help: stdout, exit 0
      options.help = true;
      return options;
    } else {
      std::cerr << "jwtgate demo: bad usage\n" << kDemoUsage;
      return std::nullopt;
    }
  }
  return options;
}

std::string demoClaims(std::int64_t now, std::string_view subject) {
  return "{\"iss\":\"" + std::string(kDemoIssuer) + "\",\"aud\":\"" + std::string(kDemoAudience) +
         "\",\"sub\":\"" + std::string(subject) + "\",\"scope\":\"orders:read\",\"iat\":" +
         std::to_string(now) + ",\"exp\":" + std::to_string(now + 3600) + "}";
}

// The built-in configuration, in the same YAML a user writes (see config.example.yaml).
std::string demoConfig(int port, std::uint16_t upstream_port, const std::string& jwks) {
  return "listen: 127.0.0.1:" + std::to_string(port) + "\n" +
         "upstream: 127.0.0.1:" + std::to_string(upstream_port) + "\n" +
         "workers: 1\n"
         "providers:\n"
         "  demo:\n"
         "    issuer: " + std::string(kDemoIssuer) + "\n" +
         "    audiences: [" + std::string(kDemoAudience) + "]\n" +
         "    keys: {jwks: '" + jwks + "'}\n" +
         "    algorithms: [ES256]\n"
         "    claims_to_headers: {X-User-Id: sub, X-User-Scope: scope}\n"
         "routes:\n"
         "  - {name: health, match: {path: /healthz}, auth: none}\n"
         "  - {name: orders, match: {prefix: /}, require: {provider: demo}}\n";
}

// One GET through the proxy on loopback; returns the status code, or 0 on failure.
int fetchStatus(int port, const std::string& authorization) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return 0;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return 0;
  }

  std::string request = "GET /orders/42 HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n";
  if (!authorization.empty()) {
    request += "Authorization: Bearer " + authorization + "\r\n";
  }
  request += "\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return 0;
  }

  std::string response;
  char chunk[4096];
  pollfd readable{fd, POLLIN, 0};
  while (::poll(&readable, 1, 5000) > 0) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) {
      break;
    }
    response.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  // "HTTP/1.1 200 ..." : the status is the three digits after the first space.
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) {
    return 0;
  }
  return std::atoi(response.substr(9, 3).c_str());
}

// Runs the three demo requests once the proxy answers, prints them, then stops the server
// the way an operator would, with SIGTERM.
void runCheck(int port, const std::string& valid, const std::string& forged, int* result) {
  int status = 0;
  for (int attempt = 0; attempt < 50 && status == 0; ++attempt) {
    status = fetchStatus(port, valid);
    if (status == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const int missing = fetchStatus(port, "");
  const int forged_status = fetchStatus(port, forged);
  std::printf("check: valid token -> %d, no token -> %d, forged token -> %d\n", status, missing,
              forged_status);
  std::fflush(stdout);
  *result = status == 200 && missing == 401 && forged_status == 401 ? 0 : 1;
  ::kill(::getpid(), SIGTERM);
}

void printInstructions(int port, const std::string& valid, const std::string& forged) {
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/orders/42";
  std::printf(
      "\njwtgate demo: a demo echo service is running behind jwtgate on 127.0.0.1:%d.\n"
      "Try, from another terminal:\n\n"
      "  # a valid token: 200, and the echo shows the identity headers jwtgate added\n"
      "  curl -i %s -H 'Authorization: Bearer %s'\n\n"
      "  # no token: 401 with WWW-Authenticate: Bearer\n"
      "  curl -i %s\n\n"
      "  # a forged token (same kid, another key): 401 invalid_token\n"
      "  curl -i %s -H 'Authorization: Bearer %s'\n\n"
      "Press Ctrl-C to stop.\n\n",
      port, url.c_str(), valid.c_str(), url.c_str(), url.c_str(), forged.c_str());
  std::fflush(stdout);
}

}  // namespace

int runDemo(const Args& args) {
  const auto options = parseDemoArgs(args);
  if (!options) {
    return 2;
  }
  if (options->help) {
    return 0;
  }

  // The cast: an echo service, the trusted issuer, and a forger reusing its kid.
  DemoUpstream upstream;
  const auto upstream_port = DemoUpstream::start(upstream);
  const auto issuer = DemoIssuer::create("demo-key-1");
  const auto forger = DemoIssuer::create("demo-key-1");
  if (!upstream_port || !issuer || !forger) {
    std::cerr << "jwtgate demo: could not set up the demo service or keys\n";
    return 1;
  }
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::string valid = issuer->sign(demoClaims(now, "alice"));
  const std::string forged = forger->sign(demoClaims(now, "mallory"));

  // The same loader and server as `jwtgate --config FILE`, on the built-in configuration.
  // Port 8080 is the friendly default; when it is taken, the kernel picks a free one.
  std::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<proxy::Server> server;
  for (const int port : {options->port, 0}) {
    auto config = parseConfigText(demoConfig(port, *upstream_port, issuer->jwks()),
                                  "built-in demo config");
    if (!config) {
      std::cerr << "jwtgate demo: " << config.error().toString() << "\n";
      return 1;
    }
    auto created = proxy::Server::create(config->proxy,
                                         auth::makeAuthFilterFactory(config->auth));
    if (created) {
      server = std::move(created).value();
      break;
    }
    if (options->port_given) {
      std::cerr << "jwtgate demo: " << created.error() << "\n";
      return 1;
    }
  }
  if (!server) {
    std::cerr << "jwtgate demo: could not listen on loopback\n";
    return 1;
  }
  const std::string& bound = server->boundAddresses().front();
  const int port = std::atoi(bound.substr(bound.rfind(':') + 1).c_str());
  std::fprintf(stderr, "jwtgate: info: listening on %s (workers=%u)\n", bound.c_str(),
               server->workerCount());

  if (!options->check) {
    printInstructions(port, valid, forged);
    return server->run() == 0 ? 0 : 1;
  }
  int check_result = 1;
  std::thread checker(runCheck, port, valid, forged, &check_result);
  const int run_result = server->run();
  checker.join();
  return run_result == 0 ? check_result : 1;
}

}  // namespace jwtgate::app

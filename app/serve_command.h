// `jwtgate serve --config FILE` (also `jwtgate --config FILE`): loads the configuration and
// runs the proxy until it has drained after SIGTERM or SIGINT.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace jwtgate::app {

// `args` are the arguments after "serve" (or all of them for `jwtgate --config FILE`);
// `version` labels jwtgate_build_info. Returns 0 after a clean drain, 1 on a configuration
// or bind error (explained on stderr), 2 on a usage error.
int runServe(const std::vector<std::string>& args, std::string_view version = "unknown");

}  // namespace jwtgate::app

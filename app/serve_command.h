// `jwtgate serve --config FILE` (also `jwtgate --config FILE`): loads the configuration and
// runs the proxy until it has drained after SIGTERM or SIGINT.
#pragma once

#include <string>
#include <vector>

namespace jwtgate::app {

// `args` are the arguments after "serve" (or all of them for `jwtgate --config FILE`).
// Returns 0 after a clean drain, 1 on a configuration or bind error (explained on stderr),
// 2 on a usage error.
int runServe(const std::vector<std::string>& args);

}  // namespace jwtgate::app

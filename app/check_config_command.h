// `jwtgate check-config FILE`: loads and checks a configuration file (keys included)
// without binding or starting anything.
#pragma once

#include <string>
#include <vector>

namespace jwtgate::app {

// `args` are the arguments after "check-config". Prints "config OK: N providers, M routes"
// and returns 0, or prints the error (file:line: problem) and returns 1; 2 on a usage error.
int runCheckConfig(const std::vector<std::string>& args);

}  // namespace jwtgate::app

// The subcommands of the jwtgate program. Each takes the arguments after its own name and
// returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace jwtgate::app {

using Args = std::vector<std::string>;

// `jwtgate verify`: verifies one token against local keys and explains the outcome.
int runVerify(const Args& args);

// `jwtgate decode`: prints a token's header and payload without verifying anything.
int runDecode(const Args& args);

// `jwtgate demo`: the built-in demonstration on an embedded default.
int runDemo(const Args& args);

}  // namespace jwtgate::app

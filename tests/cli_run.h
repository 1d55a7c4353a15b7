// Running the built `lineup` binary from tests as a user would, in a shell,
// with the models set-up imported for the test process.
#pragma once

#include <string>

namespace lineup::testing {

struct CliRun {
  int status;       // exit status (128 + signal when killed)
  std::string out;  // standard output
  std::string err;  // standard error
  std::string output() const { return out + err; }
};

// `s` in single quotes for sh.
std::string ShellQuote(const std::string& s);

// Runs `lineup ARGS` (ARGS as written in a shell) with standard input from
// /dev/null; `prefix` runs first in the same shell (e.g. a ulimit).
CliRun RunLineup(const std::string& args, const std::string& prefix = "");

}  // namespace lineup::testing

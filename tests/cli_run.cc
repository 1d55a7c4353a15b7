#include "cli_run.h"

#include <sys/wait.h>

#include <cstdlib>

#include "common/file_util.h"
#include "test_env.h"

namespace lineup::testing {

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CliRun RunLineup(const std::string& args, const std::string& prefix) {
  std::filesystem::path dir = TempDir("cli-run");
  std::string cmd = prefix + " LINEUP_MODELS=" + ShellQuote(ImportedModelsDir().string()) + " " +
                    ShellQuote(LINEUP_BINARY) + " " + args + " >" + ShellQuote((dir / "out").string()) + " 2>" +
                    ShellQuote((dir / "err").string()) + " </dev/null";
  int raw = std::system(("sh -c " + ShellQuote(cmd)).c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), ReadFileText(dir / "out"),
          ReadFileText(dir / "err")};
}

}  // namespace lineup::testing

// The `lineup` command: one binary, one subcommand per job. Each subcommand
// lives in its own cmd_*.cc and registers itself through commands.h.
#include <sys/stat.h>

#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/error.h"

int main(int argc, char** argv) {
  // Everything Lineup creates (databases, probe photos, media, exports) is
  // private to its user, whatever the caller's umask (common/private_dir.h).
  ::umask(077);
  CLI::App app{"Lineup — face search with provenance and accountability"};
  app.set_version_flag("--version", std::string("lineup ") + LINEUP_VERSION);
  app.require_subcommand(1);
  lineup::cli::RegisterAll(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const lineup::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: unexpected failure: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

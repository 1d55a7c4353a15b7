// Registration of the CLI's subcommands. Each Register* adds one subcommand
// (with its options and a callback that does the work) to the app.
#pragma once

#include <CLI/CLI.hpp>

namespace lineup::cli {

void RegisterModels(CLI::App& app);
void RegisterDetect(CLI::App& app);
void RegisterEmbed(CLI::App& app);
void RegisterCompare(CLI::App& app);
void RegisterEval(CLI::App& app);
void RegisterDemo(CLI::App& app);

inline void RegisterAll(CLI::App& app) {
  RegisterDemo(app);
  RegisterDetect(app);
  RegisterEmbed(app);
  RegisterCompare(app);
  RegisterEval(app);
  RegisterModels(app);
}

}  // namespace lineup::cli

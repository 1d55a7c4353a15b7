// Registration of the CLI's subcommands. Each Register* adds one subcommand
// (with its options and a callback that does the work) to the app.
#pragma once

#include <CLI/CLI.hpp>

namespace lineup::cli {

void RegisterModels(CLI::App& app);

inline void RegisterAll(CLI::App& app) {
  RegisterModels(app);
}

}  // namespace lineup::cli

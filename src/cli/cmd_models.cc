#include <iostream>

#include "cli/commands.h"
#include "common/paths.h"

namespace lineup::cli {

void RegisterModels(CLI::App& app) {
  auto* models = app.add_subcommand("models", "Import and list face models");
  models->require_subcommand(1);
  auto* list = models->add_subcommand("list", "List imported models with their licences");
  list->callback([] { std::cout << "models in " << ModelsDir() << "\n"; });
}

}  // namespace lineup::cli

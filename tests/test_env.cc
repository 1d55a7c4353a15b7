#include "test_env.h"

#include <unistd.h>

#include <atomic>
#include <vector>

#include "common/paths.h"

namespace lineup::testing {

std::filesystem::path PackageFile(const std::string& relative) {
  std::filesystem::path path = PackagesDir() / relative;
  return std::filesystem::exists(path) ? path : std::filesystem::path();
}

namespace {
// Removes the directories TempDir made when the test process exits.
struct TempDirRegistry {
  std::vector<std::filesystem::path> dirs;
  ~TempDirRegistry() {
    std::error_code ignored;
    for (const auto& d : dirs) std::filesystem::remove_all(d, ignored);
  }
};
}  // namespace

std::filesystem::path TempDir(const std::string& tag) {
  static TempDirRegistry registry;
  static std::atomic<int> counter{0};
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("lineup-test-" + tag + "-" + std::to_string(::getpid()) + "-" +
                               std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  registry.dirs.push_back(dir);
  return dir;
}

}  // namespace lineup::testing

#include "common/error.h"
#include "models/model_import.h"

namespace lineup::testing {

std::filesystem::path ImportedModelsDir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path out = TempDir("models");
    ImportOptions options;
    options.packages_dir = PackagesDir();
    options.models_dir = out;
    ImportBuiltinModels(options);
    return out;
  }();
  return dir;
}

std::filesystem::path DemoPhotoDir() { return PackagesDir() / "@vladmandic/face-api/demo"; }

std::filesystem::path DemoPhoto(int n) {
  std::filesystem::path p = DemoPhotoDir() / ("sample" + std::to_string(n) + ".jpg");
  if (!std::filesystem::exists(p)) throw Error(Context(p.string(), "missing; run scripts/setup.sh"));
  return p;
}

}  // namespace lineup::testing

#include <fstream>
#include <iterator>

namespace lineup::testing {

std::filesystem::path FileHolding(const std::filesystem::path& dir, const std::string& needle) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) return entry.path();
  }
  return {};
}

}  // namespace lineup::testing

#include "common/paths.h"

#include <cstdlib>

namespace lineup {

namespace {
std::filesystem::path FromEnv(const char* name, const std::filesystem::path& fallback) {
  const char* value = std::getenv(name);
  return (value && *value) ? std::filesystem::path(value) : fallback;
}
}  // namespace

std::filesystem::path VarDir() { return FromEnv("LINEUP_HOME", LINEUP_DEFAULT_VAR_DIR); }
std::filesystem::path PackagesDir() { return VarDir() / "packages"; }
std::filesystem::path ModelsDir() { return FromEnv("LINEUP_MODELS", VarDir() / "models"); }

}  // namespace lineup

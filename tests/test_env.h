// Helpers shared by tests: where set-up's packages and imported models are,
// and skipping with a clear reason when set-up has not been run.
#pragma once

#include <filesystem>
#include <string>

namespace lineup::testing {

// var/packages/<relative>; empty path if missing.
std::filesystem::path PackageFile(const std::string& relative);
// A fresh empty temporary directory, removed at process exit.
std::filesystem::path TempDir(const std::string& tag);

}  // namespace lineup::testing

// Fails (not skips) when a package file that set-up must bring is missing:
// the test suite runs after set-up, so a missing file is a set-up defect.
#define LINEUP_REQUIRE_PACKAGE_FILE(var, relative)                                       \
  const std::filesystem::path var = ::lineup::testing::PackageFile(relative);           \
  ASSERT_FALSE(var.empty()) << "missing package file " << (relative)                   \
                            << " — run scripts/setup.sh first"

namespace lineup::testing {
// Models imported once per test process from var/packages into a temporary
// folder (so tests never touch the user's var/models). Fails the test if
// set-up's packages are missing.
std::filesystem::path ImportedModelsDir();
// A photo from the face-api package's demo/ folder (sample1.jpg ... sample6.jpg).
std::filesystem::path DemoPhoto(int n);
// The folder of those photos (for manifests that name them: ingest
// --allow-outside / IngestInputOptions::allow_outside).
std::filesystem::path DemoPhotoDir();
// The first regular file under `dir` (recursively, read whole) whose bytes
// contain `needle`; empty if none does. For erasure tests: no copy may stay.
std::filesystem::path FileHolding(const std::filesystem::path& dir, const std::string& needle);
}  // namespace lineup::testing

// The behaviour every Catalog backend must show, as one value-parameterized
// GoogleTest suite. The TEST_P bodies live in catalog_conformance_test.cc
// (compiled once); a backend runs all of them by instantiating the suite in
// its own test file with a factory for its storage:
//
//   INSTANTIATE_TEST_SUITE_P(
//       Sqlite, CatalogConformance,
//       ::testing::Values(CatalogFactory{
//           .name = "Sqlite",
//           .make_location = [] { return (testing::TempDir("cat") / "catalog.db").string(); },
//           .open = [](const std::string& location) { return OpenSqliteCatalog(location); }}),
//       CatalogFactoryName);
//
// A backend that may be unavailable on a machine (PostgreSQL without a
// reachable server) sets `unavailable` to return a reason; each test then
// skips with that reason instead of failing.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "catalog/catalog.h"

namespace lineup {

struct CatalogFactory {
  std::string name;  // test-name suffix: letters, digits and '_' only
  // Creates new, EMPTY storage (a fresh file path, a fresh database or schema)
  // and returns where it is. Called once per test.
  std::function<std::string()> make_location;
  // Opens (connects to) the catalog at a location returned by make_location.
  // Called again on the same location to test persistence.
  std::function<std::unique_ptr<Catalog>(const std::string& location)> open;
  // Optional: returns a non-empty reason when this backend cannot run here.
  std::function<std::string()> unavailable;
};

// For INSTANTIATE_TEST_SUITE_P's name generator.
inline std::string CatalogFactoryName(const ::testing::TestParamInfo<CatalogFactory>& info) {
  return info.param.name;
}

// Keeps gtest from printing the factory's bytes in failure messages.
inline void PrintTo(const CatalogFactory& factory, std::ostream* os) { *os << factory.name; }

class CatalogConformance : public ::testing::TestWithParam<CatalogFactory> {
 protected:
  void SetUp() override {
    if (GetParam().unavailable) {
      const std::string reason = GetParam().unavailable();
      if (!reason.empty()) GTEST_SKIP() << GetParam().name << " unavailable: " << reason;
    }
    location_ = GetParam().make_location();
    catalog_ = GetParam().open(location_);
    ASSERT_NE(catalog_, nullptr);
  }

  // Closes the catalog and opens the same storage again.
  void Reopen() {
    catalog_.reset();
    catalog_ = GetParam().open(location_);
  }
  // A second, independent connection to the same storage.
  std::unique_ptr<Catalog> OpenAnother() { return GetParam().open(location_); }

  Catalog& catalog() { return *catalog_; }

  std::string location_;
  std::unique_ptr<Catalog> catalog_;
};

}  // namespace lineup

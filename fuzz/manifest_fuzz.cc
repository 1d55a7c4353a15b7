// Fuzz target: ManifestInput (src/ingest/manifest_input.cc), the reader of
// the JSON-lines and CSV manifests `lineup ingest` takes from whoever
// assembled a collection. Feeds: the first byte picks the format (even:
// JSON lines, odd: CSV), the rest is the manifest's content, written to
// in/m.jsonl or in/m.csv of a scratch folder that also holds in/a.jpg,
// in/sub/b.png, in/forbidden/c.jpg (a forbidden root), outside/d.jpg and
// in/link.jpg -> ../outside/d.jpg, so rows can name files that pass or
// break each path rule.
//
// Asserts beyond "no crash":
//  - opening throws nothing but lineup::Error; then Next() yields exactly
//    EstimatedCount() items, named "<manifest>:<line>" with lines
//    non-decreasing from 1;
//  - every error message is valid UTF-8 (error texts reach terminals and the
//    job log: PrintableLabel, never raw bytes);
//  - an item without error names an existing regular file whose real path
//    (symlinks resolved) lies in in/ and not in in/forbidden/; its source
//    and collection values are valid UTF-8 without NUL and at most
//    kMaxFieldBytes; the URLs hold no byte <= 0x20 and no DEL.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "common/utf8.h"
#include "fuzz_check.h"
#include "ingest/manifest_input.h"

namespace fs = std::filesystem;

namespace {

fs::path g_root;  // the scratch folder (absolute, canonical)

void Touch(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << "not decoded, only stat()ed";
}

void RemoveScratch() {
  std::error_code ec;
  fs::remove_all(g_root, ec);
}

bool IsUnder(const fs::path& path, const fs::path& folder) {
  const std::string p = path.string(), f = folder.string() + "/";
  return p.compare(0, f.size(), f) == 0;
}

bool CleanValue(const std::string& value) {
  return value.size() <= lineup::kMaxFieldBytes && value.find('\0') == std::string::npos &&
         lineup::IsValidUtf8(value);
}

bool CleanUrl(const std::string& url) {
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7F) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char scratch[] = "/tmp/lineup-manifest-fuzz-XXXXXX";
  if (!mkdtemp(scratch)) std::abort();
  g_root = fs::canonical(scratch);
  Touch(g_root / "in/a.jpg");
  Touch(g_root / "in/sub/b.png");
  Touch(g_root / "in/forbidden/c.jpg");
  Touch(g_root / "outside/d.jpg");
  fs::create_symlink("../outside/d.jpg", g_root / "in/link.jpg");
  std::atexit(RemoveScratch);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lineup;
  if (size == 0) return 0;
  const bool csv = data[0] & 1;
  const fs::path manifest = g_root / (csv ? "in/m.csv" : "in/m.jsonl");
  {
    std::ofstream out(manifest, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  IngestInputOptions options;
  options.forbidden_roots = {g_root / "in/forbidden"};
  options.max_file_bytes = 1 << 20;
  try {
    ManifestInput input(manifest, csv ? ManifestFormat::kCsv : ManifestFormat::kJsonLines, options);
    const std::optional<int64_t> expected = input.EstimatedCount();
    FUZZ_CHECK(expected.has_value() && *expected >= 0, "no row count");
    const std::string prefix = manifest.filename().string() + ":";
    int64_t items = 0;
    long last_line = 1;
    while (std::optional<IngestItem> item = input.Next()) {
      ++items;
      FUZZ_CHECK(items <= *expected, "more items than EstimatedCount()");
      FUZZ_CHECK(item->name.compare(0, prefix.size(), prefix) == 0, item->name);
      const long line = std::strtol(item->name.c_str() + prefix.size(), nullptr, 10);
      FUZZ_CHECK(line >= last_line, item->name);
      last_line = line;
      FUZZ_CHECK(IsValidUtf8(item->error), "error message is not valid UTF-8");
      if (!item->error.empty()) continue;
      std::error_code ec;
      const fs::path real = fs::canonical(item->file, ec);
      FUZZ_CHECK(!ec && fs::is_regular_file(real), item->file.string());
      FUZZ_CHECK(IsUnder(real, g_root / "in"), real.string());
      FUZZ_CHECK(!IsUnder(real, g_root / "in/forbidden"), real.string());
      FUZZ_CHECK(CleanValue(item->collection), "collection value");
      if (item->source) {
        const Source& s = *item->source;
        for (const std::string* v : {&s.source_url, &s.page_url, &s.title, &s.captured_at, &s.published_at, &s.legal_basis}) {
          FUZZ_CHECK(CleanValue(*v), "source value");
        }
        FUZZ_CHECK(CleanUrl(s.source_url) && CleanUrl(s.page_url), "URL with whitespace or control byte");
      }
    }
    FUZZ_CHECK(items == *expected, "fewer items than EstimatedCount()");
  } catch (const Error& e) {
    FUZZ_CHECK(IsValidUtf8(e.what()), "error message is not valid UTF-8");
  }
  return 0;
}

#include "ingest/input_paths.h"

#include "ingest/input_text.h"

namespace lineup {
namespace fs = std::filesystem;
namespace {

// The path with symlinks resolved as far as it exists; the lexical normal
// form if even that fails (a path we cannot resolve is judged as written).
fs::path Resolved(const fs::path& path) {
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec);
  if (ec) return path.lexically_normal();
  fs::path canonical = fs::weakly_canonical(absolute, ec);
  return ec ? absolute.lexically_normal() : canonical;
}

std::vector<fs::path> AllResolved(const std::vector<fs::path>& paths) {
  std::vector<fs::path> out;
  for (const fs::path& p : paths) out.push_back(Resolved(p));
  return out;
}

std::string Label(const fs::path& path) { return ingest_internal::PrintableLabel(path.string()); }

}  // namespace

bool IsWithin(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

InputPathRules::InputPathRules(const std::vector<fs::path>& allowed, const std::vector<fs::path>& forbidden)
    : allowed_(AllResolved(allowed)), forbidden_(AllResolved(forbidden)) {}

std::string InputPathRules::Check(const fs::path& file) const {
  const fs::path resolved = Resolved(file);
  for (const fs::path& root : forbidden_) {
    if (IsWithin(resolved, root)) {
      return "inside the gallery's data directory, which is never ingested: " + Label(file);
    }
  }
  if (allowed_.empty()) return "";
  for (const fs::path& root : allowed_) {
    if (IsWithin(resolved, root)) return "";
  }
  return "outside the manifest's folder (name the folder with --allow-outside DIR to read it): " + Label(file);
}

std::string InputPathRules::CheckInput(const fs::path& input) const {
  const fs::path resolved = Resolved(input);
  for (const fs::path& root : forbidden_) {
    if (IsWithin(resolved, root)) {
      return "inside the gallery's data directory, which is never ingested";
    }
    if (IsWithin(root, resolved)) {
      return "holds the gallery's data directory, which is never ingested; ingest a folder beside it";
    }
  }
  return "";
}

}  // namespace lineup

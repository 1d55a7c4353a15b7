// Where an ingest may read files from. A manifest names files by path, so
// without a rule it could pull in any file the user can read: a file of
// another folder (`../../outside/x.jpg`), or a case's probe photo inside the
// gallery's own data directory, which would then become searchable.
//
// Invariants:
//  - Paths are compared after symlinks are resolved (std::filesystem::
//    weakly_canonical), so a link inside an allowed folder that points
//    elsewhere is judged by where it points.
//  - A forbidden root wins over an allowed one: nothing inside the gallery's
//    data directory is ever ingested, whatever --allow-outside says.
//  - Reasons name the path and the rule, never the file's contents.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace lineup {

class InputPathRules {
 public:
  // `allowed`: the folders files may come from (the manifest's folder and
  // those --allow-outside names); empty = anywhere. `forbidden`: folders no
  // file may come from (the gallery's data directory).
  InputPathRules() = default;  // anywhere, nothing forbidden
  InputPathRules(const std::vector<std::filesystem::path>& allowed,
                 const std::vector<std::filesystem::path>& forbidden);

  // "" when `file` may be read, else why not.
  std::string Check(const std::filesystem::path& file) const;
  // The same for a whole input (a folder tree or an archive): only the
  // forbidden roots apply, and a folder that holds a forbidden root is
  // refused too (its walk would reach into it).
  std::string CheckInput(const std::filesystem::path& input) const;

 private:
  std::vector<std::filesystem::path> allowed_;    // canonical
  std::vector<std::filesystem::path> forbidden_;  // canonical
};

// True when `path` is `root` or lies below it (both canonical).
bool IsWithin(const std::filesystem::path& path, const std::filesystem::path& root);

}  // namespace lineup

// Labelled evaluation sets for `lineup eval fairness`: one row per image with
// its identity and any number of group labels.
//
// Format (CSV, one record per line, RFC 4180 quoting within a line):
//   path,identity,<group column>,<group column>,...
//   s1/1.pgm,s1,lab,neutral
//   yale/subject01.glasses.pgm,subject01,lighting,glasses
// - The header is required. Its first two fields must be `path` and
//   `identity` (any case); every further field names a group column (e.g.
//   sex, age_band, skin_tone, capture_condition). Column names are non-empty
//   and unique. Zero group columns is allowed (overall figures only).
// - Every row has exactly as many fields as the header. `path` and
//   `identity` are non-empty; a group cell may be empty, meaning "no label in
//   this column" (the image still counts overall and in the other columns).
// - Paths are relative to the root unless absolute; the same resolved path
//   may appear only once. Blank lines are skipped.
// Any violation throws lineup::Error naming "file:line" and the problem.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lineup {

struct LabelledImage {
  std::string path;                 // resolved against the root
  std::string identity;
  std::vector<std::string> groups;  // groups[k] is the value in group column k; "" = none
  int line = 0;                     // 1-based line in the labels file
};

struct LabelledSet {
  std::vector<std::string> group_columns;
  std::vector<LabelledImage> images;  // in file order
};

// Parses text in the format above; `source` names it in error messages.
LabelledSet ParseLabelsCsv(std::string_view text, const std::string& source,
                           const std::filesystem::path& root);

// Reads and parses a labels file. Throws Error if it cannot be read or holds
// no image rows.
LabelledSet ReadLabelsCsv(const std::filesystem::path& file, const std::filesystem::path& root);

}  // namespace lineup

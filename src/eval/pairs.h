// Verification pair lists: which two images to compare and whether they show
// the same person. Two formats:
//
// LFW pairs.txt
//   An optional header, either "<folds> <pairs>" (e.g. "10 300": 10 folds, each
//   300 same-person pairs followed by 300 different-person pairs, in file
//   order) or "<pairs>" (pairsDevTrain.txt style: that many same-person pairs,
//   then that many different-person pairs, no folds). Then one pair per line:
//     name n1 n2            same person
//     name1 n1 name2 n2     different persons
//   Image path = root/name/name_%04d.jpg. Blank lines are skipped. When a
//   header is present the pair lines must follow its layout exactly.
//
// CSV "img1,img2,same[,...]"
//   The label column is 1/0, true/false or yes/no (case-insensitive). A first
//   row whose third field is not such a label is a header (e.g. deepface's
//   "file_x,file_y,Decision"); extra columns are ignored except a header column
//   named "fold", whose integer values become the pairs' folds. Fields may be
//   quoted ("a,b" with "" for a quote) but may not span lines. Paths are
//   relative to root unless absolute.
//
// Any malformed line throws lineup::Error naming "file:line" and the problem.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lineup {

struct ImagePair {
  std::string path_a, path_b;
  bool same = false;
  int fold = -1;  // 0-based fold number, or -1 when the list defines no folds
};

// Parses text in LFW pairs.txt format; `source` names it in error messages.
std::vector<ImagePair> ParseLfwPairs(std::string_view text, const std::string& source,
                                     const std::filesystem::path& root);

// Parses text in the CSV format above.
std::vector<ImagePair> ParseCsvPairs(std::string_view text, const std::string& source,
                                     const std::filesystem::path& root);

// Reads a pair list file: CSV if its name ends in ".csv" (any case) or its first
// non-blank line contains a comma, LFW format otherwise. Image paths are
// resolved against root (for LFW, the folder holding one folder per person).
std::vector<ImagePair> ReadPairsFile(const std::filesystem::path& path,
                                     const std::filesystem::path& root);

}  // namespace lineup

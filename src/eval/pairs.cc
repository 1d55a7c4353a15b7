#include "eval/pairs.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>

#include "common/ascii.h"
#include "common/error.h"
#include "common/file_util.h"
#include "eval/text_lines.h"

namespace lineup {

using eval_internal::LineContext;
using eval_internal::NumberedLine;
using eval_internal::ParseInt64;
using eval_internal::SplitCsvRecord;
using eval_internal::SplitLines;
using eval_internal::SplitWhitespace;
using eval_internal::Trim;

namespace {

// ---- LFW pairs.txt -------------------------------------------------------

// What the optional header promises. folds == 0 means "no folds".
struct LfwLayout {
  int64_t folds = 0;
  int64_t per_class = 0;  // pairs of each class per fold (or in total when folds == 0)
  int header_line = 0;
};

std::string LfwImagePath(const std::filesystem::path& root, std::string_view name, int64_t n) {
  char number[32];
  std::snprintf(number, sizeof number, "_%04lld.jpg", static_cast<long long>(n));
  std::string file = std::string(name) + number;
  return (root / std::string(name) / file).string();
}

int64_t ParseImageNumber(std::string_view token, const std::string& where) {
  int64_t n = 0;
  if (!ParseInt64(token, &n) || n < 1 || n > 99999999) {
    throw Error(Context(where, "image number '" + std::string(token) +
                                   "' is not a positive integer"));
  }
  return n;
}

// A header is a first line of one or two integers; pair lines have 3 or 4 fields.
std::optional<LfwLayout> ParseLfwHeader(const NumberedLine& line, const std::string& source) {
  auto tokens = SplitWhitespace(line.text);
  if (tokens.size() != 1 && tokens.size() != 2) return std::nullopt;
  int64_t values[2] = {0, 0};
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!ParseInt64(tokens[i], &values[i]) || values[i] < 1) {
      throw Error(Context(LineContext(source, line.number),
                          "header must be '<folds> <pairs per fold>' or '<pairs>' with "
                          "positive integers, got '" + std::string(Trim(line.text)) + "'"));
    }
  }
  LfwLayout layout;
  layout.header_line = line.number;
  if (tokens.size() == 2) {
    layout.folds = values[0];
    layout.per_class = values[1];
  } else {
    layout.per_class = values[0];
  }
  return layout;
}

ImagePair ParseLfwPairLine(const NumberedLine& line, const std::string& source,
                           const std::filesystem::path& root) {
  const std::string where = LineContext(source, line.number);
  auto tokens = SplitWhitespace(line.text);
  ImagePair pair;
  if (tokens.size() == 3) {
    pair.same = true;
    pair.path_a = LfwImagePath(root, tokens[0], ParseImageNumber(tokens[1], where));
    pair.path_b = LfwImagePath(root, tokens[0], ParseImageNumber(tokens[2], where));
  } else if (tokens.size() == 4) {
    pair.same = false;
    pair.path_a = LfwImagePath(root, tokens[0], ParseImageNumber(tokens[1], where));
    pair.path_b = LfwImagePath(root, tokens[2], ParseImageNumber(tokens[3], where));
  } else {
    throw Error(Context(where, "expected 'name n1 n2' or 'name1 n1 name2 n2', got " +
                                   std::to_string(tokens.size()) + " fields"));
  }
  return pair;
}

// Checks pair number `index` (0-based) against the header's layout and sets its fold.
void ApplyLfwLayout(const LfwLayout& layout, int64_t index, const NumberedLine& line,
                    const std::string& source, ImagePair* pair) {
  const int64_t block = 2 * layout.per_class;
  const int64_t total = layout.folds > 0 ? layout.folds * block : block;
  const std::string where = LineContext(source, line.number);
  if (index >= total) {
    throw Error(Context(where, "more pairs than the header on line " +
                                   std::to_string(layout.header_line) + " promises (" +
                                   std::to_string(total) + ")"));
  }
  const int64_t within = index % block;
  const bool expect_same = within < layout.per_class;
  if (pair->same != expect_same) {
    std::string where_in_file =
        layout.folds > 0 ? "pair " + std::to_string(within + 1) + " of fold " +
                               std::to_string(index / block + 1)
                         : "pair " + std::to_string(index + 1);
    throw Error(Context(where, std::string("expected a ") +
                                   (expect_same ? "same-person line 'name n1 n2'"
                                                : "different-person line 'name1 n1 name2 n2'") +
                                   " as " + where_in_file + " per the header"));
  }
  if (layout.folds > 0) pair->fold = static_cast<int>(index / block);
}

// ---- CSV -----------------------------------------------------------------

std::optional<bool> ParseLabel(std::string_view field) {
  const std::string value = ToLowerAscii(Trim(field));
  if (value == "1" || value == "true" || value == "yes") return true;
  if (value == "0" || value == "false" || value == "no") return false;
  return std::nullopt;
}

std::string ResolvePath(const std::filesystem::path& root, const std::string& field) {
  std::filesystem::path path(field);
  return path.is_absolute() ? path.string() : (root / path).string();
}

}  // namespace

std::vector<ImagePair> ParseLfwPairs(std::string_view text, const std::string& source,
                                     const std::filesystem::path& root) {
  std::vector<ImagePair> pairs;
  std::optional<LfwLayout> layout;
  bool first = true;
  for (const NumberedLine& line : SplitLines(text)) {
    if (Trim(line.text).empty()) continue;
    if (first) {
      first = false;
      layout = ParseLfwHeader(line, source);
      if (layout) continue;
    }
    ImagePair pair = ParseLfwPairLine(line, source, root);
    if (layout) ApplyLfwLayout(*layout, static_cast<int64_t>(pairs.size()), line, source, &pair);
    pairs.push_back(std::move(pair));
  }
  if (layout) {
    const int64_t expected = 2 * layout->per_class * std::max<int64_t>(layout->folds, 1);
    if (static_cast<int64_t>(pairs.size()) != expected) {
      throw Error(Context(LineContext(source, layout->header_line),
                          "header promises " + std::to_string(expected) + " pairs, file has " +
                              std::to_string(pairs.size())));
    }
  }
  return pairs;
}

std::vector<ImagePair> ParseCsvPairs(std::string_view text, const std::string& source,
                                     const std::filesystem::path& root) {
  std::vector<ImagePair> pairs;
  bool first = true;
  int fold_column = -1;
  for (const NumberedLine& line : SplitLines(text)) {
    if (Trim(line.text).empty()) continue;
    const std::string where = LineContext(source, line.number);
    std::vector<std::string> fields = SplitCsvRecord(line.text, where);
    if (fields.size() < 3) {
      throw Error(Context(where, "expected at least 3 comma-separated fields "
                                 "(img1,img2,same), got " + std::to_string(fields.size())));
    }
    std::optional<bool> same = ParseLabel(fields[2]);
    if (first) {
      first = false;
      if (!same) {  // a header row
        for (size_t i = 0; i < fields.size(); ++i) {
          if (ToLowerAscii(Trim(fields[i])) == "fold") fold_column = static_cast<int>(i);
        }
        continue;
      }
    }
    if (!same) {
      throw Error(Context(where, "label '" + fields[2] +
                                     "' is not 1/0, true/false or yes/no"));
    }
    if (fields[0].empty() || fields[1].empty()) throw Error(Context(where, "empty image path"));
    ImagePair pair;
    pair.path_a = ResolvePath(root, fields[0]);
    pair.path_b = ResolvePath(root, fields[1]);
    pair.same = *same;
    if (fold_column >= 0) {
      if (static_cast<size_t>(fold_column) >= fields.size()) {
        throw Error(Context(where, "missing the fold column"));
      }
      int64_t fold = 0;
      if (!ParseInt64(Trim(fields[fold_column]), &fold) || fold < 0 || fold > 1000000) {
        throw Error(Context(where, "fold '" + fields[fold_column] +
                                       "' is not a non-negative integer"));
      }
      pair.fold = static_cast<int>(fold);
    }
    pairs.push_back(std::move(pair));
  }
  return pairs;
}

std::vector<ImagePair> ReadPairsFile(const std::filesystem::path& path,
                                     const std::filesystem::path& root) {
  const std::string text = ReadFileText(path);
  bool csv = ToLowerAscii(path.extension().string()) == ".csv";
  if (!csv) {
    for (const NumberedLine& line : SplitLines(text)) {
      if (Trim(line.text).empty()) continue;
      csv = line.text.find(',') != std::string_view::npos;
      break;
    }
  }
  return csv ? ParseCsvPairs(text, path.string(), root) : ParseLfwPairs(text, path.string(), root);
}

}  // namespace lineup

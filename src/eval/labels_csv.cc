#include "eval/labels_csv.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "common/ascii.h"
#include "common/error.h"
#include "common/file_util.h"
#include "eval/text_lines.h"

namespace lineup {

using eval_internal::LineContext;
using eval_internal::NumberedLine;
using eval_internal::SplitCsvRecord;
using eval_internal::SplitLines;
using eval_internal::Trim;

namespace {

std::vector<std::string> ParseHeader(const std::vector<std::string>& fields, const std::string& where) {
  if (fields.size() < 2 || ToLowerAscii(fields[0]) != "path" || ToLowerAscii(fields[1]) != "identity") {
    throw Error(Context(where, "header must start with 'path,identity' followed by the group columns "
                               "(e.g. path,identity,sex,age_band)"));
  }
  std::vector<std::string> columns(fields.begin() + 2, fields.end());
  std::set<std::string> seen = {"path", "identity"};
  for (size_t k = 0; k < columns.size(); ++k) {
    if (columns[k].empty()) {
      throw Error(Context(where, "group column " + std::to_string(k + 3) + " has no name"));
    }
    if (!seen.insert(ToLowerAscii(columns[k])).second) {
      throw Error(Context(where, "column '" + columns[k] + "' appears twice"));
    }
  }
  return columns;
}

}  // namespace

LabelledSet ParseLabelsCsv(std::string_view text, const std::string& source,
                           const std::filesystem::path& root) {
  LabelledSet set;
  bool have_header = false;
  size_t width = 0;
  std::map<std::string, int> line_of_path;  // invariant: every path in set.images, once
  for (const NumberedLine& line : SplitLines(text)) {
    if (Trim(line.text).empty()) continue;
    const std::string where = LineContext(source, line.number);
    std::vector<std::string> fields = SplitCsvRecord(line.text, where);
    if (!have_header) {
      set.group_columns = ParseHeader(fields, where);
      width = fields.size();
      have_header = true;
      continue;
    }
    if (fields.size() != width) {
      throw Error(Context(where, "expected " + std::to_string(width) + " fields (path,identity" +
                                     (set.group_columns.empty() ? "" : ",<" + std::to_string(width - 2) + " groups>") +
                                     "), got " + std::to_string(fields.size())));
    }
    if (fields[0].empty()) throw Error(Context(where, "empty path"));
    if (fields[1].empty()) throw Error(Context(where, "empty identity for " + fields[0]));
    std::filesystem::path path(fields[0]);
    LabelledImage image;
    image.path = (path.is_absolute() ? path : root / path).lexically_normal().string();
    image.identity = fields[1];
    image.groups.assign(fields.begin() + 2, fields.end());
    image.line = line.number;
    auto [it, inserted] = line_of_path.emplace(image.path, line.number);
    if (!inserted) {
      throw Error(Context(where, "image " + fields[0] + " is already listed on line " +
                                     std::to_string(it->second)));
    }
    set.images.push_back(std::move(image));
  }
  if (!have_header) throw Error(Context(source, "empty labels file (need a header 'path,identity,...')"));
  return set;
}

LabelledSet ReadLabelsCsv(const std::filesystem::path& file, const std::filesystem::path& root) {
  if (!std::filesystem::is_regular_file(file)) throw Error(Context(file.string(), "no such labels file"));
  LabelledSet set = ParseLabelsCsv(ReadFileText(file), file.string(), root);
  if (set.images.empty()) throw Error(Context(file.string(), "no image rows after the header"));
  return set;
}

}  // namespace lineup

#include "ingest/manifest_input.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "ingest/input_paths.h"
#include "ingest/input_text.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;
using ingest_internal::IsValidUtf8;
using ingest_internal::PrintableLabel;
using ingest_internal::Quoted;
using ingest_internal::ToLowerAscii;

enum Field { kPath, kSourceUrl, kPageUrl, kTitle, kDate, kPublished, kCollection, kLegalBasis,
             kFieldCount };
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "path", "source_url", "page_url", "title", "date", "published", "collection", "legal_basis"};

using RowValues = std::array<std::string, kFieldCount>;  // "" = absent

std::optional<Field> FieldByName(std::string_view name) {
  for (int f = 0; f < kFieldCount; ++f) {
    if (kFieldNames[f] == name) return static_cast<Field>(f);
  }
  return std::nullopt;
}

std::string ValidFieldNames() {
  std::string names;
  for (std::string_view name : kFieldNames) names += (names.empty() ? "" : ", ") + std::string(name);
  return "valid ones: " + names;
}


// Byte reader over a stream that counts lines.
class Cursor {
 public:
  Cursor(std::streambuf* buffer, int* line) : buffer_(buffer), line_(line) {}
  // Next byte (0..255), or -1 at the end.
  int Get() {
    const auto c = buffer_->sbumpc();
    if (c == std::char_traits<char>::eof()) return -1;
    if (c == '\n') ++*line_;
    return c;
  }
  int Peek() {
    const auto c = buffer_->sgetc();
    return c == std::char_traits<char>::eof() ? -1 : c;
  }
  int line() const { return *line_; }

 private:
  std::streambuf* buffer_;
  int* line_;
};

// One line without its LF / CRLF. Returns false at the end of the input.
// A line over kMaxManifestLineBytes is consumed but not kept (*too_long).
bool ReadLine(Cursor& in, std::string* text, bool* too_long) {
  text->clear();
  *too_long = false;
  if (in.Peek() < 0) return false;
  for (int c = in.Get(); c >= 0 && c != '\n'; c = in.Get()) {
    if (text->size() >= kMaxManifestLineBytes) {
      *too_long = true;
      text->clear();
    }
    if (!*too_long) *text += static_cast<char>(c);
  }
  if (!text->empty() && text->back() == '\r') text->pop_back();
  return true;
}

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(" \t\r") == std::string_view::npos;
}

struct CsvRecord {
  int line = 0;                     // line the record starts on
  std::vector<std::string> fields;
  bool quoted = false;              // some field was quoted
  std::string error;                // first problem found; fields are then unreliable
  bool Blank() const {
    return error.empty() && !quoted && fields.size() == 1 && fields[0].empty();
  }
};

// Reads one RFC 4180 record. Returns false at the end of the input. After
// an error the record is still read to its end (quotes tracked) so that the
// next record starts in the right place.
bool ReadCsvRecord(Cursor& in, CsvRecord* record) {
  *record = CsvRecord();
  record->line = in.line();
  if (in.Peek() < 0) return false;
  record->fields.emplace_back();
  size_t record_bytes = 0;
  size_t field_bytes = 0;  // bytes seen in the current field, kept or not
  bool in_quotes = false;
  bool after_quote = false;
  auto fail = [&](const std::string& why) {
    if (!record->error.empty()) return;
    record->error = why;
    record->fields.assign(1, std::string());  // free what was kept
  };
  auto append = [&](int c) {
    ++field_bytes;
    if (++record_bytes > kMaxManifestLineBytes) {
      fail("record is over " + std::to_string(kMaxManifestLineBytes) + " bytes");
    }
    if (record->error.empty()) record->fields.back() += static_cast<char>(c);
  };
  for (;;) {
    const int c = in.Get();
    if (c < 0) {
      if (in_quotes) fail("quoted field not closed before the end of the file");
      return true;
    }
    if (in_quotes) {
      if (c != '"') {
        append(c);
      } else if (in.Peek() == '"') {
        in.Get();
        append('"');
      } else {
        in_quotes = false;
        after_quote = true;
      }
      continue;
    }
    if (c == ',') {
      if (record->error.empty()) record->fields.emplace_back();
      field_bytes = 0;
      after_quote = false;
      continue;
    }
    if (c == '\n') return true;
    if (c == '\r' && (in.Peek() == '\n' || in.Peek() < 0)) {
      if (in.Peek() == '\n') in.Get();
      return true;
    }
    if (after_quote) {
      fail("text after the closing quote of a field");
    } else if (c == '"' && field_bytes == 0) {
      in_quotes = true;
      record->quoted = true;
    } else {
      append(c);
    }
  }
}

// The reason `value` is not acceptable for `field`, or "".
bool Digits(const std::string& s, size_t at, size_t n) {
  if (at + n > s.size()) return false;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

int Number(const std::string& s, size_t at, size_t n) { return std::stoi(s.substr(at, n)); }

// An ISO 8601 calendar date, YYYY-MM-DD, that exists (leap years counted),
// optionally followed by a time: Thh:mm, Thh:mm:ss, either with Z or +hh:mm /
// -hh:mm. A date stays a date: no time of day is invented for it.
bool IsIsoDate(const std::string& v) {
  if (!Digits(v, 0, 4) || v.size() < 10 || v[4] != '-' || !Digits(v, 5, 2) || v[7] != '-' || !Digits(v, 8, 2)) {
    return false;
  }
  const int year = Number(v, 0, 4), month = Number(v, 5, 2), day = Number(v, 8, 2);
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] || (month == 2 && day == 29 && !leap)) return false;
  if (v.size() == 10) return true;
  size_t at = 10;
  if ((v[at] != 'T' && v[at] != ' ') || !Digits(v, at + 1, 2) || v[at + 3] != ':' || !Digits(v, at + 4, 2)) return false;
  if (Number(v, at + 1, 2) > 23 || Number(v, at + 4, 2) > 59) return false;
  at += 6;
  if (at < v.size() && v[at] == ':') {
    if (!Digits(v, at + 1, 2) || Number(v, at + 1, 2) > 60) return false;
    at += 3;
  }
  if (at == v.size()) return true;
  if (v[at] == 'Z') return at + 1 == v.size();
  if (v[at] != '+' && v[at] != '-') return false;
  return v.size() == at + 6 && Digits(v, at + 1, 2) && v[at + 3] == ':' && Digits(v, at + 4, 2) &&
         Number(v, at + 1, 2) <= 14 && Number(v, at + 4, 2) <= 59;
}

std::string CheckValue(Field field, const std::string& value) {
  const std::string name = "field '" + std::string(kFieldNames[field]) + "'";
  if (value.size() > kMaxFieldBytes) {
    return name + " is " + std::to_string(value.size()) + " bytes, over the limit of " +
           std::to_string(kMaxFieldBytes);
  }
  if (value.find('\0') != std::string::npos) return name + " contains a NUL byte";
  if (!IsValidUtf8(value)) return name + " is not valid UTF-8";
  if ((field == kDate || field == kPublished) && !value.empty() && !IsIsoDate(value)) {
    return name + " is not a date: '" + PrintableLabel(value.substr(0, 40)) +
           "' (write YYYY-MM-DD, or YYYY-MM-DDThh:mm:ssZ with a time)";
  }
  if (field == kCollection && PrintableLabel(value) != value) {
    return name + " contains a control character: '" + PrintableLabel(value.substr(0, 40)) + "'";
  }
  if (field == kSourceUrl || field == kPageUrl) {
    for (size_t i = 0; i < value.size(); ++i) {
      const auto b = static_cast<uint8_t>(value[i]);
      const bool c1 = b == 0xC2 && i + 1 < value.size() && static_cast<uint8_t>(value[i + 1]) < 0xA0;
      if (b <= 0x20 || b == 0x7F || c1) {
        return name + " contains whitespace or a control character (at byte " +
               std::to_string(i) + ")";
      }
    }
  }
  return "";
}

// Decodes %XX escapes; returns false on a malformed escape.
bool PercentDecode(std::string_view text, std::string* out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      *out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return false;
    const int high = hex(text[i + 1]);
    const int low = hex(text[i + 2]);
    if (high < 0 || low < 0) return false;
    *out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return true;
}

// The URL scheme ("http", "file", ...) if `text` starts with "<scheme>://".
std::optional<std::string> UrlScheme(std::string_view text) {
  const size_t end = text.find("://");
  if (end == std::string_view::npos || end == 0) return std::nullopt;
  if (!std::isalpha(static_cast<unsigned char>(text[0]))) return std::nullopt;
  for (size_t i = 1; i < end; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return std::nullopt;
  }
  return ToLowerAscii(text.substr(0, end));
}

// Turns the `path` value into the file to read; returns the reason it
// cannot, or "".
std::string ResolvePath(const std::string& value, const fs::path& folder, fs::path* file) {
  if (value.empty()) return "missing path";
  if (std::optional<std::string> scheme = UrlScheme(value)) {
    if (*scheme != "file") {
      if (*scheme == "http" || *scheme == "https") return "not a local file: Lineup does not download";
      return "not a local file (" + Quoted(*scheme) + " URL): Lineup does not download";
    }
    const std::string_view rest = std::string_view(value).substr(7);  // after "file://"
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return "file URL without a path";
    const std::string host = ToLowerAscii(rest.substr(0, slash));
    if (!host.empty() && host != "localhost") {
      return "file URL names host " + Quoted(host) + ": only local files are read";
    }
    std::string decoded;
    if (!PercentDecode(rest.substr(slash), &decoded)) return "file URL with a malformed %-escape";
    if (decoded.find('\0') != std::string::npos) return "file URL decodes to a path with a NUL byte";
    *file = fs::path(decoded).lexically_normal();
    return "";
  }
  const fs::path path(value);
  *file = (path.is_absolute() ? path : folder / path).lexically_normal();
  return "";
}

// Checks the file a row names, without reading it.
std::string CheckFile(const fs::path& file, int64_t max_bytes) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    const int error = errno;
    if (error == ENOENT) return "no such file: " + PrintableLabel(file.string());
    return "cannot read " + PrintableLabel(file.string()) + ": " + std::strerror(error);
  }
  if (!S_ISREG(st.st_mode)) return "not a regular file: " + PrintableLabel(file.string());
  if (st.st_size > max_bytes) {
    return "file is " + std::to_string(st.st_size) + " bytes, over the limit of " +
           std::to_string(max_bytes) + ": " + PrintableLabel(file.string());
  }
  return "";
}

IngestItem MakeItem(const std::string& name, const RowValues& values, const fs::path& folder,
                    const InputPathRules& rules, int64_t max_file_bytes) {
  IngestItem item;
  item.name = name;
  for (int f = 0; f < kFieldCount; ++f) {
    item.error = CheckValue(static_cast<Field>(f), values[f]);
    if (!item.error.empty()) return item;
  }
  item.error = ResolvePath(values[kPath], folder, &item.file);
  if (!item.error.empty()) return item;
  item.error = rules.Check(item.file);
  if (!item.error.empty()) return item;
  item.error = CheckFile(item.file, max_file_bytes);
  if (!item.error.empty()) return item;
  Source source;
  source.source_url = values[kSourceUrl];
  source.page_url = values[kPageUrl];
  source.title = values[kTitle];
  source.captured_at = values[kDate];
  source.published_at = values[kPublished];
  source.legal_basis = values[kLegalBasis];
  if (!source.source_url.empty() || !source.page_url.empty() || !source.title.empty() ||
      !source.captured_at.empty() || !source.published_at.empty() || !source.legal_basis.empty()) {
    item.source = std::move(source);
  }
  item.collection = values[kCollection];
  return item;
}

// nlohmann's message without its "[json.exception...] " prefix, printable
// and short (it may quote the offending input).
std::string JsonErrorMessage(const std::string& what) {
  std::string message = what;
  if (!message.empty() && message.front() == '[') {
    const size_t end = message.find("] ");
    if (end != std::string::npos) message.erase(0, end + 2);
  }
  if (message.size() > 200) message = message.substr(0, 200) + "...";
  return PrintableLabel(message);
}

const char* JsonTypeName(const nlohmann::json& value) { return value.type_name(); }

}  // namespace

ManifestInput::ManifestInput(const fs::path& path, ManifestFormat format,
                             const IngestInputOptions& options)
    : path_(path),
      label_(PrintableLabel(path.filename().string())),
      format_(format),
      options_(options) {
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec);
  if (ec) throw Error(Context(path.string(), "cannot make the path absolute: " + ec.message()));
  folder_ = absolute.lexically_normal().parent_path();
  std::vector<fs::path> allowed = options.allow_outside;
  allowed.push_back(folder_);
  rules_ = InputPathRules(allowed, options.forbidden_roots);
  if (format_ == ManifestFormat::kCsv) {
    OpenStream();
    ReadCsvHeader();
    CountCsvRows();
    OpenStream();
    ReadCsvHeader();
  } else {
    OpenStream();
    CheckJsonKeysAndCount();
    OpenStream();
  }
}

void ManifestInput::OpenStream() {
  stream_.close();
  stream_.clear();
  stream_.open(path_, std::ios::binary);
  if (!stream_) throw Error(Context(path_.string(), std::string("cannot open: ") + std::strerror(errno)));
  line_ = 1;
  static constexpr std::string_view kBom = "\xEF\xBB\xBF";
  char head[3] = {};
  const auto got = stream_.rdbuf()->sgetn(head, 3);
  if (got != 3 || std::string_view(head, 3) != kBom) stream_.rdbuf()->pubseekpos(0, std::ios::in);
}

void ManifestInput::ReadCsvHeader() {
  Cursor in(stream_.rdbuf(), &line_);
  CsvRecord header;
  bool found = false;
  while ((found = ReadCsvRecord(in, &header)) && header.Blank()) {
  }
  if (!found) {
    throw Error(Context(path_.string(), "no header row: a CSV manifest starts with a row naming "
                                        "its columns (path required; " + ValidFieldNames() + ")"));
  }
  const std::string where = path_.string() + ":" + std::to_string(header.line);
  if (!header.error.empty()) throw Error(Context(where, "header row: " + header.error));
  csv_fields_.clear();
  std::vector<bool> seen(kFieldCount, false);
  for (size_t column = 0; column < header.fields.size(); ++column) {
    std::string name = header.fields[column];
    const size_t first = name.find_first_not_of(" \t");
    const size_t last = name.find_last_not_of(" \t");
    name = first == std::string::npos ? "" : ToLowerAscii(name.substr(first, last - first + 1));
    if (name.empty()) {
      throw Error(Context(where, "column " + std::to_string(column + 1) +
                                     " has no name in the header row; " + ValidFieldNames()));
    }
    std::optional<Field> field = FieldByName(name);
    if (!field) {
      throw Error(Context(where, "unknown column " + Quoted(header.fields[column]) + "; " +
                                     ValidFieldNames()));
    }
    if (seen[*field]) throw Error(Context(where, "column " + Quoted(name) + " appears twice"));
    seen[*field] = true;
    csv_fields_.push_back(*field);
  }
  if (!seen[kPath]) {
    throw Error(Context(where, "no 'path' column in the header row (it is required); " +
                                   ValidFieldNames()));
  }
}

void ManifestInput::CountCsvRows() {
  Cursor in(stream_.rdbuf(), &line_);
  CsvRecord record;
  row_count_ = 0;
  while (ReadCsvRecord(in, &record)) {
    if (record.Blank()) continue;
    ++row_count_;
    if (!record.error.empty()) continue;  // a row error when read
    for (size_t column = 0; column < record.fields.size() && column < csv_fields_.size(); ++column) {
      if (csv_fields_[column] == kCollection) NoteCollection(record.fields[column]);
    }
  }
}

void ManifestInput::NoteCollection(const std::string& name) {
  if (name.empty() || !CheckValue(kCollection, name).empty()) return;  // a row error when read
  if (named_collections_.size() >= kMaxNamedCollections) return;
  if (std::find(named_collections_.begin(), named_collections_.end(), name) == named_collections_.end()) {
    named_collections_.push_back(name);
  }
}

void ManifestInput::CheckJsonKeysAndCount() {
  Cursor in(stream_.rdbuf(), &line_);
  std::map<std::string, int> unknown;  // key -> first line
  std::string text;
  bool too_long = false;
  row_count_ = 0;
  for (int line = in.line(); ReadLine(in, &text, &too_long); line = in.line()) {
    if (!too_long && IsBlank(text)) continue;
    ++row_count_;
    if (too_long) continue;
    const nlohmann::json row = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!row.is_object()) continue;  // a row error when read
    for (const auto& [key, value] : row.items()) {
      if (!FieldByName(key)) unknown.emplace(key, line);
      if (key == "collection" && value.is_string()) NoteCollection(value.get<std::string>());
    }
  }
  if (unknown.empty()) return;
  std::string names;
  for (const auto& [key, line] : unknown) {
    names += (names.empty() ? "" : ", ") + Quoted(key) + " (first on line " + std::to_string(line) + ")";
  }
  throw Error(Context(path_.string(), "unknown field" + std::string(unknown.size() > 1 ? "s " : " ") +
                                          names + "; " + ValidFieldNames()));
}

std::vector<std::string> ManifestInput::NamedCollections() const { return named_collections_; }

std::optional<IngestItem> ManifestInput::Next() {
  return format_ == ManifestFormat::kCsv ? NextCsvRecord() : NextJsonLine();
}

std::optional<IngestItem> ManifestInput::NextJsonLine() {
  Cursor in(stream_.rdbuf(), &line_);
  std::string text;
  bool too_long = false;
  for (int line = in.line(); ReadLine(in, &text, &too_long); line = in.line()) {
    if (!too_long && IsBlank(text)) continue;
    IngestItem item;
    item.name = label_ + ":" + std::to_string(line);
    if (too_long) {
      item.error = "line is over " + std::to_string(kMaxManifestLineBytes) + " bytes";
      return item;
    }
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      item.error = "malformed JSON: " + JsonErrorMessage(e.what());
      return item;
    }
    if (!row.is_object()) {
      item.error = std::string("not a JSON object (a ") + JsonTypeName(row) + ")";
      return item;
    }
    RowValues values;
    for (const auto& [key, value] : row.items()) {
      std::optional<Field> field = FieldByName(key);
      if (!field) {
        item.error = "unknown field " + Quoted(key) + "; " + ValidFieldNames();
        return item;
      }
      if (value.is_null()) continue;
      if (!value.is_string()) {
        item.error = "field " + Quoted(key) + " must be a string, not " + JsonTypeName(value);
        return item;
      }
      values[*field] = value.get<std::string>();
    }
    return MakeItem(item.name, values, folder_, rules_, options_.max_file_bytes);
  }
  return std::nullopt;
}

std::optional<IngestItem> ManifestInput::NextCsvRecord() {
  Cursor in(stream_.rdbuf(), &line_);
  CsvRecord record;
  while (ReadCsvRecord(in, &record)) {
    if (record.Blank()) continue;
    IngestItem item;
    item.name = label_ + ":" + std::to_string(record.line);
    if (!record.error.empty()) {
      item.error = record.error;
      return item;
    }
    if (record.fields.size() > csv_fields_.size()) {
      item.error = "row has " + std::to_string(record.fields.size()) + " fields, the header " +
                   std::to_string(csv_fields_.size());
      return item;
    }
    RowValues values;
    for (size_t column = 0; column < record.fields.size(); ++column) {
      values[csv_fields_[column]] = std::move(record.fields[column]);
    }
    return MakeItem(item.name, values, folder_, rules_, options_.max_file_bytes);
  }
  return std::nullopt;
}

std::optional<int64_t> ManifestInput::EstimatedCount() const { return row_count_; }

}  // namespace lineup

// Ingest input from a manifest: JSON lines (*.jsonl, *.ndjson: one object a
// line) or CSV (*.csv, RFC 4180, header row required) naming local image
// files and their provenance. The field names and their meaning are listed
// in ingest_input.h.
//
// Opening reads the file once: for CSV the header (unknown, duplicate or
// empty column names, or no `path` column, throw Error naming the column and
// the valid ones) and the number of rows; for JSON lines the number of rows
// and every key of every well-formed line (an unknown key throws Error naming
// it, its first line and the valid ones), so a typo fails before the job
// starts rather than on every row. A CSV file without a header row throws.
//
// Rows (each one item, in file order, named "<manifest file name>:<line>",
// the line a row starts on):
//  - Blank lines are not rows. Duplicate rows are passed through (the ingest
//    de-duplicates by content hash).
//  - Values are kept byte for byte (no trimming) once they pass the checks:
//    valid UTF-8, no NUL, at most kMaxFieldBytes; source_url and page_url
//    also without whitespace or control characters. A value failing them
//    makes the row an error naming the field. Empty values count as absent.
//  - JSON values must be strings (null = absent); a line that is not a JSON
//    object, malformed JSON and a truncated last line are row errors.
//  - CSV: fields separated by ',', records by LF or CRLF, a leading UTF-8
//    BOM dropped; a quoted field may hold ',', '""' (one quote) and line
//    breaks (kept as written); a quote inside an unquoted field is kept as a
//    character. Rows with fewer fields than the header leave the rest empty;
//    more fields than the header, text after a closing quote and a quote left
//    open at the end of the file are row errors (the last swallows the rest
//    of the file, as any CSV reader would).
//  - A line (JSON) or record (CSV) over kMaxManifestLineBytes is a row error
//    and is skipped without being held in memory.
//  - path: missing or empty -> row error. http(s) and other URL schemes ->
//    row error "not a local file: Lineup does not download". file:// URLs
//    (no host, or "localhost") are percent-decoded to an absolute path.
//    A relative path is taken relative to the manifest's folder. The file
//    must lie (symlinks resolved) inside the manifest's folder or a folder
//    of options.allow_outside, and never inside options.forbidden_roots;
//    else the row is an error naming the rule (ingest/input_paths.h).
//  - The file is checked when the row is read (decided: an early, precise
//    message beats a late generic one): a path that does not exist, is not a
//    regular file or is over max_file_bytes makes the row an error; `file` is
//    set on such items too. The ingest still handles a file that disappears
//    or fails to read later.
//  - source: set when any of source_url, page_url, title, date (->
//    captured_at), published (-> published_at), legal_basis is
//    non-empty. collection: the row's (no control characters), or "".
//  - NamedCollections(): the distinct valid collection values, read with
//    the row count on opening, so the ingest can check them before it
//    creates anything.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "ingest/ingest_input.h"
#include "ingest/input_paths.h"

namespace lineup {

enum class ManifestFormat { kJsonLines, kCsv };

// A JSON line or CSV record longer than this is a row error.
inline constexpr size_t kMaxManifestLineBytes = size_t{1} << 20;

class ManifestInput : public IngestInput {
 public:
  ManifestInput(const std::filesystem::path& path, ManifestFormat format,
                const IngestInputOptions& options);

  std::optional<IngestItem> Next() override;
  std::optional<int64_t> EstimatedCount() const override;
  std::vector<std::string> NamedCollections() const override;

 private:
  void OpenStream();
  void ReadCsvHeader();
  void CheckJsonKeysAndCount();
  void CountCsvRows();
  void NoteCollection(const std::string& name);
  std::optional<IngestItem> NextJsonLine();
  std::optional<IngestItem> NextCsvRecord();

  std::filesystem::path path_;
  std::filesystem::path folder_;  // relative paths are relative to this (absolute)
  InputPathRules rules_;          // the folder and allow_outside; never forbidden_roots
  std::string label_;             // printable file name, the prefix of item names
  ManifestFormat format_;
  IngestInputOptions options_;
  std::ifstream stream_;
  int line_ = 1;                  // line the reader is on (1-based)
  std::vector<int> csv_fields_;   // field of each CSV column
  int64_t row_count_ = 0;
  std::vector<std::string> named_collections_;  // distinct valid `collection` values, first seen first
};

}  // namespace lineup

// What `lineup ingest` reads: a folder tree, an archive (zip / tar / tar.gz /
// tar.bz2 / tar.xz) or a manifest (JSON lines, or CSV with a header row) that
// names local image files and their provenance. Local files only: a manifest
// row whose image is an http(s) URL is an error for that row ("Lineup does
// not download"), never a fetch.
//
// Where files may come from (ingest/input_paths.h): a manifest's rows only
// from the manifest's folder and the folders of `allow_outside`; no item
// ever from a forbidden root (the gallery's data directory: probe photos,
// crops, copies), whatever the input kind; symlinks are judged by their
// target.
//
// Manifest fields (JSON keys or CSV header names; unknown names are errors
// reported once for the whole manifest; only `path` is required):
//   path          local file, absolute or relative to the manifest's folder,
//                 or a file:// URL; inside the manifest's folder unless
//                 allowed by `allow_outside`
//   source_url    where the image came from
//   page_url      page it appeared on
//   title
//   date          captured / taken date (stored as given)
//   published     published date
//   collection    collection name; rows that leave it empty go to the job's
//                 (`lineup ingest --collection`); see ingest/ingest_pipeline.h
//   legal_basis   this item's legal basis (or licence); empty: the collection's
//
// Invariants:
//  - Items come out in a deterministic order (folders: sorted by path;
//    archives: member order; manifests: row order), so an interrupted job
//    re-reads the same sequence when resumed.
//  - A bad item (unreadable file, oversized member, malformed manifest row,
//    hostile string) never stops the input: it comes out with `error` set and
//    the next call goes on with the next item.
//  - Strings are kept byte for byte once they pass validation: valid UTF-8,
//    no NUL, at most kMaxFieldBytes; URLs additionally without whitespace or
//    control characters.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"

namespace lineup {

struct IngestItem {
  std::string name;            // shown in errors and stored as original_name:
                               // "dir/a.jpg", "photos.zip:dir/a.jpg", "list.csv:12"
  std::filesystem::path file;  // the local file to read (folder and manifest items) ...
  std::vector<uint8_t> bytes;  // ... or its bytes (archive members); exactly one is set
                               // unless `error` is (then either or neither may be)
  std::optional<Source> source;
  std::string collection;      // from a manifest row; "" = the job's collection
  std::string error;           // non-empty: this item is bad and why
};

struct IngestInputOptions {
  int64_t max_file_bytes = int64_t{256} << 20;     // larger images / members are errors
  int64_t max_archive_total_bytes = int64_t{64} << 30;  // stop reading an archive beyond this (zip bombs)
  // Folders a manifest's rows may name files in besides the manifest's own
  // folder (lineup ingest --allow-outside); see ingest/input_paths.h.
  std::vector<std::filesystem::path> allow_outside;
  // Folders no item may come from; RunIngest adds the gallery's data
  // directory. An input inside one (or holding one) is refused as a whole.
  std::vector<std::filesystem::path> forbidden_roots;
};

inline constexpr size_t kMaxFieldBytes = 8192;
inline constexpr size_t kMaxNamedCollections = 1000;

class IngestInput {
 public:
  virtual ~IngestInput() = default;
  // The next item, or nullopt at the end. Throws Error only when the input as
  // a whole is unusable (an archive whose structure is corrupt from the start
  // is reported as an item error if some members were already read).
  virtual std::optional<IngestItem> Next() = 0;
  // Number of items if known cheaply (folders, manifests), for progress bars.
  virtual std::optional<int64_t> EstimatedCount() const = 0;
  // The distinct collection names the items name, first seen first, as far
  // as the input knows them on opening (manifests read their rows once;
  // other inputs name none). Only names that pass validation; at most
  // kMaxNamedCollections (items naming more are still checked one by one).
  virtual std::vector<std::string> NamedCollections() const { return {}; }
};

// Picks the reader by what `path` is: a directory -> folder tree; *.jsonl /
// *.ndjson / *.csv -> manifest; an archive libarchive recognises -> archive.
// Throws Error if the path does not exist or is none of these.
std::unique_ptr<IngestInput> OpenIngestInput(const std::filesystem::path& path,
                                             const IngestInputOptions& options = {});

// True for the image file extensions ingest picks up from folders and archives
// (.jpg .jpeg .png .webp .bmp .tif .tiff .gif, any case).
bool HasImageExtension(const std::filesystem::path& path);

}  // namespace lineup

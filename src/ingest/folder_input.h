// Ingest input from a folder tree: every image file below a folder.
//
// The whole tree is walked once when the input is opened (which also gives
// an exact EstimatedCount); Next() then hands out the list.
//
// Rules:
//  - Picks up regular files whose name has an image extension
//    (HasImageExtension); other files are ignored without a word.
//  - Skips hidden entries (name starting with '.'), files and folders alike,
//    at every level below the root.
//  - Follows symbolic links (to files and to folders), but walks each folder
//    (device, inode) at most once: a link loop or a link back up the tree
//    ends there, and a folder reachable by two routes is read once. Real
//    folders are walked before linked ones, so a folder inside the tree is
//    read under its own path, never under the name of a link to it; among
//    links, the first one the walk meets wins.
//  - Order: sorted bytewise by the path relative to the root, so a resumed
//    job sees the same sequence.
// Items:
//  - name: the path relative to the root with '/' separators ("dir/a.jpg"),
//    control characters and invalid UTF-8 escaped (PrintableLabel).
//  - file: the absolute path (the root is made absolute when opened, so a
//    resumed job does not depend on the working directory).
//  - source: none. A folder carries no provenance of its own; the ingest
//    stores `name` as the image's original_name. (No sidecar files are read.)
// Item errors (the walk goes on): a subfolder that cannot be listed (item
// "dir/sub/"), a dangling or unreadable link with an image extension, an
// image-named entry that is not a regular file (FIFO, device: never opened),
// a file over max_file_bytes.
// Throws Error only if the root itself cannot be listed.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ingest/ingest_input.h"
#include "ingest/input_paths.h"

namespace lineup {

class FolderInput : public IngestInput {
 public:
  FolderInput(const std::filesystem::path& root, const IngestInputOptions& options);

  std::optional<IngestItem> Next() override;
  std::optional<int64_t> EstimatedCount() const override;

 private:
  struct Entry {
    std::string relative;  // raw bytes, the sort key
    std::filesystem::path file;
    std::string error;
  };

  void Walk(const std::filesystem::path& root, const IngestInputOptions& options);
  void AddFile(const std::string& relative, const std::filesystem::path& path,
               const struct stat& st, const IngestInputOptions& options);

  InputPathRules rules_;  // options.forbidden_roots: a file linked from inside one is an error entry
  std::vector<Entry> entries_;
  size_t next_ = 0;
};

}  // namespace lineup

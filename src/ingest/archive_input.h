// Ingest input from an archive file, read with libarchive, member by member
// and in member order, without ever writing a member to disk.
//
// Formats: zip, and tar (ustar, pax, GNU) plain or compressed with gzip,
// bzip2 or xz. Nothing else libarchive could read is enabled: not mtree
// (whose entries name files on the local disk), not filters that run
// external programs.
//
// Members:
//  - Only regular-file members whose name has an image extension are items;
//    folders, links (including tar hard links, which carry no data) and other
//    files are skipped without a word.
//  - name: "<archive file name>:<member name>", e.g. "photos.zip:dir/a.jpg".
//    Member names are labels only, never paths to open or write, so
//    "../../etc/passwd.jpg" is harmless; control characters and invalid
//    UTF-8 in them are escaped (PrintableLabel).
//  - bytes: the member's data; file is empty; source: none.
// Limits and damage (each reported as an item with `error`):
//  - A member over max_file_bytes (declared or as read) is an error item;
//    its data is skipped and the next member follows.
//  - Uncompressed member data counted over the whole archive (members read,
//    and the declared or drained size of members skipped) may not exceed
//    max_archive_total_bytes: past it comes one error item naming the
//    archive, then the end (zip bombs).
//  - An encrypted or empty (0-byte) member is an error item; the next
//    member follows.
//  - Damage libarchive cannot read past (truncation, corrupt compressed
//    stream) is one error item, then the end.
// Throws Error (from the constructor) if libarchive does not recognise the
// file as one of the formats above, or the first member header is already
// unreadable.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "ingest/ingest_input.h"

struct archive;
struct archive_entry;

namespace lineup {

class ArchiveInput : public IngestInput {
 public:
  ArchiveInput(const std::filesystem::path& path, const IngestInputOptions& options);
  ~ArchiveInput() override;

  std::optional<IngestItem> Next() override;
  // Unknown without reading the whole archive: nullopt.
  std::optional<int64_t> EstimatedCount() const override;

 private:
  IngestItem ReadMember(const std::string& label);
  // Reads and discards the rest of the current member's data, counting it
  // towards the archive total; stops early once the total is over the limit
  // or on a read error (the next header read then reports the damage).
  void Drain();
  void AddToTotal(int64_t bytes);
  bool OverTotal() const { return total_bytes_ > options_.max_archive_total_bytes; }
  IngestItem StopItem(const std::string& error);  // error item for the archive; ends it
  std::string DamageMessage() const;
  std::string LibarchiveError() const;
  void Close();

  std::string archive_label_;  // file name of the archive, used in item names
  IngestInputOptions options_;
  struct archive* archive_ = nullptr;
  struct archive_entry* entry_ = nullptr;  // owned by archive_
  int header_status_ = 0;                  // of the header read ahead, if any
  bool have_header_ = false;
  bool done_ = false;
  int consecutive_header_failures_ = 0;
  int64_t total_bytes_ = 0;   // uncompressed member bytes read or skipped so far
  int64_t members_seen_ = 0;  // member headers read
  std::string last_member_;   // label of the last member header read
};

}  // namespace lineup

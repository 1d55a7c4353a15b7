#include "ingest/archive_input.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "common/error.h"
#include "ingest/input_text.h"

namespace lineup {
namespace {

constexpr size_t kChunkBytes = size_t{64} << 10;
// A header that fails without ending the archive moves libarchive on; this
// bounds the damage a hostile archive can make us walk through.
constexpr int kMaxConsecutiveHeaderFailures = 64;

// The member's name as stored (UTF-8 if libarchive can convert it), or
// "#<n>" if it has none.
std::string MemberName(struct archive_entry* entry, int64_t index) {
  const char* name = archive_entry_pathname_utf8(entry);
  if (name == nullptr) name = archive_entry_pathname(entry);
  if (name == nullptr || *name == '\0') return std::string("#").append(std::to_string(index));
  return name;
}

int64_t DeclaredSize(struct archive_entry* entry) {
  return archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1;
}

}  // namespace

ArchiveInput::ArchiveInput(const std::filesystem::path& path, const IngestInputOptions& options)
    : archive_label_(ingest_internal::PrintableLabel(path.filename().string())), options_(options) {
  archive_ = archive_read_new();
  if (archive_ == nullptr) throw Error(Context(path.string(), "cannot create an archive reader"));
  archive_read_support_filter_gzip(archive_);
  archive_read_support_filter_bzip2(archive_);
  archive_read_support_filter_xz(archive_);
  archive_read_support_format_zip(archive_);
  archive_read_support_format_tar(archive_);
  archive_read_support_format_gnutar(archive_);
  if (archive_read_open_filename(archive_, path.c_str(), kChunkBytes) != ARCHIVE_OK) {
    const std::string why = LibarchiveError();
    Close();
    throw Error(Context(path.string(),
                        "not a folder, a manifest (.jsonl, .ndjson, .csv) or an archive Lineup "
                        "reads (zip, tar, tar.gz, tar.bz2, tar.xz): " + why));
  }
  // Read the first header now: an archive damaged from the start is unusable
  // as a whole, which the caller hears from OpenIngestInput.
  header_status_ = archive_read_next_header(archive_, &entry_);
  have_header_ = true;
  if (header_status_ == ARCHIVE_FATAL) {
    const std::string why = LibarchiveError();
    Close();
    throw Error(Context(path.string(), "damaged archive: " + why));
  }
}

ArchiveInput::~ArchiveInput() { Close(); }

void ArchiveInput::Close() {
  if (archive_ != nullptr) archive_read_free(archive_);
  archive_ = nullptr;
  entry_ = nullptr;
}

std::optional<IngestItem> ArchiveInput::Next() {
  while (!done_) {
    if (OverTotal()) return StopItem(
        "member data passes the limit of " + std::to_string(options_.max_archive_total_bytes) +
        " bytes for one archive (a zip bomb?); stopped reading after " + last_member_);
    const int status = have_header_ ? header_status_ : archive_read_next_header(archive_, &entry_);
    have_header_ = false;
    if (status == ARCHIVE_EOF) break;
    if (status == ARCHIVE_FATAL) return StopItem(DamageMessage());
    if (status == ARCHIVE_RETRY || status == ARCHIVE_FAILED) {
      if (++consecutive_header_failures_ >= kMaxConsecutiveHeaderFailures) {
        return StopItem("too many unreadable member headers in a row; stopped reading: " +
                        LibarchiveError());
      }
      if (status == ARCHIVE_RETRY) continue;
      IngestItem item;
      item.name = archive_label_ + ":#" + std::to_string(++members_seen_);
      item.error = "unreadable member header: " + LibarchiveError();
      return item;
    }
    consecutive_header_failures_ = 0;
    const std::string name = MemberName(entry_, ++members_seen_);
    const std::string label = archive_label_ + ":" + ingest_internal::PrintableLabel(name);
    last_member_ = label;
    const bool regular = archive_entry_filetype(entry_) == AE_IFREG &&
                         archive_entry_hardlink(entry_) == nullptr;
    if (regular && HasImageExtension(name)) return ReadMember(label);
    // Not ours: libarchive skips the data with the next header, which costs
    // decompressing it in a compressed tar; count it, draining it ourselves
    // when its size is not declared (streamed zip).
    const int64_t declared = DeclaredSize(entry_);
    if (declared >= 0) {
      AddToTotal(declared);
    } else {
      Drain();
    }
  }
  done_ = true;
  return std::nullopt;
}

IngestItem ArchiveInput::ReadMember(const std::string& label) {
  IngestItem item;
  item.name = label;
  const int64_t declared = DeclaredSize(entry_);
  if (archive_entry_is_encrypted(entry_)) {
    AddToTotal(declared);
    item.error = "encrypted member, not read";
    return item;
  }
  const std::string over_limit =
      " bytes, over the limit of " + std::to_string(options_.max_file_bytes);
  if (declared > options_.max_file_bytes) {
    AddToTotal(declared);
    item.error = "member is " + std::to_string(declared) + over_limit;
    return item;
  }
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(kChunkBytes);
  for (;;) {
    const la_ssize_t n = archive_read_data(archive_, chunk.data(), chunk.size());
    if (n == 0) break;
    if (n < 0) {
      if (n == ARCHIVE_FATAL) {
        done_ = true;
        item.error = "cannot read member, the archive is damaged here; stopped reading: " +
                     LibarchiveError();
      } else {
        item.error = "cannot read member: " + LibarchiveError();
      }
      return item;
    }
    AddToTotal(n);
    if (static_cast<int64_t>(bytes.size()) + n > options_.max_file_bytes) {
      Drain();
      item.error = "member is over " + std::to_string(options_.max_file_bytes) + " bytes";
      if (declared >= 0) item.error = "member is " + std::to_string(declared) + over_limit;
      return item;
    }
    if (OverTotal()) {
      done_ = true;
      item.error = "member data passes the limit of " +
                   std::to_string(options_.max_archive_total_bytes) +
                   " bytes for one archive (a zip bomb?); stopped reading here";
      return item;
    }
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
  }
  if (bytes.empty()) {
    item.error = "empty member (0 bytes)";  // no file, no bytes: say so here
    return item;
  }
  item.bytes = std::move(bytes);
  return item;
}

void ArchiveInput::Drain() {
  std::vector<uint8_t> chunk(kChunkBytes);
  while (!OverTotal()) {
    const la_ssize_t n = archive_read_data(archive_, chunk.data(), chunk.size());
    if (n <= 0) return;
    AddToTotal(n);
  }
}

void ArchiveInput::AddToTotal(int64_t bytes) {
  // Declared sizes come from the archive: saturate rather than overflow.
  if (bytes <= 0) return;
  total_bytes_ = bytes > std::numeric_limits<int64_t>::max() - total_bytes_
                     ? std::numeric_limits<int64_t>::max()
                     : total_bytes_ + bytes;
}

IngestItem ArchiveInput::StopItem(const std::string& error) {
  done_ = true;
  IngestItem item;
  item.name = archive_label_;
  item.error = error;
  return item;
}

std::string ArchiveInput::DamageMessage() const {
  const std::string where =
      last_member_.empty() ? "before the first member" : "after member " + last_member_;
  return "archive damaged " + where + "; stopped reading: " + LibarchiveError();
}

std::string ArchiveInput::LibarchiveError() const {
  const char* message = archive_ == nullptr ? nullptr : archive_error_string(archive_);
  return message == nullptr ? "unknown libarchive error"
                            : ingest_internal::PrintableLabel(message);
}

std::optional<int64_t> ArchiveInput::EstimatedCount() const { return std::nullopt; }

}  // namespace lineup

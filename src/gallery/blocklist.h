// The opt-out blocklist of a gallery: descriptors of people who asked to be
// left out. Kept apart from the catalog, in data_dir/blocklist.db (SQLite),
// so that erasing a gallery never erases the opt-outs, and holding only the
// descriptor: the submitted photo is never stored.
//
// A gallery face is blocked when its cosine similarity to an entry's
// descriptor reaches that entry's threshold. Gallery::WriteBatch drops
// blocked faces before they are written (ingest time) and Gallery::Search
// drops them from results (query time), so an entry protects the person from
// the moment Add() returns, before and whether or not the matching gallery
// faces have been removed (status kPending until RemoveOptedOutFaces in
// gallery/optout.h has run).
//
// Invariants:
//  - Every descriptor has the gallery model's size and unit length.
//  - The file records the model its descriptors come from; opening it with
//    another model throws Error (descriptors of different models cannot be
//    compared).
//  - Deleted entries leave no copy in the file (secure_delete, WAL truncated).
//  - An entry may carry the audit record it owes (owed_audit: the event as
//    JSON, its action optout_add or optout_remove) until that record is in
//    the trail; gallery/optout.h writes it, exactly once per audit_key, and
//    only then clears it (or, for optout_remove, removes the entry). So an
//    entry added or withdrawn and its record are never one without the other
//    once the owed records are settled (every removal and maintenance run
//    settles them first).
//  - Text fields are valid UTF-8 without control characters (the note may
//    hold line breaks and tabs), checked by ValidateOptOutText before anything
//    is stored.
//
// Thread safety: all methods may be called from several threads. Other
// processes may change the file: Current() and List() see their changes at
// the next call (SQLite's data_version).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace lineup {

class SqliteDb;

inline constexpr size_t kMaxOptOutRequestId = 200;  // bytes
inline constexpr size_t kMaxOptOutNote = 2000;      // bytes
// Throws InvalidArgument naming the field unless the request id is 1 to 200
// bytes and the note at most 2000, both valid UTF-8 (common/utf8.h) without
// control characters (the note may hold line breaks and tabs).
void ValidateOptOutText(const std::string& request_id, const std::string& note);

enum class OptOutStatus { kPending, kDone };
std::string ToString(OptOutStatus status);

struct OptOut {
  int64_t id = 0;
  std::string request_id;      // the request's reference (a ticket number), required
  std::string note;            // free text, e.g. how the requester's identity was checked
  std::string created_by;      // who entered it ("admin", "local:root")
  std::string created_at;      // ISO 8601 UTC, set by Add
  double threshold = 0;        // cosine similarity at which a face counts as this person
  OptOutStatus status = OptOutStatus::kPending;
  int64_t faces_removed = 0;   // gallery faces removed when it was processed
  int64_t images_removed = 0;
  std::string completed_at;    // "" while pending
  std::string audit_key;       // random; keys this entry's audit records (set by Add when empty)
  std::string owed_audit;      // the event (JSON) of a record not yet in the trail, "" when none
  std::vector<float> descriptor;  // empty in List() results
};

// The entries at one moment, immutable: what one search or one ingest batch
// checks its faces against (one refresh, then no lock per face).
class OptOutSet {
 public:
  bool empty() const { return entries_.empty(); }
  // Id of the first entry `descriptor` (dim values, unit length) matches.
  std::optional<int64_t> Match(const float* descriptor) const;

 private:
  friend class Blocklist;
  struct Entry {
    int64_t id;
    float threshold;
    std::vector<float> descriptor;
  };
  int dim_ = 0;
  std::vector<Entry> entries_;
};

class Blocklist {
 public:
  // Opens data_dir/blocklist.db for descriptors of `model_id` with `dim`
  // values. Read-only: a missing file is an empty list (and is looked for
  // again at every Current/List); otherwise the file is created when missing.
  Blocklist(const std::filesystem::path& data_dir, std::string model_id, int dim, bool read_only);
  ~Blocklist();
  Blocklist(const Blocklist&) = delete;
  Blocklist& operator=(const Blocklist&) = delete;

  // Validates (ValidateOptOutText, descriptor size, threshold in (0, 1]) and
  // stores the entry as pending, with its audit_key and owed_audit, in one
  // transaction; returns its id.
  int64_t Add(OptOut entry);
  // Sets (or with "" clears) the audit record the entry owes.
  void SetOwedAudit(int64_t id, const std::string& event_json);
  // Adds to the removal counts of a pending entry (after each committed batch).
  void AddRemoved(int64_t id, int64_t faces, int64_t images);
  // Removes an entry (a request withdrawn or entered by mistake): faces
  // matching it are no longer filtered. Returns false for an unknown id.
  bool Remove(int64_t id);
  void MarkDone(int64_t id);

  std::vector<OptOut> List();                 // ascending id, without descriptors
  std::optional<OptOut> Get(int64_t id);      // with its descriptor
  // The entries now (re-read only when another connection changed the file).
  std::shared_ptr<const OptOutSet> Current();

  const std::filesystem::path& path() const { return path_; }

 private:
  bool OpenIfPresentLocked();
  void MigrateLocked();
  std::string EntryColumnsLocked();
  void RefreshLocked();
  void RequireWritable() const;

  const std::filesystem::path path_;
  const std::string model_id_;
  const int dim_;
  const bool read_only_;
  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;     // null while a read-only open has no file yet
  int64_t data_version_ = -1;        // of current_; -1 = never loaded
  // Replaced, never changed in place: callers keep the set they got.
  std::shared_ptr<const OptOutSet> current_;
};

}  // namespace lineup

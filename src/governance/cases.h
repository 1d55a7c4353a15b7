// Cases, their probe photos, the searches run for them, the candidates each
// search showed and the investigator's decision on each candidate.
//
// Invariants:
//  - Every search belongs to a case, and every case has an owner, a number, a
//    purpose and a category: a search without them cannot be recorded.
//  - A probe photo is stored only under its case's folder
//    (<data>/cases/<case id>/<sha256>.<ext>) and goes with the case.
//  - The candidates a search showed are recorded with it (rank, face id,
//    score, band); they are what makes a gallery face visible to a user
//    (CanSeeFace), and what a decision refers to.
//  - Access rules (who may see which case) live in the service layer; this
//    class stores and retrieves.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "governance/governance_db.h"

namespace lineup {

// The purpose categories a search can be made for.
const std::vector<std::string>& CaseCategories();

struct Case {
  int64_t id = 0;
  std::string number;    // e.g. "2026/CID/00123"; unique
  std::string purpose;   // free text, required
  std::string category;  // one of CaseCategories()
  int64_t owner_id = 0;
  std::string owner;     // username
  std::string unit;      // the owner's unit when the case was opened
  int64_t created_at = 0;
  int64_t retention_days = 0;  // probe photos and results deleted this long after creation; 0 = setting
  int64_t searches = 0;        // filled by reads
};

struct NewCase {
  std::string number;
  std::string purpose;
  std::string category;
  int64_t retention_days = 0;  // 0..36500; 0 = the deployment's default
};

// What a retention run removed (or, dry, would remove) from one case.
struct CaseExpiry {
  int64_t case_id = 0;
  std::string number;
  int64_t retention_days = 0;  // in force: the case's own, else the default
  int64_t probes = 0;          // probe photos older than that
  int64_t searches = 0;        // their searches (with candidates and decisions)
};

struct ProbeFace {
  float box[4] = {0, 0, 0, 0};  // x, y, w, h in probe pixels
  float score = 0;
  // The 5 landmarks as detected (x, y each), stored exactly so that a search
  // embeds the face without detecting again; false for probes stored before
  // landmarks were kept (and for faces the detector gave none).
  bool has_landmarks = false;
  float landmarks[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
};

struct Probe {
  int64_t id = 0;
  int64_t case_id = 0;
  int64_t user_id = 0;
  std::string sha256;
  std::string stored_path;  // relative to the data directory
  int width = 0, height = 0;
  int64_t created_at = 0;
  std::vector<ProbeFace> faces;  // largest first
};

struct SearchCandidate {
  int rank = 0;
  int64_t face_id = 0;
  float score = 0;
  std::string band;
};

struct Decision {
  int64_t search_id = 0;
  int64_t face_id = 0;
  int64_t user_id = 0;
  std::string username;
  std::string decision;  // possible_match | not_a_match | inconclusive
  std::string note;
  int64_t created_at = 0;
};

struct SearchRecord {
  int64_t id = 0;
  int64_t case_id = 0;
  int64_t probe_id = 0;
  int64_t user_id = 0;
  std::string username;
  std::string client;
  int64_t created_at = 0;
  float face_box[4] = {0, 0, 0, 0};
  int top_k = 0;
  std::string index_used;
  int64_t faces_searched = 0;
  std::vector<SearchCandidate> candidates;  // by rank; loaded by GetSearch only
  int64_t candidate_count = 0;              // stored candidates, whether loaded or not
};

class Cases {
 public:
  Cases(GovernanceDb& db, std::filesystem::path data_dir);

  // Validates (number 1..64 printable characters, purpose 3..2000 bytes
  // without control characters other than newlines, a known category) and
  // throws Error with a user-fit message; number taken -> Error too.
  Case Create(const NewCase& c, int64_t owner_id, const std::string& owner, const std::string& unit);
  std::optional<Case> Get(int64_t case_id);
  // All cases when owner_id == 0 and unit empty; else the owner's, or the unit's.
  std::vector<Case> List(int64_t owner_id, const std::string& unit);

  // What a case deletion removed.
  struct Deletion {
    int64_t case_id = 0;
    int64_t probes = 0;
    int64_t searches = 0;
  };
  // Runs inside a deletion's transaction, after its rows are deleted: the
  // caller appends the audit record there (AuditLog::AppendIn), so that the
  // deletion and its record commit together; throwing rolls both back.
  using DeletionRecorder = std::function<void(SqliteDb& db, const Deletion& deletion)>;

  // Deletes the case with its probes, searches, candidates and decisions
  // and `record`s it, in one transaction; then its folder of probe photos.
  // Rows go first: a crash in between leaves a folder without a case, which
  // the constructor sweeps away. nullopt (nothing recorded) if there is no
  // such case.
  std::optional<Deletion> Delete(int64_t case_id, const DeletionRecorder& record);

  // Stores the photo bytes under the case's folder (atomically) and records
  // the probe with its detected faces. The file is written inside the row's
  // write transaction, so that ExpireProbes (which removes files of deleted
  // probes under the same lock, after checking that no row names them)
  // cannot remove the file of a re-upload of the same photo.
  Probe AddProbe(int64_t case_id, int64_t user_id, const std::vector<uint8_t>& bytes, const std::string& extension,
                 int width, int height, const std::vector<ProbeFace>& faces);
  std::optional<Probe> GetProbe(int64_t probe_id);
  std::vector<Probe> ProbesOf(int64_t case_id);
  std::filesystem::path ProbePath(const Probe& p) const { return data_dir_ / p.stored_path; }

  // Records a search with its candidates in the caller's transaction (the
  // `db` of a GovernanceDb::Write callback, so the audit record commits with
  // it). Returns the id.
  int64_t RecordSearchIn(SqliteDb& db, const SearchRecord& search);
  std::optional<SearchRecord> GetSearch(int64_t search_id);
  std::vector<SearchRecord> SearchesOf(int64_t case_id);  // without candidates, newest first
  // The newest `limit` searches (without candidates) of the owner's cases,
  // or of the unit's cases, or of all cases (owner_id 0, unit empty).
  std::vector<SearchRecord> RecentSearches(int64_t owner_id, const std::string& unit, int64_t limit);

  // Inserts or replaces the decision of this user on this candidate, in the
  // caller's transaction. Throws Error if the face was not a candidate of the
  // search or the decision is not one of the three.
  Decision RecordDecisionIn(SqliteDb& db, const Decision& decision);
  std::vector<Decision> DecisionsOf(int64_t search_id);

  // Runs inside a case's expiry transaction (its probes deleted): the
  // caller appends the audit record there; throwing rolls both back.
  using ExpiryRecorder = std::function<void(SqliteDb& db, const CaseExpiry& expiry)>;

  // Retention: deletes every probe photo older than its case's
  // retention_days (`default_days` for cases with 0; kept forever when both
  // are 0) with its searches, candidates and decisions, one transaction per
  // case with its `record`; then the files no probe row names any more,
  // each checked and removed under the write lock (a crash before that
  // leaves files ExpireProbes removes next time: files of probes that no
  // longer exist). With `dry_run`, only counts and records nothing. Cases
  // themselves stay (and their audit records, which are never deleted).
  // `now`: Unix seconds (the caller's clock, so that one retention run has
  // one "now").
  std::vector<CaseExpiry> ExpireProbes(int64_t default_days, int64_t now, bool dry_run, const ExpiryRecorder& record);

  // The cases whose searches showed this face.
  std::vector<int64_t> CasesThatShowedFace(int64_t face_id);

  GovernanceDb& db() { return db_; }

 private:
  void SweepOrphanFolders();
  void RemoveUnreferencedProbeFiles();
  void RemoveFilesNoProbeNames(const std::vector<std::string>& files);

  GovernanceDb& db_;
  std::filesystem::path data_dir_;
};

}  // namespace lineup

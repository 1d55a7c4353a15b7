// Opt-out by face: a person's descriptor goes into the blocklist (which from
// then on keeps matching faces out of ingests and search results), and every
// gallery face that matches it is removed. The photo the descriptor came from
// is the caller's to discard; nothing here sees it.
//
// Removal, for one pending entry:
//   0. the records the blocklist owes the trail are settled first (below);
//   1. an exhaustive exact scan finds every live face with similarity >= the
//      entry's threshold;
//   2. images all of whose faces matched are erased whole (one catalog
//      transaction), then the remaining matched faces (a second one) — so a
//      crash in between leaves matched faces that step 1 finds again; the
//      entry's counts grow after each batch;
//   3. the store is compacted, deleted catalog rows scrubbed;
//   4. the "optout_process" record (what was removed) is written, exactly
//      once (key "optout_process:<audit key>", governance/audit_once.h);
//   5. the entry is marked done.
// An entry still pending after a crash (or because the gallery was busy, or
// the server stopped) is finished by ProcessPendingOptOuts: `lineup optout
// process` and the maintenance job of `lineup serve` call it.
//
// An opt-out and its audit records: neither or both. The blocklist and the
// trail are different stores. Adding and withdrawing go through AddOptOut
// and WithdrawOptOut: the entry carries the record it owes (blocklist.h's
// owed_audit) in the same blocklist transaction as the change; the record is
// then written once (key "<action>:<audit key>") and the debt cleared (a
// withdrawn entry is removed only after its record is in the trail). A crash
// in between leaves the debt, which SettleOwedOptOutRecords pays: every
// removal and maintenance run calls it first. The removal's record is
// written before the entry is marked done, so a resumed removal writes it
// once (step 4). A crash between a batch's catalog commit and the count's
// update leaves that batch out of the counts (the faces are gone either
// way).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gallery/blocklist.h"
#include "gallery/gallery.h"

namespace lineup {

// The default threshold: the model's "strong" score band (a false match
// rate of 1e-4 per comparison), so that an opt-out removes few faces of
// other people; in a gallery of N faces, about N x 1e-4 of them may still
// reach it. Throws Error for a model without measured thresholds (the caller
// must then give one).
double DefaultOptOutThreshold(const std::string& model_id);

// How opt-outs reach the audit trail.
struct OptOutAudit {
  // Who acts (governance/audit_once.h's AuditEventJson); its action and
  // details are set per record.
  nlohmann::json actor;
  // Writes an event once per key (AuditOnce::Recorder); true if it wrote.
  std::function<bool(const std::string& key, const nlohmann::json& event)> record;
};

struct OptOutPreview {
  std::vector<FaceMatch> matches;      // best first
  std::vector<int64_t> whole_images;   // images every face of which matched (erased whole)
};

// What RemoveOptedOutFaces would remove for this descriptor (a dry run).
OptOutPreview PreviewOptOut(Gallery& gallery, const std::vector<float>& descriptor, double threshold);

// Stores the entry (pending) carrying its "optout_add" record (details:
// `details` plus id, request_id, threshold), then writes the record and
// clears the debt. Returns the id. Validation errors (blocklist.h) store
// nothing.
int64_t AddOptOut(Blocklist& blocklist, OptOut entry, const nlohmann::json& details, const OptOutAudit& audit);
// Withdraws entry `id`: settles its debts, stores its "optout_remove"
// record (details plus id, request_id) as owed, writes it, then removes the
// entry. False for an unknown id.
bool WithdrawOptOut(Blocklist& blocklist, int64_t id, const nlohmann::json& details, const OptOutAudit& audit);
// Writes every record the blocklist owes, once each, and clears the debts
// (removing withdrawn entries). Returns how many records it wrote.
int64_t SettleOwedOptOutRecords(Blocklist& blocklist, const OptOutAudit& audit);

// Where a removal is, for a job's progress.
struct RemovalProgress {
  std::string phase;         // "scanning", "removing", "compacting", "recording", "recorded", "done"
  int64_t faces_total = 0;   // live faces when the removal began
  int64_t faces_scanned = 0; // of those, compared with the descriptor so far
  int64_t faces_removed = 0; // by this run
  int64_t images_removed = 0;
};

struct RemovalControl {
  // Called at each phase change; throwing ends the removal there (the entry
  // stays pending: a crash, for tests).
  std::function<void(const RemovalProgress&)> progress;
  // Asked between steps; true ends the removal, entry pending (a server
  // stopping). The maintenance job or `optout process` finishes it.
  std::function<bool()> stop_requested;
};

// Steps 0-5 above for entry `id` of the gallery's blocklist (writable).
// nullopt when stopped before the end.
std::optional<DeletionReport> RemoveOptedOutFaces(Gallery& gallery, Blocklist& blocklist, int64_t id,
                                                  const OptOutAudit& audit, const RemovalControl& control = {});

struct ProcessedOptOut {
  int64_t id = 0;
  std::string request_id;
  DeletionReport removed;
};
// Settles the owed records, then runs RemoveOptedOutFaces for every pending
// entry, oldest first.
std::vector<ProcessedOptOut> ProcessPendingOptOuts(Gallery& gallery, const OptOutAudit& audit);

}  // namespace lineup

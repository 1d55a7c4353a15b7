#include "gallery/optout.h"

#include <algorithm>
#include <map>
#include <unordered_set>

#include "common/error.h"
#include "gallery/score_band.h"

namespace lineup {

namespace {

constexpr size_t kMatchesPerScan = 10000;  // a scan is repeated until it finds fewer

void RequireRecorder(const OptOutAudit& audit) {
  if (!audit.record) throw Error("opt-out: no audit recorder given (opt-outs are always audited)");
}

// The actor's event for `action` with `details`.
nlohmann::json EventOf(const nlohmann::json& actor, const std::string& action, const nlohmann::json& details) {
  nlohmann::json event = actor.is_object() ? actor : nlohmann::json::object();
  event["action"] = action;
  event["details"] = details.is_object() ? details : nlohmann::json::object();
  return event;
}

// Writes the record entry `e` owes (once per key) and clears the debt; a
// withdrawal's entry goes only now.
bool Settle(Blocklist& blocklist, const OptOut& e, const OptOutAudit& audit) {
  if (e.owed_audit.empty()) return false;
  nlohmann::json event = nlohmann::json::parse(e.owed_audit, nullptr, false);
  if (!event.is_object() || !event.contains("action") || !event["action"].is_string()) {
    throw Error("opt-out " + std::to_string(e.id) + ": the audit record it owes is unreadable");
  }
  const std::string action = event["action"].get<std::string>();
  const bool wrote = audit.record(action + ":" + e.audit_key, event);
  if (action == "optout_remove") {
    blocklist.Remove(e.id);
  } else {
    blocklist.SetOwedAudit(e.id, "");
  }
  return wrote;
}

void Report(const RemovalControl& control, RemovalProgress& progress, const std::string& phase) {
  progress.phase = phase;
  if (control.progress) control.progress(progress);
}

bool Stopping(const RemovalControl& control) { return control.stop_requested && control.stop_requested(); }

// Step 4: what the entry's runs removed, written once.
void RecordRemoval(Blocklist& blocklist, const OptOut& entry, const OptOutAudit& audit) {
  std::optional<OptOut> now = blocklist.Get(entry.id);
  const OptOut& counted = now ? *now : entry;
  audit.record("optout_process:" + entry.audit_key,
               EventOf(audit.actor, "optout_process",
                       {{"id", entry.id}, {"request_id", entry.request_id}, {"faces_removed", counted.faces_removed},
                        {"images_removed", counted.images_removed}}));
}

}  // namespace

double DefaultOptOutThreshold(const std::string& model_id) {
  BandThresholds bands = BandThresholdsFor(model_id);
  if (!bands.calibrated) {
    throw Error(model_id + " has no measured score thresholds: give the opt-out threshold explicitly");
  }
  return bands.strong;
}

OptOutPreview PreviewOptOut(Gallery& gallery, const std::vector<float>& descriptor, double threshold) {
  OptOutPreview preview;
  preview.matches = gallery.FindMatches(descriptor, static_cast<float>(threshold), kMatchesPerScan);
  std::vector<int64_t> ids;
  for (const FaceMatch& m : preview.matches) ids.push_back(m.face_id);
  std::unordered_set<int64_t> matched(ids.begin(), ids.end());
  std::map<int64_t, bool> image_all_matched;
  for (const FaceProvenance& p : gallery.catalog().DescribeFaces(ids)) {
    if (image_all_matched.count(p.image.id)) continue;
    bool all = true;
    for (const FaceRecord& f : gallery.catalog().FacesOfImage(p.image.id)) all = all && matched.count(f.id) > 0;
    image_all_matched[p.image.id] = all;
  }
  for (const auto& [image, all] : image_all_matched) {
    if (all) preview.whole_images.push_back(image);
  }
  return preview;
}

int64_t AddOptOut(Blocklist& blocklist, OptOut entry, const nlohmann::json& details, const OptOutAudit& audit) {
  RequireRecorder(audit);
  ValidateOptOutText(entry.request_id, entry.note);  // before the details are serialised
  nlohmann::json d = details.is_object() ? details : nlohmann::json::object();
  d["request_id"] = entry.request_id;
  d["threshold"] = entry.threshold;
  entry.owed_audit = EventOf(audit.actor, "optout_add", d).dump();
  const int64_t id = blocklist.Add(entry);
  std::optional<OptOut> stored = blocklist.Get(id);
  if (!stored) throw Error("opt-out " + std::to_string(id) + " vanished as it was added");
  // The id is known only now; the key (audit_key) was fixed with the row.
  nlohmann::json event = nlohmann::json::parse(stored->owed_audit);
  event["details"]["id"] = id;
  blocklist.SetOwedAudit(id, event.dump());
  stored->owed_audit = event.dump();
  Settle(blocklist, *stored, audit);
  return id;
}

bool WithdrawOptOut(Blocklist& blocklist, int64_t id, const nlohmann::json& details, const OptOutAudit& audit) {
  RequireRecorder(audit);
  std::optional<OptOut> e = blocklist.Get(id);
  if (!e) return false;
  if (!e->owed_audit.empty()) {  // an earlier debt first, so that the trail keeps the order
    Settle(blocklist, *e, audit);
    e = blocklist.Get(id);
    if (!e) return true;  // it owed its own withdrawal, now done
  }
  nlohmann::json d = details.is_object() ? details : nlohmann::json::object();
  d["id"] = id;
  d["request_id"] = e->request_id;
  e->owed_audit = EventOf(audit.actor, "optout_remove", d).dump();
  blocklist.SetOwedAudit(id, e->owed_audit);
  Settle(blocklist, *e, audit);
  return true;
}

int64_t SettleOwedOptOutRecords(Blocklist& blocklist, const OptOutAudit& audit) {
  RequireRecorder(audit);
  int64_t written = 0;
  for (const OptOut& e : blocklist.List()) {
    if (Settle(blocklist, e, audit)) ++written;
  }
  return written;
}

std::optional<DeletionReport> RemoveOptedOutFaces(Gallery& gallery, Blocklist& blocklist, int64_t id,
                                                  const OptOutAudit& audit, const RemovalControl& control) {
  RequireRecorder(audit);
  SettleOwedOptOutRecords(blocklist, audit);
  std::optional<OptOut> entry = blocklist.Get(id);
  if (!entry) throw NotFound("opt-out " + std::to_string(id) + " does not exist");
  DeletionReport total;
  RemovalProgress progress;
  progress.faces_total = static_cast<int64_t>(gallery.LiveFaces());
  while (true) {
    if (Stopping(control)) return std::nullopt;
    Report(control, progress, "scanning");
    OptOutPreview preview = PreviewOptOut(gallery, entry->descriptor, entry->threshold);
    progress.faces_scanned = progress.faces_total;  // one scan compares every live face
    if (preview.matches.empty()) break;
    Report(control, progress, "removing");
    DeletionReport images = gallery.DeleteImages(preview.whole_images);
    std::vector<int64_t> faces;
    for (const FaceMatch& m : preview.matches) faces.push_back(m.face_id);
    DeletionReport rest = gallery.DeleteFaces(faces);  // faces already gone with their images are skipped
    blocklist.AddRemoved(id, images.faces + rest.faces, images.images);
    total.images += images.images;
    total.faces += images.faces + rest.faces;
    progress.faces_removed = total.faces;
    progress.images_removed = total.images;
    if (preview.matches.size() < kMatchesPerScan) break;
  }
  if (Stopping(control)) return std::nullopt;
  Report(control, progress, "compacting");
  if (total.faces > 0 || entry->faces_removed > 0) gallery.Compact();  // also after a crash before compaction
  gallery.catalog().ScrubDeletedRows();
  Report(control, progress, "recording");
  RecordRemoval(blocklist, *entry, audit);
  Report(control, progress, "recorded");
  blocklist.MarkDone(id);
  Report(control, progress, "done");
  return total;
}

std::vector<ProcessedOptOut> ProcessPendingOptOuts(Gallery& gallery, const OptOutAudit& audit) {
  SettleOwedOptOutRecords(gallery.blocklist(), audit);
  std::vector<ProcessedOptOut> done;
  for (const OptOut& e : gallery.blocklist().List()) {
    if (e.status != OptOutStatus::kPending) continue;
    std::optional<DeletionReport> removed = RemoveOptedOutFaces(gallery, gallery.blocklist(), e.id, audit);
    if (removed) done.push_back({e.id, e.request_id, *removed});
  }
  return done;
}

}  // namespace lineup

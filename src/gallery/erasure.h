// Erasure and takedown: deleting everything the gallery derived from a named
// part of it (catalog rows, descriptors, crops, image copies), then
// reclaiming the space so that no copy of the bytes stays in its files.
//
// An erasure runs in durable steps:
//   1. a journal file (data_dir/erasures/<id>.json) names the selector;
//   2. ONE catalog transaction deletes every matching image with its faces
//      and sources: before it the erasure has not happened, after it no
//      matching face can be returned by any search in any process (searches
//      describe candidates from the catalog; this process's live set is
//      cleared right after);
//   3. crops and image copies are removed;
//   4. the vector store is compacted (and the approximate index rebuilt),
//      the catalog scrubs its deleted rows;
//   5. the audit record the erasure owes is written, exactly once (keyed
//      "erasure:<journal id>", governance/audit_once.h);
//   6. the journal is removed, and only then is success reported.
// A crash anywhere leaves the journal; ResumeErasures (run first by every
// `lineup erase`, and by the maintenance job of `lineup serve`) repeats the
// steps, which are idempotent, and sweeps media orphaned by the crash.
//
// The erasure and its audit record: neither or both. The journal, written
// before anything is deleted, carries the audit event (who, why, what) and
// the planned counts; the record is written from it before the journal
// goes. So once the catalog commit (step 2) has happened, the record is
// either in the trail or still in the journal, and the resumed erasure
// writes it; a crash after step 5 makes the resumed run find the key taken
// and write nothing: one record per erasure. Before step 1, neither exists.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "gallery/gallery.h"

namespace lineup {

enum class EraseBy {
  kImage,           // value: image id
  kSourceUrl,       // value: the exact source or page URL
  kDomain,          // value: a host name; matches it and its subdomains, in source or page URLs
  kUrlPrefix,       // value: source or page URLs starting with it (byte prefix)
  kCollection,      // value: collection name; the collection itself goes too
  kJob,             // value: ingest job id
  kIngestedBefore,  // value: collection name, `before`: ISO 8601 UTC cut-off (retention)
};
std::string ToString(EraseBy by);
EraseBy EraseByFromString(const std::string& text);  // throws Error listing the choices

struct ErasureSelector {
  ErasureSelector(EraseBy by_ = EraseBy::kImage, std::string value_ = "", std::string before_ = "")
      : by(by_), value(std::move(value_)), before(std::move(before_)) {}
  EraseBy by;
  std::string value;
  std::string before;  // kIngestedBefore only
  std::string Describe() const;  // "domain example.org", for messages and the audit trail
};

struct ErasurePlan {
  ErasureSelector selector;
  std::vector<int64_t> image_ids;  // ascending
  int64_t faces = 0;
  std::optional<Collection> collection;  // kCollection: the collection row that goes too
};

struct ErasureReport {
  std::string id;  // the journal's id (names its audit record's key)
  ErasureSelector selector;
  DeletionReport deleted;
  int64_t bytes_reclaimed = 0;
  bool resumed = false;  // an erasure an earlier, interrupted run had begun
};

// The audit record an erasure owes and how to write it.
struct ErasureAudit {
  // The event as governance/audit_once.h's AuditEventJson gives it; its
  // details are completed with erasure_id, images, faces, bytes_reclaimed
  // and resumed.
  nlohmann::json event;
  // Writes an event once per key (AuditOnce::Recorder); true if it wrote.
  std::function<bool(const std::string& key, const nlohmann::json& event)> record;
};

// Stages an erasure passes, for tests that stop it on the way (a crash).
struct ErasureHooks {
  // "journaled", "committed", "compacted", "recorded" (the audit record is written, the journal not yet removed)
  std::function<void(const std::string& stage)> after_stage;
};

// What the selector names now. Throws Error for a selector that cannot name
// anything (empty value, malformed id or host, unknown collection or job).
ErasurePlan PlanErasure(Gallery& gallery, const ErasureSelector& selector);
// Throws the Error Erase throws for a plan that names nothing, so that a dry
// run fails exactly where the real run would.
void RequireMatches(const ErasurePlan& plan);

// Erases what the selector names (steps above) and writes `audit`'s record.
// Throws Error, erasing nothing, if it names nothing or `audit` has no
// recorder. Needs a gallery opened for writing.
ErasureReport Erase(Gallery& gallery, const ErasureSelector& selector, const ErasureAudit& audit,
                    const ErasureHooks& hooks = {});
// The same for a plan PlanErasure has just made (not resolved again).
ErasureReport Erase(Gallery& gallery, const ErasurePlan& plan, const ErasureAudit& audit,
                    const ErasureHooks& hooks = {});

// Erasures begun and not finished (their journals), oldest first.
std::vector<ErasureSelector> PendingErasures(const std::filesystem::path& data_dir);
// Whether there is one (without reading the journals).
bool HasUnfinishedErasures(const std::filesystem::path& data_dir);
// Finishes every pending erasure, writing the audit record each journal
// carries through `audit.record` (a journal of an older Lineup, without one,
// is recorded as `audit.event`), and returns their reports; a resumed
// report's images and faces are the journal's planned counts (what the
// erasure deleted over all its runs).
std::vector<ErasureReport> ResumeErasures(Gallery& gallery, const ErasureAudit& audit);

// The host of a URL ("https://user@Photos.Example.org:8443/x" -> "photos.example.org"), "" if none.
std::string UrlHost(const std::string& url);

}  // namespace lineup

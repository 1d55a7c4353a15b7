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
//   5. the journal is removed, and only then is success reported.
// A crash anywhere leaves the journal; ResumeErasures (run first by every
// `lineup erase`, and by the maintenance job of `lineup serve`) repeats the
// steps, which are idempotent, and sweeps media orphaned by the crash.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
  ErasureSelector selector;
  DeletionReport deleted;
  int64_t bytes_reclaimed = 0;
  bool resumed = false;  // an erasure an earlier, interrupted run had begun
};

// Stages an erasure passes, for tests that stop it on the way (a crash).
struct ErasureHooks {
  std::function<void(const std::string& stage)> after_stage;  // "journaled", "committed", "compacted"
};

// What the selector names now. Throws Error for a selector that cannot name
// anything (empty value, malformed id or host, unknown collection or job).
ErasurePlan PlanErasure(Gallery& gallery, const ErasureSelector& selector);

// Erases what the selector names (steps above). Throws Error, erasing
// nothing, if it names nothing. Needs a gallery opened for writing.
ErasureReport Erase(Gallery& gallery, const ErasureSelector& selector, const ErasureHooks& hooks = {});
// The same for a plan PlanErasure has just made (not resolved again).
ErasureReport Erase(Gallery& gallery, const ErasurePlan& plan, const ErasureHooks& hooks = {});

// Erasures begun and not finished (their journals), oldest first.
std::vector<ErasureSelector> PendingErasures(const std::filesystem::path& data_dir);
// Whether there is one (without reading the journals).
bool HasUnfinishedErasures(const std::filesystem::path& data_dir);
// Finishes every pending erasure and returns their reports.
std::vector<ErasureReport> ResumeErasures(Gallery& gallery);

// The host of a URL ("https://user@Photos.Example.org:8443/x" -> "photos.example.org"), "" if none.
std::string UrlHost(const std::string& url);

}  // namespace lineup

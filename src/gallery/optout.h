// Opt-out by face: a person's descriptor goes into the blocklist (which from
// then on keeps matching faces out of ingests and search results), and every
// gallery face that matches it is removed. The photo the descriptor came from
// is the caller's to discard; nothing here sees it.
//
// Removal, for one pending entry:
//   1. an exhaustive exact scan finds every live face with similarity >= the
//      entry's threshold;
//   2. images all of whose faces matched are erased whole (one catalog
//      transaction), then the remaining matched faces (a second one) — so a
//      crash in between leaves matched faces that step 1 finds again;
//   3. the store is compacted, deleted catalog rows scrubbed, and the entry
//      marked done with what was removed.
// An entry still pending after a crash (or because the gallery was busy) is
// finished by ProcessPendingOptOuts: `lineup optout process` and the
// maintenance job of `lineup serve` call it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gallery/blocklist.h"
#include "gallery/gallery.h"

namespace lineup {

// The default threshold: the model's "strong" score band (a false match
// rate of 1e-4 per comparison), so that an opt-out removes few faces of
// other people; in a gallery of N faces, about N x 1e-4 of them may still
// reach it. Throws Error for a model without measured thresholds (the caller
// must then give one).
double DefaultOptOutThreshold(const std::string& model_id);

struct OptOutPreview {
  std::vector<FaceMatch> matches;      // best first
  std::vector<int64_t> whole_images;   // images every face of which matched (erased whole)
};

// What RemoveOptedOutFaces would remove for this descriptor (a dry run).
OptOutPreview PreviewOptOut(Gallery& gallery, const std::vector<float>& descriptor, double threshold);

// Steps 1-3 above for entry `id` of the gallery's blocklist (writable).
DeletionReport RemoveOptedOutFaces(Gallery& gallery, Blocklist& blocklist, int64_t id);

struct ProcessedOptOut {
  int64_t id = 0;
  std::string request_id;
  DeletionReport removed;
};
// Runs RemoveOptedOutFaces for every pending entry, oldest first.
std::vector<ProcessedOptOut> ProcessPendingOptOuts(Gallery& gallery);

}  // namespace lineup

#include "gallery/optout.h"

#include <algorithm>
#include <map>
#include <unordered_set>

#include "common/error.h"
#include "gallery/score_band.h"

namespace lineup {

namespace {

constexpr size_t kMatchesPerScan = 10000;  // a scan is repeated until it finds fewer

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

DeletionReport RemoveOptedOutFaces(Gallery& gallery, Blocklist& blocklist, int64_t id) {
  std::optional<OptOut> entry = blocklist.Get(id);
  if (!entry) throw NotFound("opt-out " + std::to_string(id) + " does not exist");
  DeletionReport total;
  while (true) {
    OptOutPreview preview = PreviewOptOut(gallery, entry->descriptor, entry->threshold);
    if (preview.matches.empty()) break;
    DeletionReport images = gallery.DeleteImages(preview.whole_images);
    std::vector<int64_t> faces;
    for (const FaceMatch& m : preview.matches) faces.push_back(m.face_id);
    DeletionReport rest = gallery.DeleteFaces(faces);  // faces already gone with their images are skipped
    total.images += images.images;
    total.faces += images.faces + rest.faces;
    if (preview.matches.size() < kMatchesPerScan) break;
  }
  if (total.faces > 0) gallery.Compact();
  gallery.catalog().ScrubDeletedRows();
  blocklist.MarkDone(id, total.faces, total.images);
  return total;
}

std::vector<ProcessedOptOut> ProcessPendingOptOuts(Gallery& gallery) {
  std::vector<ProcessedOptOut> done;
  for (const OptOut& e : gallery.blocklist().List()) {
    if (e.status != OptOutStatus::kPending) continue;
    done.push_back({e.id, e.request_id, RemoveOptedOutFaces(gallery, gallery.blocklist(), e.id)});
  }
  return done;
}

}  // namespace lineup

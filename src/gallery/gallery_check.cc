// Gallery::Check: do catalog, vector store and media folder agree?
#include <mutex>
#include <set>

#include "common/error.h"
#include "common/progress.h"
#include "gallery/gallery.h"

namespace lineup {

namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxProblemLines = 50;

void Note(CheckReport& report, const std::string& problem) {
  if (report.problems.size() < kMaxProblemLines) report.problems.push_back(problem);
}

// media/images/<collection id>/<sha256>.<ext> -> (collection id, sha256); false if not that shape.
bool ParseImageCopyPath(const fs::path& relative, int64_t* collection_id, std::string* sha) {
  auto it = relative.begin();
  if (relative.empty() || std::distance(relative.begin(), relative.end()) != 2) return false;
  try {
    *collection_id = std::stoll(it->string());
  } catch (...) {
    return false;
  }
  *sha = (++it)->stem().string();
  return sha->size() == 64;
}

}  // namespace

CheckReport Gallery::Check(bool repair, bool show_progress) {
  CheckReport report;
  if (repair && options_.read_only) throw Error("gallery opened read-only: cannot repair");
  // 1. Every store record intact.
  std::unique_ptr<Progress> progress;
  if (show_progress) progress = std::make_unique<Progress>("checking vectors", static_cast<int64_t>(store_->size()));
  size_t last = 0;
  std::vector<size_t> bad = store_->Verify([&](size_t done, size_t) {
    if (progress) progress->Advance(static_cast<int64_t>(done - last));
    last = done;
  });
  if (progress) progress->Finish();
  report.bad_records = static_cast<int64_t>(bad.size());
  for (size_t slot : bad) Note(report, "vector record at slot " + std::to_string(slot) + " fails its checksum");

  // 2. Catalog faces vs store records (two ascending id sequences).
  size_t n = store_->size(), slot = 0;
  std::vector<int64_t> faces_without_vector;
  std::set<size_t> bad_slots(bad.begin(), bad.end());
  catalog_->ForEachFace([&](int64_t face_id, int64_t) {
    ++report.catalog_faces;
    while (slot < n && store_->id(slot) < face_id) {
      ++report.orphan_vectors;
      ++slot;
    }
    if (slot < n && store_->id(slot) == face_id) {
      if (bad_slots.count(slot)) faces_without_vector.push_back(face_id);
      ++slot;
    } else {
      faces_without_vector.push_back(face_id);
    }
    if (!fs::exists(CropPath(face_id))) {
      ++report.missing_media;
      Note(report, "face " + std::to_string(face_id) + ": crop file missing");
    }
  });
  report.orphan_vectors += static_cast<int64_t>(n - std::min(n, slot));
  report.store_records = static_cast<int64_t>(n);
  report.faces_without_vector = static_cast<int64_t>(faces_without_vector.size());
  for (int64_t id : faces_without_vector) Note(report, "face " + std::to_string(id) + " has no valid descriptor");
  {
    std::shared_lock lock(mutex_);
    report.live_faces = static_cast<int64_t>(live_count_);
  }

  // 3. Image copies: every file named by the catalog, no file nobody names.
  std::vector<fs::path> orphan_files;
  fs::path images_dir = options_.data_dir / "media" / "images";
  std::error_code ec;
  if (fs::exists(images_dir)) {
    for (auto it = fs::recursive_directory_iterator(images_dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      int64_t collection_id = 0;
      std::string sha;
      fs::path relative = fs::relative(it->path(), images_dir);
      bool named = ParseImageCopyPath(relative, &collection_id, &sha) &&
                   catalog_->FindImageByHash(collection_id, sha).has_value();
      if (!named) orphan_files.push_back(it->path());
    }
  }
  fs::path crops_dir = options_.data_dir / "media" / "crops";
  if (fs::exists(crops_dir)) {
    for (auto it = fs::recursive_directory_iterator(crops_dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      int64_t face_id = 0;
      try {
        face_id = std::stoll(it->path().stem().string());
      } catch (...) {
        orphan_files.push_back(it->path());
        continue;
      }
      std::optional<size_t> s = store_->FindSlot(face_id);
      std::shared_lock lock(mutex_);
      bool live = s && *s < live_slots_ && ((live_[*s / 64] >> (*s % 64)) & 1u);
      if (!live) orphan_files.push_back(it->path());
    }
  }
  report.orphan_media = static_cast<int64_t>(orphan_files.size());

  if (repair) {
    if (!faces_without_vector.empty()) DeleteFaces(faces_without_vector);
    for (const fs::path& p : orphan_files) fs::remove(p, ec);
    if (report.orphan_vectors > 0 || report.bad_records > 0) Compact();
  }
  return report;
}

}  // namespace lineup

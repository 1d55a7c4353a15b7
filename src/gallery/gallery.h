// Gallery: the catalog (source of truth), the vector store (descriptors), an
// optional approximate index and the media folder (image copies and face
// crops) of one data directory, kept consistent with each other.
//
// Data directory layout:
//   catalog.db             SQLite catalog (unless a PostgreSQL location is given)
//   vectors.lvs            VectorStore: one record per face, id = face id
//   index/<kind>.idx       approximate index over the store (rebuildable)
//   blocklist.db           opt-out descriptors (gallery/blocklist.h)
//   erasures/              journals of erasures in progress (gallery/erasure.h)
//   media/images/<collection id>/<sha256>.<ext>   copy of every ingested image
//   media/crops/<face id / 10000>/<face id>.jpg    face thumbnail for display
//
// Invariants (what makes kill -9 safe at any moment):
//  - Write order for a batch of images: media files (atomic renames) ->
//    vectors appended and fsynced -> one catalog transaction. A crash before
//    the commit leaves orphan files and vector records that no catalog row
//    names: they are never searchable (the live set is built from the
//    catalog) and Check() / Compact() clean them. The catalog never names a
//    face without its vector.
//  - A face is searchable iff its id is in the catalog and its slot is live.
//    Deletion commits in the catalog first, then clears live bits under the
//    lock, then removes media files; a search that starts after a delete
//    call returns never sees the deleted faces.
//  - A face matching the opt-out blocklist is never written (WriteBatch
//    drops it) and never returned (Search drops it), whether or not it was
//    written before the opt-out.
//  - One embedder model per gallery: its id and descriptor size are stored
//    in the catalog settings at creation and checked at every open.
//
// Thread safety: the readers (Search, FindMatches, DescribeVisibleFaces,
// Stats, LiveFaces) may run in any number of threads concurrently with one
// writer thread (WriteBatch, the deletes, Compact, BuildIndex, Check); writers
// are not concurrent with each other. Store slots are renumbered by
// Compact(), so a reader turns slots into face ids under the shared lock it
// searched under, and Compact() swaps the store and the live set under the
// exclusive one. Only one process may open a data directory for writing (the
// vector store's file lock); any number may open it read-only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "catalog/catalog.h"
#include "gallery/blocklist.h"
#include "gallery/score_band.h"
#include "index/vector_index.h"
#include "index/vector_store.h"

namespace lineup {

struct GalleryOptions {
  std::filesystem::path data_dir;
  std::string catalog;          // "" = data_dir/catalog.db; or a PostgreSQL connection string
  bool read_only = false;
  // Index used above exact_limit live faces ("Flat" = always exact). Chosen
  // by bench/vector_index_bench.cc on 10M synthetic face-like descriptors:
  // recall@10 0.995 against exact search with a 400 shortlist, ~23 ms p50 on
  // 2 cores, 56 bytes of RAM per face (docs/PERFORMANCE.md).
  std::string approximate_index = "IVF4096,PQ48,nprobe=512";
  size_t exact_limit = 2'000'000;
  size_t shortlist = 400;       // approximate candidates re-scored exactly per search
};

// The embedder a gallery is bound to.
struct GalleryModel {
  std::string model_id;
  int dim = 0;
};

// The longest candidate list any search gives (CLI, API and web app alike):
// a reviewer works through leads, not a ranking of the whole gallery.
inline constexpr size_t kMaxCandidates = 100;

struct SearchQuery {
  std::vector<float> descriptor;        // unit length, GalleryModel::dim
  size_t top_k = 20;                    // 1..kMaxCandidates
  std::vector<std::string> collections; // empty = all
  float min_score = -1.f;
};

struct Candidate {
  int rank = 0;                 // 1-based
  float score = 0;              // exact cosine similarity
  ScoreBand band = ScoreBand::kUnlikely;
  FaceProvenance provenance;
  std::filesystem::path crop_path;   // "" if the crop file is missing
};

struct SearchResult {
  std::vector<Candidate> candidates;
  std::string index_used;       // "Flat" or the approximate factory string
  size_t faces_searched = 0;    // live faces in the searched collections (or all)
};

// One analysed image ready to be written (the ingest pipeline makes these).
struct AnalyzedImage {
  ImageWrite write;                            // image + source; faces without ids
  std::vector<std::vector<float>> descriptors; // one per face in write.faces
  std::vector<std::vector<uint8_t>> crops;     // JPEG bytes, one per face
  std::vector<uint8_t> image_bytes;            // original file bytes (copied into media/)
  std::string image_extension;                 // ".jpg", ...
};

// What WriteBatch wrote, and what the blocklist kept out.
struct WriteResult {
  std::vector<int64_t> image_ids;  // of the images written, in order
  int64_t faces_opted_out = 0;     // faces dropped because they match an opt-out
  int64_t images_opted_out = 0;    // images dropped because every face in them did
};

// A gallery face at or above a similarity threshold.
struct FaceMatch {
  int64_t face_id = 0;
  float score = 0;
};

struct DeletionReport {
  int64_t faces = 0;
  int64_t images = 0;
};

struct CheckReport {
  int64_t catalog_faces = 0;
  int64_t store_records = 0;
  int64_t live_faces = 0;
  int64_t orphan_vectors = 0;        // store records no catalog face names (harmless; compaction drops them)
  int64_t faces_without_vector = 0;  // catalog faces with no store record (damage)
  int64_t bad_records = 0;           // store records failing their CRC (damage)
  int64_t missing_media = 0;         // image copies or crops the catalog names but are missing
  int64_t orphan_media = 0;          // media files no catalog row names
  std::vector<std::string> problems; // human-readable, one per finding (capped)
  bool ok() const { return faces_without_vector == 0 && bad_records == 0 && missing_media == 0; }
};

struct GalleryStats {
  CatalogStats catalog;
  GalleryModel model;
  size_t store_records = 0;
  size_t live_faces = 0;
  size_t store_file_bytes = 0;
  std::string index;                 // index in use for searches
  size_t index_memory_bytes = 0;
};

class Gallery {
 public:
  // Opens (creating when missing and not read-only) the gallery in
  // options.data_dir. `model` is the embedder of the caller: a new gallery is
  // bound to it; an existing one must match it (Error otherwise, naming both).
  // A read-only open of a missing gallery throws Error.
  static std::unique_ptr<Gallery> Open(const GalleryOptions& options, const GalleryModel& model);
  ~Gallery();

  Catalog& catalog() { return *catalog_; }
  Blocklist& blocklist() { return *blocklist_; }
  const GalleryModel& model() const { return model_; }
  const GalleryOptions& options() const { return options_; }
  // Problems noticed at open that do not stop the gallery from working
  // (a stale approximate index, catalog faces without a descriptor).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // --- writing
  // Writes the images (media, vectors, catalog). Faces that match the
  // blocklist are first removed from `images` (with their descriptors and
  // crops), and so are images that had faces and have none left.
  // images.size() <= 256 and total faces <= VectorStore::kMaxAppendBatch.
  WriteResult WriteBatch(std::vector<AnalyzedImage>& images, int64_t job_id, const JobCounters& extra_counters);

  // --- searching
  SearchResult Search(const SearchQuery& query);
  // Provenance of the faces that are still in the gallery and not opted out,
  // in the order given: what may be shown of a face a search returned
  // earlier (an opt-out hides it even before its removal has run).
  std::vector<FaceProvenance> DescribeVisibleFaces(const std::vector<int64_t>& face_ids);
  // Every live face whose exact similarity to `descriptor` is >= threshold
  // (an exhaustive scan, never the approximate index), best first, at most
  // `limit`. Blocklisted faces are included: this is how they are found.
  std::vector<FaceMatch> FindMatches(const std::vector<float>& descriptor, float threshold, size_t limit);

  // --- deleting (catalog first, then live set, then media)
  DeletionReport DeleteFaces(const std::vector<int64_t>& face_ids);
  DeletionReport DeleteImage(int64_t image_id);
  // All in one catalog transaction (unknown ids skipped).
  DeletionReport DeleteImages(const std::vector<int64_t>& image_ids);
  DeletionReport DeleteCollection(const std::string& name);
  DeletionReport DeleteBySourcePrefix(const std::string& url_prefix);

  // --- maintenance
  // Drops dead and orphan records from the store and rebuilds the approximate
  // index if there is one. Returns the bytes reclaimed.
  int64_t Compact();
  // Builds (or extends) the approximate index and saves it; no-op while the
  // gallery is under exact_limit unless `force`.
  void BuildIndex(bool force, bool show_progress);
  // Verifies catalog, store and media agree; with `repair`, removes orphan
  // records/files and catalog faces without a vector.
  CheckReport Check(bool repair, bool show_progress);
  GalleryStats Stats();
  // Searchable faces, from the live set (no catalog query: cheap enough for
  // every metrics scrape).
  size_t LiveFaces();

  std::filesystem::path ImagePath(const ImageRecord& image) const;
  std::filesystem::path CropPath(int64_t face_id) const;

 private:
  Gallery(const GalleryOptions& options, const GalleryModel& model);
  void BindModel();
  void RebuildLiveSet();
  void LoadIndexIfPresent();
  void WarnOfUnfinishedErasures();
  std::vector<ImageWrite> StageMedia(std::vector<AnalyzedImage>& images, size_t face_count);
  WriteResult DropOptedOutFaces(std::vector<AnalyzedImage>& images);
  std::vector<Neighbor> DropBlockedNeighbors(std::vector<Neighbor> neighbors, const OptOutSet& optouts) const;
  void MarkLive(size_t slots_before);
  void MarkAllLive(size_t kept);
  size_t LiveFacesIn(const std::vector<uint32_t>& collections) const;
  void ClearLive(const std::vector<int64_t>& face_ids);
  DeletionReport FinishDeletion(const std::vector<int64_t>& face_ids,
                                const std::vector<ImageRecord>& images);
  std::vector<Neighbor> FindNeighbors(const SearchQuery& query, const SlotFilter& filter,
                                      std::string* index_used);
  std::vector<uint32_t> CollectionIds(const std::vector<std::string>& names);
  void RemoveMedia(const std::vector<int64_t>& face_ids, const std::vector<ImageRecord>& images);

  GalleryOptions options_;
  GalleryModel model_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Blocklist> blocklist_;
  std::unique_ptr<VectorStore> store_;
  std::unique_ptr<VectorIndex> approximate_;   // null while exact search is used
  BandThresholds bands_;

  std::vector<std::string> warnings_;

  // Guards the live set and approximate_; exclusive for Compact().
  mutable std::shared_mutex mutex_;
  std::vector<uint64_t> live_;       // bit per store slot in [0, live_slots_)
  size_t live_slots_ = 0;
  size_t live_count_ = 0;
  std::map<uint32_t, size_t> live_per_collection_;
};

// The data directory used when none is given: $LINEUP_DATA, else VarDir()/gallery.
std::filesystem::path DefaultDataDir();

}  // namespace lineup

#include "gallery/gallery.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "common/error.h"
#include "common/file_util.h"
#include "common/paths.h"
#include "common/progress.h"
#include "gallery/erasure.h"

namespace lineup {

namespace {

namespace fs = std::filesystem;

constexpr char kModelSetting[] = "embedder_model";
constexpr char kDimSetting[] = "embedder_dim";
constexpr size_t kMaxBatchImages = 256;
constexpr size_t kMaxWidenedTopK = 40000;  // neighbours asked for at most when opt-outs hide some

bool TestBit(const std::vector<uint64_t>& bits, size_t i) {
  return i / 64 < bits.size() && (bits[i / 64] >> (i % 64)) & 1u;
}
void SetBit(std::vector<uint64_t>& bits, size_t i) { bits[i / 64] |= uint64_t{1} << (i % 64); }
void ClearBit(std::vector<uint64_t>& bits, size_t i) { bits[i / 64] &= ~(uint64_t{1} << (i % 64)); }

std::string CatalogLocation(const GalleryOptions& options) {
  return options.catalog.empty() ? (options.data_dir / "catalog.db").string() : options.catalog;
}

fs::path IndexPath(const fs::path& data_dir) { return data_dir / "index" / "approximate.idx"; }

}  // namespace

fs::path DefaultDataDir() {
  if (const char* env = std::getenv("LINEUP_DATA"); env && *env) return env;
  return VarDir() / "gallery";
}

std::unique_ptr<Gallery> Gallery::Open(const GalleryOptions& options, const GalleryModel& model) {
  if (options.data_dir.empty()) throw Error("gallery: no data directory given");
  if (model.model_id.empty() || model.dim <= 0) throw Error("gallery: no embedder model given");
  bool sqlite = options.catalog.empty();
  if (options.read_only && sqlite && !fs::exists(options.data_dir / "catalog.db")) {
    throw Error(Context(options.data_dir.string(),
                        "no gallery here yet (ingest a collection first: lineup ingest FOLDER --collection NAME "
                        "--legal-basis TEXT)"));
  }
  if (!options.read_only) fs::create_directories(options.data_dir);
  return std::unique_ptr<Gallery>(new Gallery(options, model));
}

Gallery::Gallery(const GalleryOptions& options, const GalleryModel& model)
    : options_(options), model_(model) {
  catalog_ = OpenCatalog(CatalogLocation(options_));
  BindModel();
  blocklist_ = std::make_unique<Blocklist>(options_.data_dir, model_.model_id, model_.dim, options_.read_only);
  fs::path store_path = options_.data_dir / "vectors.lvs";
  if (options_.read_only && !fs::exists(store_path)) {
    throw Error(Context(store_path.string(), "missing: the catalog exists but its vector store does not "
                                             "(was the data directory copied partially?)"));
  }
  store_ = std::make_unique<VectorStore>(
      store_path, model_.dim, options_.read_only ? VectorStore::Mode::kReadOnly : VectorStore::Mode::kReadWrite);
  RebuildLiveSet();
  LoadIndexIfPresent();
  bands_ = BandThresholdsFor(model_.model_id);
  WarnOfUnfinishedErasures();
}

// Journals of gallery/erasure.h. Their erasures committed nothing yet or
// everything (one transaction), but media or descriptors may remain.
void Gallery::WarnOfUnfinishedErasures() {
  if (HasUnfinishedErasures(options_.data_dir)) {
    warnings_.push_back("an erasure was interrupted before it finished; `lineup erase --resume` completes it");
  }
}

Gallery::~Gallery() = default;

void Gallery::BindModel() {
  std::optional<std::string> bound = catalog_->GetSetting(kModelSetting);
  std::optional<std::string> dim = catalog_->GetSetting(kDimSetting);
  if (!bound) {
    if (options_.read_only) {
      throw Error(Context(options_.data_dir.string(), "gallery has no embedder recorded (never written to)"));
    }
    catalog_->SetSetting(kModelSetting, model_.model_id);
    catalog_->SetSetting(kDimSetting, std::to_string(model_.dim));
    return;
  }
  if (*bound != model_.model_id || !dim || *dim != std::to_string(model_.dim)) {
    throw Error(Context(options_.data_dir.string(),
                        "this gallery holds descriptors of " + *bound + " (" + dim.value_or("?") +
                            "-d) but the command uses " + model_.model_id + " (" + std::to_string(model_.dim) +
                            "-d); use the matching --profile, or another --data directory"));
  }
}

// Live set = store records whose id the catalog names (a merge of two
// ascending id sequences).
void Gallery::RebuildLiveSet() {
  size_t n = store_->size();
  std::vector<uint64_t> live((n + 63) / 64, 0);
  std::map<uint32_t, size_t> per_collection;
  size_t count = 0, slot = 0, missing = 0;
  catalog_->ForEachFace([&](int64_t face_id, int64_t collection_id) {
    while (slot < n && store_->id(slot) < face_id) ++slot;
    if (slot < n && store_->id(slot) == face_id) {
      SetBit(live, slot);
      ++count;
      ++per_collection[store_->collection(slot)];
      ++slot;
    } else {
      ++missing;
    }
  });
  std::unique_lock lock(mutex_);
  live_ = std::move(live);
  live_slots_ = n;
  live_count_ = count;
  live_per_collection_ = std::move(per_collection);
  if (missing > 0) {
    warnings_.push_back(std::to_string(missing) +
                        " catalog face(s) have no stored descriptor and cannot be found by search; run "
                        "`lineup gallery check --repair`");
  }
}

void Gallery::LoadIndexIfPresent() {
  fs::path path = IndexPath(options_.data_dir);
  if (!fs::exists(path)) return;
  try {
    approximate_ = LoadIndex(path, *store_);
  } catch (const Error& e) {
    warnings_.push_back(std::string("approximate index not used (searches are exact until `lineup gallery "
                                    "reindex`): ") + e.what());
  }
}

fs::path Gallery::ImagePath(const ImageRecord& image) const {
  fs::path p = image.stored_path;
  return p.is_absolute() ? p : options_.data_dir / p;
}

fs::path Gallery::CropPath(int64_t face_id) const {
  return options_.data_dir / "media" / "crops" / std::to_string(face_id / 10000) /
         (std::to_string(face_id) + ".jpg");
}

WriteResult Gallery::WriteBatch(std::vector<AnalyzedImage>& images, int64_t job_id,
                                const JobCounters& extra_counters) {
  if (options_.read_only) throw Error("gallery opened read-only: cannot write");
  size_t face_count = 0;
  for (const AnalyzedImage& a : images) {
    if (a.descriptors.size() != a.write.faces.size() || a.crops.size() != a.write.faces.size()) {
      throw Error("gallery write: faces, descriptors and crops differ in number");
    }
    for (const auto& d : a.descriptors) {
      if (static_cast<int>(d.size()) != model_.dim) throw Error("gallery write: descriptor of the wrong size");
    }
    face_count += a.write.faces.size();
  }
  if (images.size() > kMaxBatchImages || face_count > VectorStore::kMaxAppendBatch) {
    throw Error("gallery write: batch too large");
  }
  WriteResult result = DropOptedOutFaces(images);
  face_count -= static_cast<size_t>(result.faces_opted_out);
  size_t slots_before = store_->size();
  std::vector<ImageWrite> writes = StageMedia(images, face_count);
  JobCounters delta = extra_counters;
  delta.opted_out += result.faces_opted_out;
  for (const AnalyzedImage& a : images) {
    delta.images_added += 1;
    delta.faces_added += static_cast<int64_t>(a.write.faces.size());
    if (a.write.faces.empty()) delta.no_face += 1;
  }
  result.image_ids = catalog_->AddImages(writes, job_id, delta);
  MarkLive(slots_before);
  return result;
}

// Removes blocklisted faces (with their descriptors and crops) from the
// batch, and images that had faces and have none left.
WriteResult Gallery::DropOptedOutFaces(std::vector<AnalyzedImage>& images) {
  WriteResult result;
  std::shared_ptr<const OptOutSet> optouts = blocklist_->Current();
  if (optouts->empty()) return result;
  std::vector<AnalyzedImage> kept;
  kept.reserve(images.size());
  for (AnalyzedImage& a : images) {
    const size_t had = a.write.faces.size();
    size_t k = 0;
    for (size_t f = 0; f < had; ++f) {
      if (optouts->Match(a.descriptors[f].data())) {
        ++result.faces_opted_out;
        continue;
      }
      if (k != f) {
        a.write.faces[k] = std::move(a.write.faces[f]);
        a.descriptors[k] = std::move(a.descriptors[f]);
        a.crops[k] = std::move(a.crops[f]);
      }
      ++k;
    }
    a.write.faces.resize(k);
    a.descriptors.resize(k);
    a.crops.resize(k);
    if (had > 0 && k == 0) {
      ++result.images_opted_out;
      continue;
    }
    kept.push_back(std::move(a));
  }
  images = std::move(kept);
  return result;
}

// Media files, face ids and vectors: everything that must be durable before
// the catalog names it.
std::vector<ImageWrite> Gallery::StageMedia(std::vector<AnalyzedImage>& images, size_t face_count) {
  std::vector<ImageWrite> writes;
  writes.reserve(images.size());
  for (AnalyzedImage& a : images) {
    const ImageRecord& r = a.write.image;
    fs::path relative = fs::path("media") / "images" / std::to_string(r.collection_id) /
                        (r.content_sha256 + a.image_extension);
    if (!fs::exists(options_.data_dir / relative)) {
      WriteFileAtomically(options_.data_dir / relative, a.image_bytes.data(), a.image_bytes.size(),
                          FileSync::kNone);
    }
    a.write.image.stored_path = relative.string();
  }
  if (face_count > 0) {
    int64_t next_id = catalog_->ReserveFaceIds(static_cast<int64_t>(face_count));
    std::vector<int64_t> ids;
    std::vector<uint32_t> collections;
    std::vector<float> vectors;
    vectors.reserve(face_count * static_cast<size_t>(model_.dim));
    for (AnalyzedImage& a : images) {
      for (size_t f = 0; f < a.write.faces.size(); ++f) {
        a.write.faces[f].id = next_id;
        WriteFileAtomically(CropPath(next_id), a.crops[f].data(), a.crops[f].size(), FileSync::kNone);
        ids.push_back(next_id++);
        collections.push_back(static_cast<uint32_t>(a.write.image.collection_id));
        vectors.insert(vectors.end(), a.descriptors[f].begin(), a.descriptors[f].end());
      }
    }
    store_->Append(ids.data(), collections.data(), vectors.data(), ids.size());
    store_->Sync();
  }
  SyncFileSystem(options_.data_dir);
  for (AnalyzedImage& a : images) writes.push_back(a.write);
  return writes;
}

void Gallery::MarkLive(size_t slots_before) {
  size_t n = store_->size();
  std::unique_lock lock(mutex_);
  live_.resize((n + 63) / 64, 0);
  for (size_t slot = slots_before; slot < n; ++slot) {
    SetBit(live_, slot);
    ++live_count_;
    ++live_per_collection_[store_->collection(slot)];
  }
  live_slots_ = n;
}

// After a compaction that kept exactly the live slots: slots [0, kept) are
// the same live faces, renumbered; the per-collection counts do not change.
// The caller holds mutex_ exclusively.
void Gallery::MarkAllLive(size_t kept) {
  live_.assign((kept + 63) / 64, 0);
  for (size_t slot = 0; slot < kept; ++slot) SetBit(live_, slot);
  live_slots_ = kept;
  live_count_ = kept;
}

std::vector<uint32_t> Gallery::CollectionIds(const std::vector<std::string>& names) {
  std::vector<uint32_t> ids;
  for (const std::string& name : names) {
    std::optional<Collection> c = catalog_->FindCollection(name);
    if (!c) throw InvalidArgument("collections", Context(name, "no such collection (`lineup gallery stats` lists them)"));
    ids.push_back(static_cast<uint32_t>(c->id));
  }
  return ids;
}

SearchResult Gallery::Search(const SearchQuery& query) {
  if (static_cast<int>(query.descriptor.size()) != model_.dim) {
    throw Error("search: descriptor has " + std::to_string(query.descriptor.size()) + " values, the gallery's " +
                model_.model_id + " makes " + std::to_string(model_.dim));
  }
  if (query.top_k == 0 || query.top_k > 10000) throw InvalidArgument("top_k", "search: top-k must be between 1 and 10000");
  SearchResult result;
  std::vector<Neighbor> neighbors;
  std::vector<int64_t> face_ids;
  std::vector<float> scores;
  std::shared_ptr<const OptOutSet> optouts = blocklist_->Current();
  const bool blocklist = !optouts->empty();
  {
    std::shared_lock lock(mutex_);
    SlotFilter filter;
    filter.live = live_.data();
    filter.live_bits = live_slots_;
    filter.collections = CollectionIds(query.collections);
    filter.store = store_.get();
    // With opt-outs, ask for more neighbours until top_k survive the
    // blocklist or the gallery has no more.
    SearchQuery wider = query;
    while (true) {
      std::vector<Neighbor> found = FindNeighbors(wider, filter, &result.index_used);
      const bool exhausted = found.size() < wider.top_k;
      neighbors = blocklist ? DropBlockedNeighbors(std::move(found), *optouts) : std::move(found);
      if (!blocklist || exhausted || neighbors.size() >= query.top_k || wider.top_k >= kMaxWidenedTopK) break;
      wider.top_k = std::min(wider.top_k * 4, kMaxWidenedTopK);
    }
    if (neighbors.size() > query.top_k) neighbors.resize(query.top_k);
    result.faces_searched = LiveFacesIn(filter.collections);
    // Slots mean something only under the lock (Compact() renumbers them).
    for (const Neighbor& n : neighbors) {
      if (n.score < query.min_score) continue;
      face_ids.push_back(store_->id(n.slot));
      scores.push_back(n.score);
    }
  }
  std::vector<FaceProvenance> described = catalog_->DescribeFaces(face_ids);
  // A face deleted between the index lookup and DescribeFaces is simply absent.
  size_t d = 0;
  for (size_t i = 0; i < face_ids.size() && d < described.size(); ++i) {
    if (described[d].face.id != face_ids[i]) continue;
    Candidate c;
    c.rank = static_cast<int>(result.candidates.size()) + 1;
    c.score = scores[i];
    c.band = BandOf(scores[i], bands_);
    c.provenance = std::move(described[d++]);
    fs::path crop = CropPath(c.provenance.face.id);
    if (fs::exists(crop)) c.crop_path = crop;
    result.candidates.push_back(std::move(c));
  }
  return result;
}

std::vector<Neighbor> Gallery::DropBlockedNeighbors(std::vector<Neighbor> neighbors, const OptOutSet& optouts) const {
  std::erase_if(neighbors, [&](const Neighbor& n) { return optouts.Match(store_->Vector(n.slot)).has_value(); });
  return neighbors;
}

std::vector<FaceProvenance> Gallery::DescribeVisibleFaces(const std::vector<int64_t>& face_ids) {
  std::vector<FaceProvenance> described = catalog_->DescribeFaces(face_ids);
  std::shared_ptr<const OptOutSet> optouts = blocklist_->Current();
  if (optouts->empty()) return described;
  std::shared_lock lock(mutex_);
  std::erase_if(described, [&](const FaceProvenance& p) {
    std::optional<size_t> slot = store_->FindSlot(p.face.id);
    return slot && optouts->Match(store_->Vector(*slot)).has_value();
  });
  return described;
}

std::vector<FaceMatch> Gallery::FindMatches(const std::vector<float>& descriptor, float threshold, size_t limit) {
  if (static_cast<int>(descriptor.size()) != model_.dim) throw Error("find matches: descriptor of the wrong size");
  std::shared_lock lock(mutex_);  // held while slots are turned into ids (Compact() renumbers them)
  SlotFilter filter;
  filter.live = live_.data();
  filter.live_bits = live_slots_;
  filter.store = store_.get();
  std::vector<FaceMatch> matches;
  for (const Neighbor& n : ExactSearch(*store_, descriptor.data(), limit, filter)) {
    if (n.score >= threshold) matches.push_back({store_->id(n.slot), n.score});
  }
  return matches;
}

size_t Gallery::LiveFacesIn(const std::vector<uint32_t>& collections) const {
  if (collections.empty()) return live_count_;
  size_t n = 0;
  for (uint32_t c : collections) {
    auto it = live_per_collection_.find(c);
    if (it != live_per_collection_.end()) n += it->second;
  }
  return n;
}

// Exact scan while the gallery is small; above exact_limit, the approximate
// index's shortlist plus every slot it does not cover yet, re-scored exactly.
std::vector<Neighbor> Gallery::FindNeighbors(const SearchQuery& query, const SlotFilter& filter,
                                             std::string* index_used) {
  const float* q = query.descriptor.data();
  if (!approximate_ || live_count_ <= options_.exact_limit) {
    *index_used = "Flat";
    return ExactSearch(*store_, q, query.top_k, filter);
  }
  *index_used = approximate_->FactoryString();
  size_t want = std::max(options_.shortlist, query.top_k);
  std::vector<Neighbor> candidates = approximate_->Search(q, want, filter);
  for (size_t slot = approximate_->covered(); slot < live_slots_; ++slot) {
    if (filter.Accept(slot)) candidates.push_back({slot, 0.f});
  }
  return RescoreExact(*store_, q, candidates, query.top_k);
}

void Gallery::ClearLive(const std::vector<int64_t>& face_ids) {
  std::unique_lock lock(mutex_);
  for (int64_t id : face_ids) {
    std::optional<size_t> slot = store_->FindSlot(id);
    if (!slot || !TestBit(live_, *slot)) continue;
    ClearBit(live_, *slot);
    --live_count_;
    auto it = live_per_collection_.find(store_->collection(*slot));
    if (it != live_per_collection_.end() && it->second > 0) --it->second;
  }
}

void Gallery::RemoveMedia(const std::vector<int64_t>& face_ids, const std::vector<ImageRecord>& images) {
  std::error_code ignored;
  for (int64_t id : face_ids) fs::remove(CropPath(id), ignored);
  for (const ImageRecord& image : images) {
    // The copy is shared by nothing else: (collection, content hash) is unique.
    if (!image.stored_path.empty()) fs::remove(ImagePath(image), ignored);
  }
}

DeletionReport Gallery::FinishDeletion(const std::vector<int64_t>& face_ids, const std::vector<ImageRecord>& images) {
  ClearLive(face_ids);
  RemoveMedia(face_ids, images);
  return {static_cast<int64_t>(face_ids.size()), static_cast<int64_t>(images.size())};
}

DeletionReport Gallery::DeleteFaces(const std::vector<int64_t>& face_ids) {
  if (options_.read_only) throw Error("gallery opened read-only: cannot delete");
  return FinishDeletion(catalog_->DeleteFaces(face_ids), {});
}

DeletionReport Gallery::DeleteImage(int64_t image_id) {
  if (options_.read_only) throw Error("gallery opened read-only: cannot delete");
  std::optional<ImageRecord> image = catalog_->GetImage(image_id);
  if (!image) throw Error("no image with id " + std::to_string(image_id));
  return FinishDeletion(catalog_->DeleteImage(image_id), {*image});
}

DeletionReport Gallery::DeleteImages(const std::vector<int64_t>& image_ids) {
  if (options_.read_only) throw Error("gallery opened read-only: cannot delete");
  std::vector<ImageRecord> images;
  for (int64_t id : image_ids) {
    if (std::optional<ImageRecord> image = catalog_->GetImage(id)) images.push_back(std::move(*image));
  }
  return FinishDeletion(catalog_->DeleteImages(image_ids), images);
}

DeletionReport Gallery::DeleteCollection(const std::string& name) {
  if (options_.read_only) throw Error("gallery opened read-only: cannot delete");
  std::optional<Collection> c = catalog_->FindCollection(name);
  if (!c) throw Error(Context(name, "no such collection (`lineup gallery stats` lists them)"));
  CatalogStats before = catalog_->Stats();
  int64_t images = 0;
  for (const CollectionStats& s : before.per_collection) {
    if (s.collection.id == c->id) images = s.images;
  }
  std::vector<int64_t> faces = catalog_->DeleteCollection(c->id);
  DeletionReport report = FinishDeletion(faces, {});
  std::error_code ignored;
  fs::remove_all(options_.data_dir / "media" / "images" / std::to_string(c->id), ignored);
  report.images = images;
  return report;
}

DeletionReport Gallery::DeleteBySourcePrefix(const std::string& url_prefix) {
  if (url_prefix.empty()) throw Error("delete by source: the URL prefix is empty (that would name everything)");
  DeletionReport total;
  for (int64_t image_id : catalog_->FindImagesBySourcePrefix(url_prefix)) {
    DeletionReport r = DeleteImage(image_id);
    total.faces += r.faces;
    total.images += r.images;
  }
  return total;
}

int64_t Gallery::Compact() {
  if (options_.read_only) throw Error("gallery opened read-only: cannot compact");
  int64_t before = static_cast<int64_t>(store_->FileBytes());
  bool had_index = false;
  {
    // Slots are renumbered: the store and the live set change together, under
    // the exclusive lock, so no search sees old bits over new slots.
    std::unique_lock lock(mutex_);
    size_t kept = store_->Compact([&](size_t slot) { return slot < live_slots_ && TestBit(live_, slot); });
    MarkAllLive(kept);
    had_index = approximate_ != nullptr;
    approximate_.reset();
  }
  std::error_code ignored;
  fs::remove(IndexPath(options_.data_dir), ignored);
  if (had_index) BuildIndex(true, false);
  return before - static_cast<int64_t>(store_->FileBytes());
}

// Extends the index in use with the slots added since it was built; builds a
// new one (training included) when there is none or when `force` is set.
void Gallery::BuildIndex(bool force, bool show_progress) {
  if (options_.read_only) throw Error("gallery opened read-only: cannot build an index");
  if (!force && !approximate_ && live_count_ <= options_.exact_limit) return;
  std::unique_ptr<VectorIndex> fresh;
  if (force || !approximate_) {
    fresh = CreateIndex(options_.approximate_index, *store_);
    if (fresh->IsExact()) return;
    size_t needed = MinTrainingVectors(options_.approximate_index);
    if (store_->size() < needed) {
      throw Error(options_.approximate_index + " needs at least " + std::to_string(needed) +
                  " faces to train on; the gallery has " + std::to_string(store_->size()) +
                  " (exact search is used meanwhile)");
    }
  }
  // The index being extended is only searched under the shared lock, so
  // extend it under the exclusive one.
  std::unique_lock lock(mutex_, std::defer_lock);
  VectorIndex* index = fresh ? fresh.get() : approximate_.get();
  if (!fresh) lock.lock();
  size_t begin = index->covered(), end = store_->size();
  if (begin >= end && !fresh) return;
  std::unique_ptr<Progress> progress;
  if (show_progress) progress = std::make_unique<Progress>("indexing", static_cast<int64_t>(end - begin));
  size_t last = 0;
  index->AddFromStore(end, [&](size_t done, size_t) {
    if (progress) progress->Advance(static_cast<int64_t>(done - last));
    last = done;
  });
  if (progress) progress->Finish();
  fs::create_directories(IndexPath(options_.data_dir).parent_path());
  index->Save(IndexPath(options_.data_dir));
  if (fresh) {
    if (!lock.owns_lock()) lock.lock();
    approximate_ = std::move(fresh);
  }
}

size_t Gallery::LiveFaces() {
  std::shared_lock lock(mutex_);
  return live_count_;
}

GalleryStats Gallery::Stats() {
  GalleryStats s;
  s.catalog = catalog_->Stats();
  s.model = model_;
  std::shared_lock lock(mutex_);
  s.store_records = store_->size();
  s.live_faces = live_count_;
  s.store_file_bytes = store_->FileBytes();
  bool approximate_in_use = approximate_ && live_count_ > options_.exact_limit;
  s.index = approximate_in_use ? approximate_->FactoryString() : "Flat";
  s.index_memory_bytes = approximate_ ? approximate_->MemoryBytes() : 0;
  return s;
}

}  // namespace lineup

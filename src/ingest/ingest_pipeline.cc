#include "ingest/ingest_pipeline.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <thread>
#include <unordered_set>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/bounded_queue.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/progress.h"
#include "image/image_loader.h"
#include "image/perceptual_hash.h"
#include "ingest/input_text.h"

namespace lineup {

namespace {

namespace fs = std::filesystem;
using ingest_internal::PrintableLabel;
using ingest_internal::Quoted;

constexpr size_t kMaxReportedErrors = 100;
constexpr size_t kMaxFacesPerBatch = 2048;

// One input item on its way to a worker.
struct WorkItem {
  std::string name;
  std::vector<uint8_t> bytes;
  std::string sha256;
  std::string extension;
  int64_t collection_id = 0;
  std::optional<Source> source;
};

// What the writer receives: an analysed image, or an item that failed.
struct WriterMessage {
  std::optional<AnalyzedImage> image;
  std::string item;
  std::string error;
};

std::string ExtensionOf(const std::string& name) {
  std::string ext = fs::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext.empty() || ext.size() > 6) return ".img";
  return ext;
}

// The collections an ingest adds to (see "Which collection" in the header),
// checked as a whole before any is created: a refusal leaves no empty
// collection behind. Returns the id of the job's collection.
int64_t ResolveCollections(Catalog& catalog, const IngestOptions& options, const std::string& input_label,
                           const std::vector<std::string>& named) {
  std::vector<std::string> wanted;
  if (!options.collection.empty()) {
    for (const std::string& name : named) {
      if (name == options.collection) continue;
      throw Error(Context(input_label, "rows name collection " + Quoted(name) + " but --collection is " +
                                           Quoted(options.collection) +
                                           ": leave out --collection to add each row to the collection it "
                                           "names, or empty the column to add every row to " +
                                           Quoted(options.collection)));
    }
    wanted.push_back(options.collection);
  } else {
    if (named.empty()) throw Error("ingest: a collection name is required (--collection NAME)");
    wanted = named;
  }
  std::vector<std::string> missing;
  for (const std::string& name : wanted) {
    if (!catalog.FindCollection(name)) missing.push_back(name);
  }
  if (!missing.empty() && options.legal_basis.empty()) {
    std::string names;
    for (const std::string& name : missing) names += (names.empty() ? "" : ", ") + Quoted(name);
    throw Error(Context(names, std::string(missing.size() > 1 ? "new collections" : "new collection") +
                                   ": say why you may hold these photos with --legal-basis TEXT "
                                   "(e.g. \"custody images, PACE 1984 s.64A\")"));
  }
  for (const std::string& name : missing) {
    Collection c;
    c.name = name;
    c.legal_basis = options.legal_basis;
    c.description = options.description;
    c.jurisdiction = options.jurisdiction;
    c.retention_days = options.retention_days;
    catalog.CreateCollection(c);
  }
  return catalog.FindCollection(wanted.front())->id;
}

FaceRecord ToRecord(const FaceResult& r, const std::string& model_id) {
  FaceRecord f;
  const DetectedFace& d = r.face;
  f.box = {d.box.x, d.box.y, d.box.width, d.box.height};
  for (size_t i = 0; i < 5 && i < d.landmarks.size(); ++i) {
    f.landmarks[2 * i] = d.landmarks[i].x;
    f.landmarks[2 * i + 1] = d.landmarks[i].y;
  }
  f.detection_score = d.score;
  f.size_px = r.quality.size_px;
  f.sharpness = r.quality.sharpness;
  f.yaw_deg = r.quality.yaw_deg;
  f.roll_deg = r.quality.roll_deg;
  f.model_id = model_id;
  return f;
}

// The shared state of one ingest run.
class IngestRun {
 public:
  IngestRun(Gallery& gallery, const ModelManifest& manifest, const IngestOptions& options)
      : gallery_(gallery), manifest_(manifest), options_(options),
        workers_(options.workers > 0 ? options.workers : std::max(1u, std::thread::hardware_concurrency())),
        work_(static_cast<size_t>(workers_) * 4), results_(static_cast<size_t>(workers_) * 4) {}

  IngestSummary Run(const fs::path& input);

 private:
  void StartJob(const fs::path& input);
  void ReadInputs(IngestInput& in);
  bool Admit(IngestItem& item, WorkItem* work);
  void Work(FacePipeline& pipeline);
  AnalyzedImage Analyze(FacePipeline& pipeline, WorkItem& item);
  void Write();
  void Flush(std::vector<AnalyzedImage>& batch, JobCounters& pending);
  void RecordError(const std::string& item, const std::string& reason, JobCounters& pending);

  Gallery& gallery_;
  const ModelManifest& manifest_;
  const IngestOptions& options_;
  const int workers_;
  BoundedQueue<WorkItem> work_;
  BoundedQueue<WriterMessage> results_;
  std::unique_ptr<Progress> progress_;
  IngestSummary summary_;
  int64_t default_collection_ = 0;
  std::unordered_set<std::string> seen_;  // collection id + hash of items admitted this run (reader thread)
  std::exception_ptr write_failure_;
};

IngestSummary IngestRun::Run(const fs::path& input) {
  auto start = std::chrono::steady_clock::now();
  IngestInputOptions input_options = options_.input;
  input_options.forbidden_roots.push_back(gallery_.options().data_dir);  // probe photos, crops, copies
  std::unique_ptr<IngestInput> in = OpenIngestInput(input, input_options);
  default_collection_ =
      ResolveCollections(gallery_.catalog(), options_, PrintableLabel(input.filename().string()), in->NamedCollections());
  StartJob(input);
  std::optional<int64_t> total = in->EstimatedCount();
  progress_ = std::make_unique<Progress>("ingesting", total.value_or(0), options_.show_progress);

  // One pipeline per worker, loaded before the threads start so a model error stops the job at once.
  std::vector<std::unique_ptr<FacePipeline>> pipelines;
  for (int i = 0; i < workers_; ++i) pipelines.push_back(std::make_unique<FacePipeline>(manifest_, options_.pipeline));
  int previous_cv_threads = cv::getNumThreads();
  if (workers_ > 1) cv::setNumThreads(1);  // parallelism comes from the workers

  std::thread writer([&] { Write(); });
  std::vector<std::thread> workers;
  for (int i = 0; i < workers_; ++i) workers.emplace_back([&, i] { Work(*pipelines[i]); });
  std::exception_ptr read_failure;
  try {
    ReadInputs(*in);
  } catch (...) {
    read_failure = std::current_exception();
  }
  work_.Close();
  for (std::thread& t : workers) t.join();
  results_.Close();
  writer.join();
  cv::setNumThreads(previous_cv_threads);
  progress_->Finish();

  Catalog& catalog = gallery_.catalog();
  if (write_failure_ || read_failure) {
    catalog.SetJobStatus(summary_.job_id, JobStatus::kFailed);
    std::rethrow_exception(write_failure_ ? write_failure_ : read_failure);
  }
  catalog.SetJobStatus(summary_.job_id, JobStatus::kDone);
  gallery_.BuildIndex(false, options_.show_progress);
  summary_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary_;
}

void IngestRun::StartJob(const fs::path& input) {
  Catalog& catalog = gallery_.catalog();
  std::string key = fs::absolute(input).lexically_normal().string();
  if (std::optional<IngestJob> job = catalog.FindUnfinishedJob(default_collection_, key)) {
    summary_.job_id = job->id;
    summary_.resumed = true;
    catalog.SetJobStatus(job->id, JobStatus::kRunning);
    return;
  }
  summary_.job_id = catalog.CreateJob(default_collection_, key, "{}").id;
}

void IngestRun::ReadInputs(IngestInput& in) {
  while (std::optional<IngestItem> item = in.Next()) {
    if (write_failure_) return;
    WorkItem work;
    if (!item->error.empty()) {
      results_.Push({std::nullopt, item->name, item->error});
      continue;
    }
    if (Admit(*item, &work) && !work_.Push(std::move(work))) return;
  }
}

// Reads the bytes and decides whether the item needs analysing: false for
// duplicates, items this job already added, and unreadable items.
bool IngestRun::Admit(IngestItem& item, WorkItem* work) {
  work->name = item.name;
  try {
    work->bytes = item.bytes.empty() ? ReadFileBytes(item.file, options_.input.max_file_bytes) : std::move(item.bytes);
  } catch (const Error& e) {
    results_.Push({std::nullopt, item.name, e.what()});
    return false;
  }
  work->collection_id = default_collection_;
  if (item.collection.empty() && options_.collection.empty()) {
    results_.Push({std::nullopt, item.name, "no collection: the row names none and --collection was not given"});
    return false;
  }
  if (!item.collection.empty() && !options_.collection.empty() && item.collection != options_.collection) {
    results_.Push({std::nullopt, item.name, "the row names collection " + Quoted(item.collection) +
                                                " but --collection is " + Quoted(options_.collection)});
    return false;
  }
  if (!item.collection.empty()) {
    std::optional<Collection> c = gallery_.catalog().FindCollection(item.collection);
    if (!c) {
      results_.Push({std::nullopt, item.name, "unknown collection \"" + item.collection +
                                                  "\" (create it first by ingesting into it with --legal-basis)"});
      return false;
    }
    work->collection_id = c->id;
  }
  work->sha256 = Sha256Hex(work->bytes.data(), work->bytes.size());
  work->extension = ExtensionOf(item.file.empty() ? item.name : item.file.string());
  work->source = std::move(item.source);
  std::string key = std::to_string(work->collection_id) + ":" + work->sha256;
  std::optional<ImageRecord> existing = gallery_.catalog().FindImageByHash(work->collection_id, work->sha256);
  if (existing && existing->job_id == summary_.job_id && !seen_.count(key)) {
    ++summary_.already_done;  // added by this job before it was interrupted
    seen_.insert(key);
    results_.Push({std::nullopt, item.name, ""});
    return false;
  }
  if (existing || !seen_.insert(key).second) {
    results_.Push({std::nullopt, item.name, "duplicate"});
    return false;
  }
  return true;
}

void IngestRun::Work(FacePipeline& pipeline) {
  while (std::optional<WorkItem> item = work_.Pop()) {
    try {
      results_.Push({Analyze(pipeline, *item), item->name, ""});
    } catch (const std::exception& e) {
      results_.Push({std::nullopt, item->name, e.what()});
    }
  }
}

AnalyzedImage IngestRun::Analyze(FacePipeline& pipeline, WorkItem& item) {
  cv::Mat image = DecodeImage(item.bytes, item.name);
  AnalyzedImage a;
  ImageRecord& r = a.write.image;
  r.collection_id = item.collection_id;
  r.job_id = summary_.job_id;
  r.content_sha256 = item.sha256;
  r.perceptual_hash = PerceptualHash(image);
  r.width = image.cols;
  r.height = image.rows;
  r.byte_size = static_cast<int64_t>(item.bytes.size());
  r.original_name = item.name;
  a.write.source = item.source;
  std::vector<FaceResult> faces = pipeline.Detect(image);
  std::erase_if(faces, [&](const FaceResult& f) {
    return f.face.score < options_.min_gallery_face_score ||
           std::min(f.face.box.width, f.face.box.height) < options_.min_gallery_face_px;
  });
  if (!faces.empty()) pipeline.Embed(image, faces);
  for (const FaceResult& f : faces) {
    a.write.faces.push_back(ToRecord(f, pipeline.profile().embedder));
    a.descriptors.push_back(f.embedding);
    a.crops.push_back(MakeFaceCrop(image, f.face));
  }
  a.image_bytes = std::move(item.bytes);
  a.image_extension = item.extension;
  return a;
}

// An error about an input usually starts with the input's name or path
// ("bad.png: truncated PNG"); listed under that name, it would say it twice.
std::string WithoutItemPrefix(const std::string& item, const std::string& reason) {
  const size_t colon = reason.find(": ");
  if (colon == std::string::npos || item.empty()) return reason;
  const std::string_view prefix(reason.data(), colon);
  const bool names_item = prefix == item || (prefix.size() > item.size() && prefix.ends_with(item) &&
                                             prefix[prefix.size() - item.size() - 1] == '/');
  return names_item ? reason.substr(colon + 2) : reason;
}

void IngestRun::RecordError(const std::string& item, const std::string& full_reason, JobCounters& pending) {
  const std::string reason = WithoutItemPrefix(item, full_reason);
  if (reason == "duplicate") {
    ++pending.duplicates;
    ++summary_.counters.duplicates;
    return;
  }
  ++pending.errors;
  ++summary_.counters.errors;
  gallery_.catalog().AddJobError(summary_.job_id, item, reason);
  if (summary_.errors.size() < kMaxReportedErrors) summary_.errors.push_back({summary_.job_id, item, reason});
}

void IngestRun::Write() {
  std::vector<AnalyzedImage> batch;
  JobCounters pending;  // counters not yet committed
  size_t batch_faces = 0;
  try {
    while (true) {
      std::optional<WriterMessage> m = results_.PopFor(std::chrono::milliseconds(200));
      bool finished = !m && results_.closed();
      if (m) {
        progress_->Advance();
        bool resumed_item = !m->image && m->error.empty();  // counted by the interrupted run
        if (!resumed_item) ++pending.images_seen, ++summary_.counters.images_seen;
        if (m->image) {
          batch_faces += m->image->write.faces.size();
          batch.push_back(std::move(*m->image));
        } else if (!resumed_item) {
          RecordError(m->item, m->error, pending);
        }
      }
      bool full = batch.size() >= options_.batch_images || batch_faces >= kMaxFacesPerBatch;
      if (full || (!m && !batch.empty()) || (finished && (!batch.empty() || pending.images_seen > 0))) {
        Flush(batch, pending);
        batch_faces = 0;
      }
      if (finished) break;
    }
  } catch (...) {
    write_failure_ = std::current_exception();
    work_.Close();
    // Drain so that workers blocked on a full queue can finish.
    while (results_.Pop()) {
    }
  }
}

void IngestRun::Flush(std::vector<AnalyzedImage>& batch, JobCounters& pending) {
  if (batch.empty()) {
    gallery_.catalog().AddJobCounters(summary_.job_id, pending);
  } else {
    WriteResult written = gallery_.WriteBatch(batch, summary_.job_id, pending);
    summary_.counters.opted_out += written.faces_opted_out;
    summary_.images_opted_out += written.images_opted_out;
    for (const AnalyzedImage& a : batch) {
      summary_.counters.images_added += 1;
      summary_.counters.faces_added += static_cast<int64_t>(a.write.faces.size());
      if (a.write.faces.empty()) summary_.counters.no_face += 1;
    }
  }
  batch.clear();
  pending = JobCounters{};
}

}  // namespace

std::vector<uint8_t> MakeFaceCrop(const cv::Mat& bgr, const DetectedFace& face) {
  const cv::Rect2f& b = face.box;
  float side = std::max(b.width, b.height) * 1.6f;
  float cx = b.x + b.width / 2, cy = b.y + b.height / 2;
  cv::Rect square(cvRound(cx - side / 2), cvRound(cy - side / 2), cvRound(side), cvRound(side));
  cv::Rect inside = square & cv::Rect(0, 0, bgr.cols, bgr.rows);
  cv::Mat canvas(square.size(), bgr.type(), cv::Scalar::all(0));
  if (inside.area() > 0) bgr(inside).copyTo(canvas(inside - square.tl()));
  cv::Mat thumb;
  cv::resize(canvas, thumb, cv::Size(160, 160), 0, 0, cv::INTER_AREA);
  std::vector<uint8_t> jpeg;
  cv::imencode(".jpg", thumb, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
  return jpeg;
}

IngestSummary RunIngest(Gallery& gallery, const ModelManifest& manifest, const fs::path& input,
                        const IngestOptions& options) {
  IngestRun run(gallery, manifest, options);
  return run.Run(input);
}

}  // namespace lineup

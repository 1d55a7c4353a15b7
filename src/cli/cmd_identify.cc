// lineup eval identify: open-set 1:N identification through the real
// pipeline. The identity folders are split into a gallery and probes
// (eval/identification.h has the protocol), the gallery images are ingested
// into a fresh gallery by RunIngest through a generated manifest, and every
// probe is searched with Gallery::Search as `lineup search` would, in
// parallel (one FacePipeline per worker thread). Metrics follow NIST IR 8271:
// rank-k identification rates, FNIR at FPIR targets.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/progress.h"
#include "eval/identification.h"
#include "gallery/gallery.h"
#include "image/image_loader.h"
#include "ingest/ingest_pipeline.h"

namespace lineup::cli {

namespace {

constexpr char kEvalCollection[] = "eval";

struct IdentifyFlags {
  EngineFlags engine;
  std::vector<std::string> roots;
  double enrol_fraction = 0.8;
  int max_probes_per_id = 10;
  uint64_t seed = 1;
  int candidates = 20;
  double target_fpir = 0.01;
  int workers = 0;
  std::string keep_data;
  std::string out_dir;
  bool json = false;
};

const char kProtocolHelp[] = R"(Open-set 1:N identification through the real pipeline (ingest into a fresh
gallery, then Gallery::Search), in the conventions of NIST IR 8271 (FRTE 1:N).

Input: ROOT/<identity>/<image files>; the identity is the folder name, the
same name under two roots is the same identity.
Split (reproducible): identities ordered by a hash of (seed, name); the first
round(enrol-fraction x N) are enrolled, the rest are non-mated. An enrolled
identity puts its first image (by file name) in the gallery and up to
--max-probes-per-id of its other images in the probes (MATED); a non-mated
identity contributes its first image as one NON-MATED probe. Gallery images
are never probes.
Gallery: the enrolled images are ingested (collection "eval", title =
identity) into a temporary data directory (or --keep-data DIR); an enrolled
image with no usable face is an enrolment failure.
Probes: largest confident face, top --candidates (L) candidates; a mate is a
candidate titled with the probe's identity. No face: a miss when mated,
never a false positive when non-mated.
Metrics: rank-1 / rank-10 rates over mated probes; FPIR(T) = non-mated
probes whose top candidate scores >= T; T = smallest threshold with
FPIR(T) <= target (reported at the target and at 0.001 / 0.1 when there are
at least 1/target non-mated probes, else "not resolvable"); FNIR(T) = mated
probes whose mate is not among the candidates scoring >= T (and at rank 1).)";

// A folder that is removed when the evaluation ends (also on error).
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lineup-identify-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw Error(Context(pattern, "cannot create a temporary folder"));
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::filesystem::path GalleryDataDir(const IdentifyFlags& flags, const ScratchDir& scratch) {
  if (flags.keep_data.empty()) return scratch.path() / "gallery";
  std::filesystem::path dir = flags.keep_data;
  if (std::filesystem::exists(dir) && !std::filesystem::is_empty(dir)) {
    throw Error(Context(dir.string(), "--keep-data needs a new or empty folder (the benchmark builds a fresh gallery)"));
  }
  return dir;
}

// Identities that have at least one face in the gallery, and the face count.
std::set<std::string> EnrolledWithFace(Gallery& gallery, int64_t* faces) {
  std::vector<int64_t> ids;
  gallery.catalog().ForEachFace([&](int64_t face_id, int64_t) { ids.push_back(face_id); });
  *faces = static_cast<int64_t>(ids.size());
  std::set<std::string> titles;
  constexpr size_t kChunk = 500;
  for (size_t i = 0; i < ids.size(); i += kChunk) {
    std::vector<int64_t> chunk(ids.begin() + i, ids.begin() + std::min(ids.size(), i + kChunk));
    for (const FaceProvenance& p : gallery.catalog().DescribeFaces(chunk)) {
      if (p.source) titles.insert(p.source->title);
    }
  }
  return titles;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Searches one probe. Unreadable images are recorded, never thrown.
ProbeOutcome SearchProbe(const ProbeImage& probe, FacePipeline& pipeline, Gallery& gallery,
                         int candidates) {
  auto start = std::chrono::steady_clock::now();
  ProbeOutcome outcome;
  outcome.identity = probe.identity;
  outcome.image = probe.image;
  outcome.mated = probe.mated;
  try {
    cv::Mat image = LoadImage(probe.image.string());
    std::vector<FaceResult> faces = pipeline.Detect(image);
    if (!faces.empty()) {
      std::vector<FaceResult> primary = {faces[PrimaryFace(faces)]};
      pipeline.Embed(image, primary);
      SearchQuery query;
      query.descriptor = primary[0].embedding;
      query.top_k = static_cast<size_t>(candidates);
      query.collections = {kEvalCollection};
      auto search_start = std::chrono::steady_clock::now();
      SearchResult result = gallery.Search(query);
      outcome.search_seconds = SecondsSince(search_start);
      outcome.face_found = true;
      // Candidates come best first; ranks are 1-based.
      for (const Candidate& c : result.candidates) {
        std::string title = c.provenance.source ? c.provenance.source->title : std::string();
        if (&c == &result.candidates.front()) {
          outcome.top_score = c.score;
          outcome.top_identity = title;
        }
        if (!outcome.mate_rank && title == probe.identity) {
          outcome.mate_rank = c.rank;
          outcome.mate_score = c.score;
        }
      }
    }
  } catch (const Error& e) {
    outcome.error = e.what();
    outcome.face_found = false;
  }
  outcome.total_seconds = SecondsSince(start);
  return outcome;
}

// Searches every probe with `workers` threads, each with its own pipeline.
std::vector<ProbeOutcome> SearchProbes(const std::vector<ProbeImage>& probes,
                                       const ModelManifest& manifest, const PipelineOptions& options,
                                       Gallery& gallery, int candidates, int workers) {
  std::vector<ProbeOutcome> outcomes(probes.size());
  std::atomic<size_t> next{0};
  std::mutex mutex;  // guards progress and first_error
  std::string first_error;
  Progress progress("searching probes", static_cast<int64_t>(probes.size()));
  auto work = [&] {
    try {
      FacePipeline pipeline(manifest, options);
      for (size_t i = next++; i < probes.size(); i = next++) {
        outcomes[i] = SearchProbe(probes[i], pipeline, gallery, candidates);
        std::lock_guard<std::mutex> lock(mutex);
        progress.Advance();
      }
    } catch (const std::exception& e) {  // a model that fails to load, a broken gallery
      std::lock_guard<std::mutex> lock(mutex);
      if (first_error.empty()) first_error = e.what();
      next = probes.size();
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  progress.Finish();
  if (!first_error.empty()) throw Error("eval identify: searching failed: " + first_error);
  return outcomes;
}

std::string ThresholdText(double threshold) {
  if (!std::isfinite(threshold)) return "any score";
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", threshold);
  return text;
}

void PrintSummary(const nlohmann::json& j, const IdentificationReport& r) {
  const auto& g = j["gallery"];
  std::printf("model: profile %s, %s + %s\n", j["model"]["profile"].get<std::string>().c_str(),
              j["model"]["detector"].get<std::string>().c_str(),
              j["model"]["embedder"].get<std::string>().c_str());
  std::printf("identities %lld: enrolled %lld, non-mated %lld (seed %llu, enrol fraction %g)\n",
              (long long)j["identities"], (long long)j["enrolled_identities"],
              (long long)j["non_mated_identities"], (unsigned long long)j["protocol"]["seed"],
              j["protocol"]["enrol_fraction"].get<double>());
  std::printf("gallery: %lld images, %lld faces, %lld enrolment failures (ingest %.1f s)\n",
              (long long)g["images"], (long long)g["faces"], (long long)g["enrolment_failures"],
              g["ingest_seconds"].get<double>());
  std::printf("probes: mated %lld (no face %lld), non-mated %lld (no face %lld), unreadable %lld; L = %d\n",
              (long long)r.mated, (long long)r.mated_without_face, (long long)r.non_mated,
              (long long)r.non_mated_without_face, (long long)r.unreadable, r.candidates);
  for (const RankRate& rr : r.rank_rates) {
    std::printf("rank-%-3d identification rate %.4f\n", rr.rank, rr.rate);
  }
  for (const OperatingPoint& p : r.operating_points) {
    if (!p.resolvable) {
      std::printf("FNIR @ FPIR=%g: not resolvable (%lld non-mated probes; needs %lld)\n", p.target_fpir,
                  (long long)r.non_mated, (long long)std::ceil(1.0 / p.target_fpir - 1e-9));
      continue;
    }
    std::printf("FNIR @ FPIR=%g: %.4f (rank 1: %.4f) at T = %s; FPIR achieved %.4f (%lld of %lld)\n",
                p.target_fpir, p.fnir, p.fnir_rank1, ThresholdText(p.threshold).c_str(), p.fpir,
                (long long)p.false_positives, (long long)r.non_mated);
  }
  std::printf("time per probe: search %.2f ms, end to end %.1f ms (load, detect, embed, search)\n",
              r.mean_search_seconds * 1e3, r.mean_total_seconds * 1e3);
}

void RunIdentify(const IdentifyFlags& flags) {
  std::vector<std::filesystem::path> roots(flags.roots.begin(), flags.roots.end());
  IdentificationSplitOptions split_options;
  split_options.enrol_fraction = flags.enrol_fraction;
  split_options.max_probes_per_id = flags.max_probes_per_id;
  split_options.seed = flags.seed;
  std::vector<IdentityImages> identities = ListIdentityImages(roots);
  IdentificationSplit split = SplitIdentities(identities, split_options);
  if (split.probes.empty()) throw Error("eval identify: no probes (need identities with images under the roots)");
  IdentificationOptions metric_options;
  metric_options.candidates = flags.candidates;
  metric_options.target_fpirs = {flags.target_fpir};
  for (double f : {0.001, 0.1}) {
    if (std::abs(f - flags.target_fpir) > 1e-12) metric_options.target_fpirs.push_back(f);
  }
  int workers = flags.workers > 0 ? flags.workers : std::max(1u, std::thread::hardware_concurrency());

  ModelManifest manifest = LoadManifest(flags.engine);
  PipelineOptions pipeline_options = MakePipelineOptions(flags.engine, true);
  FacePipeline pipeline(manifest, pipeline_options);
  GalleryModel model{pipeline.embedder().Id(), pipeline.embedder().Dimension()};

  ScratchDir scratch;
  std::filesystem::path manifest_csv = scratch.path() / "gallery.csv";
  WriteFileAtomically(manifest_csv, GalleryManifestCsv(split));
  GalleryOptions gallery_options;
  gallery_options.data_dir = GalleryDataDir(flags, scratch);
  std::filesystem::create_directories(gallery_options.data_dir);
  std::unique_ptr<Gallery> gallery = Gallery::Open(gallery_options, model);

  IngestOptions ingest;
  ingest.collection = kEvalCollection;
  ingest.legal_basis = "accuracy evaluation (lineup eval identify): temporary gallery of labelled research images";
  ingest.workers = workers;
  ingest.pipeline = pipeline_options;
  ingest.input.allow_outside = roots;  // the generated manifest names the images where they are
  IngestSummary summary = RunIngest(*gallery, manifest, manifest_csv, ingest);
  int64_t gallery_faces = 0;
  std::set<std::string> with_face = EnrolledWithFace(*gallery, &gallery_faces);
  std::vector<std::string> failures;
  for (const std::string& id : split.enrolled) {
    if (!with_face.count(id)) failures.push_back(id);
  }

  std::vector<ProbeOutcome> outcomes =
      SearchProbes(split.probes, manifest, pipeline_options, *gallery, flags.candidates, workers);
  IdentificationReport report = EvaluateIdentification(outcomes, metric_options);

  nlohmann::json j = ToJson(report);
  j["model"] = ModelJson(pipeline, true);
  j["protocol"] = {{"roots", flags.roots},
                   {"seed", flags.seed},
                   {"enrol_fraction", flags.enrol_fraction},
                   {"max_probes_per_id", flags.max_probes_per_id},
                   {"candidates", flags.candidates},
                   {"collection", kEvalCollection}};
  j["identities"] = split.enrolled.size() + split.non_mated.size();
  j["enrolled_identities"] = split.enrolled.size();
  j["non_mated_identities"] = split.non_mated.size();
  j["gallery"] = {{"images", summary.counters.images_added},
                  {"faces", gallery_faces},
                  {"enrolment_failures", failures.size()},
                  {"failed_identities", failures},
                  {"ingest_errors", summary.counters.errors},
                  {"ingest_seconds", summary.seconds}};
  if (!flags.keep_data.empty()) j["gallery"]["data_dir"] = flags.keep_data;
  j["workers"] = workers;

  if (!flags.out_dir.empty()) {
    std::filesystem::create_directories(flags.out_dir);
    WriteFileAtomically(std::filesystem::path(flags.out_dir) / "report.json", j.dump(2) + "\n");
    WriteFileAtomically(std::filesystem::path(flags.out_dir) / "probes.csv", ProbeOutcomesCsv(outcomes));
    std::cerr << "wrote " << flags.out_dir << "/report.json and probes.csv\n";
  }
  if (flags.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    PrintSummary(j, report);
  }
}

}  // namespace

void RegisterEvalIdentify(CLI::App& eval) {
  auto flags = std::make_shared<IdentifyFlags>();
  auto* cmd = eval.add_subcommand(
      "identify", "Open-set 1:N identification (rank-1/rank-10, FNIR at FPIR) through a real gallery");
  cmd->footer(kProtocolHelp);
  cmd->add_option("roots", flags->roots, "Folders holding one sub-folder of images per identity")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--seed", flags->seed, "Seed of the enrolled / non-mated split")->capture_default_str();
  cmd->add_option("--enrol-fraction", flags->enrol_fraction, "Fraction of identities enrolled in the gallery")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--max-probes-per-id", flags->max_probes_per_id,
                  "Mated probes per enrolled identity, at most (0 = none: false positives only)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  cmd->add_option("--candidates", flags->candidates, "Candidate list length L searched per probe")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--fpir", flags->target_fpir, "Target FPIR of the main operating point (0.001 and 0.1 are also reported)")
      ->check(CLI::Range(1e-9, 1.0))
      ->capture_default_str();
  cmd->add_option("--workers", flags->workers, "Threads, each with its own pipeline (default: one per core)")
      ->check(CLI::Range(0, 256));
  cmd->add_option("--keep-data", flags->keep_data,
                  "Build the gallery in this new or empty folder and keep it (default: a temporary folder)");
  cmd->add_option("--out", flags->out_dir, "Folder for report.json and probes.csv (one row per probe)");
  cmd->add_flag("--json", flags->json, "Print the full JSON report");
  AddEngineFlags(cmd, &flags->engine, true);
  cmd->callback([flags] { RunIdentify(*flags); });
}

}  // namespace lineup::cli

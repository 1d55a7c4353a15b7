// lineup eval verify | eval detect: accuracy measured through the full
// pipeline, from the raw image, in the conventions of shared/README.md.
#include <iostream>
#include <map>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/progress.h"
#include "eval/detection_eval.h"
#include "eval/identity_pairs.h"
#include "eval/pairs.h"
#include "eval/svg_plot.h"
#include "eval/verification.h"
#include "image/image_loader.h"

namespace lineup::cli {

namespace {

struct EvalFlags {
  EngineFlags engine;
  std::string pairs, root, out_dir;
  std::string wider, images;
  int limit = 0;
  bool json = false;
  bool exclude_missing = false;
  std::vector<std::string> identity_roots;
  double impostors_per_genuine = 0;
  std::string pairs_out;
};

// The face a pair list means: the largest confident face containing the
// image centre (LFW-style face-centred photos), else PrimaryFace.
size_t SubjectFace(const std::vector<FaceResult>& faces, const cv::Mat& image) {
  cv::Point2f centre(image.cols / 2.f, image.rows / 2.f);
  for (size_t i = 0; i < faces.size(); ++i) {  // faces are largest first
    if (faces[i].face.score >= kConfidentFaceScore && faces[i].face.box.contains(centre)) return i;
  }
  return PrimaryFace(faces);
}

std::optional<std::vector<float>> SubjectDescriptor(FacePipeline& pipeline, const std::string& path,
                                                    int* failures) {
  try {
    cv::Mat image = LoadImage(path);
    std::vector<FaceResult> faces = pipeline.Detect(image);
    if (faces.empty()) return std::nullopt;
    std::vector<FaceResult> one = {faces[SubjectFace(faces, image)]};
    pipeline.Embed(image, one);
    return one[0].embedding;
  } catch (const Error& e) {
    ++*failures;
    std::cerr << "warning: " << e.what() << "\n";
    return std::nullopt;
  }
}

void WriteOutputs(const std::string& dir, const std::string& stem, const nlohmann::json& report,
                  const LineChart& chart) {
  if (dir.empty()) return;
  std::filesystem::create_directories(dir);
  WriteFileAtomically(std::filesystem::path(dir) / (stem + ".json"), report.dump(2) + "\n");
  WriteFileAtomically(std::filesystem::path(dir) / (stem + ".svg"), RenderLineChartSvg(chart));
  std::cerr << "wrote " << dir << "/" << stem << ".json and " << stem << ".svg\n";
}

void RunVerify(const EvalFlags& flags) {
  std::vector<ImagePair> pairs = ReadPairsFile(flags.pairs, flags.root);
  if (flags.limit > 0 && pairs.size() > size_t(flags.limit)) pairs.resize(flags.limit);
  ModelManifest manifest = LoadManifest(flags.engine);
  FacePipeline pipeline = MakePipeline(manifest, flags.engine, true);

  std::map<std::string, std::optional<std::vector<float>>> descriptors;
  for (const auto& p : pairs) {
    descriptors[p.path_a];
    descriptors[p.path_b];
  }
  int failures = 0, no_face = 0;
  Progress progress("embedding", static_cast<int64_t>(descriptors.size()));
  for (auto& [path, descriptor] : descriptors) {
    descriptor = SubjectDescriptor(pipeline, path, &failures);
    if (!descriptor) ++no_face;
    progress.Advance();
  }
  progress.Finish();

  std::vector<ScoredPair> scored;
  for (const auto& p : pairs) {
    const auto& a = descriptors[p.path_a];
    const auto& b = descriptors[p.path_b];
    ScoredPair s;
    s.same = p.same;
    s.fold = p.fold;
    if (a && b) s.score = Similarity(*a, *b);
    scored.push_back(s);
  }
  VerificationOptions options;
  options.missing = flags.exclude_missing ? MissingScorePolicy::kExclude : MissingScorePolicy::kCountAsWrong;
  options.target_fars = {1e-4, 1e-3, 1e-2};
  VerificationReport report = EvaluateVerification(scored, options);
  nlohmann::json j = ToJson(report);
  j["model"] = ModelJson(pipeline, true);
  j["pairs_file"] = flags.pairs;
  j["images"] = descriptors.size();
  j["images_without_face"] = no_face - failures;
  j["images_unreadable"] = failures;
  LineChart chart{"ROC — " + pipeline.embedder().Id(), "false accept rate", "true accept rate",
                  {RocSeries(report, pipeline.profile().name)}, true};
  chart.y_min = 0;
  chart.y_max = 1;
  WriteOutputs(flags.out_dir, "verify", j, chart);
  if (flags.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("pairs %lld (genuine %lld, impostor %lld), images %zu, no face %d, unreadable %d\n",
              (long long)report.num_pairs, (long long)report.num_genuine_pairs,
              (long long)report.num_impostor_pairs, descriptors.size(), no_face - failures, failures);
  std::printf("%d-fold accuracy %.4f ± %.4f  (missing scores: %s)\n", int(report.folds.size()),
              report.kfold_accuracy_mean, report.kfold_accuracy_std,
              MissingScorePolicyName(report.missing_policy));
  std::printf("best threshold %.4f (accuracy %.4f), AUC %.4f\n", report.best_threshold,
              report.best_accuracy, report.auc);
  for (const TarAtFar& t : report.tar_at_far) {
    std::printf("TAR @ FAR=%g: %s\n", t.target_far,
                !t.resolvable ? "not resolvable (too few impostor pairs)"
                : t.reached   ? (std::to_string(t.tar) + " (threshold " + std::to_string(*t.threshold) + ")").c_str()
                              : "not reached");
  }
}

void RunDetect(const EvalFlags& flags) {
  std::vector<WiderImage> gt = ReadWiderGroundTruth(flags.wider);
  if (flags.limit > 0 && gt.size() > size_t(flags.limit)) gt.resize(flags.limit);
  ModelManifest manifest = LoadManifest(flags.engine);
  FacePipeline pipeline = MakePipeline(manifest, flags.engine, false);
  std::vector<std::vector<ScoredDetection>> detections;
  Progress progress("detecting", static_cast<int64_t>(gt.size()));
  int failures = 0;
  for (const WiderImage& image : gt) {
    std::vector<DetectedFace> faces;
    try {
      for (auto& f : pipeline.Detect(LoadImage((std::filesystem::path(flags.images) / image.path).string()))) {
        faces.push_back(f.face);
      }
    } catch (const Error& e) {
      ++failures;
      std::cerr << "warning: " << e.what() << "\n";
    }
    detections.push_back(ToScoredBoxes(faces));
    progress.Advance();
  }
  progress.Finish();
  nlohmann::json j = {{"model", ModelJson(pipeline, false)}, {"images_unreadable", failures}};
  LineChart chart{"Precision/recall — " + pipeline.DetectorId(), "recall", "precision", {}, false};
  chart.x_min = chart.y_min = 0;
  chart.x_max = chart.y_max = 1;
  for (double min_size : {0.0, 24.0}) {
    DetectionEvalOptions options;
    options.min_face_size = min_size;
    DetectionReport report = EvaluateDetections(gt, detections, options);
    std::string key = min_size > 0 ? "faces_24px_and_larger" : "all_faces";
    j[key] = ToJson(report);
    j[key].erase("pr_curve");
    chart.series.push_back(PrSeries(report, min_size > 0 ? "faces >= 24 px" : "all faces"));
    if (!flags.json) {
      std::printf("%-22s AP@0.5 %.4f  (positives %lld, ignored %lld, detections %lld)\n",
                  key.c_str(), report.average_precision, (long long)report.num_positives,
                  (long long)report.num_ignored_gt, (long long)report.num_detections);
    }
  }
  WriteOutputs(flags.out_dir, "detect", j, chart);
  if (flags.json) std::cout << j.dump(2) << "\n";
}

void RunMakePairs(const EvalFlags& flags) {
  std::vector<std::filesystem::path> roots(flags.identity_roots.begin(), flags.identity_roots.end());
  IdentityPairOptions options;
  options.impostors_per_genuine = flags.impostors_per_genuine;
  std::vector<ImagePair> pairs = MakeIdentityPairs(roots, options);
  size_t genuine = std::count_if(pairs.begin(), pairs.end(), [](const ImagePair& p) { return p.same; });
  WriteFileAtomically(flags.pairs_out, PairsToCsv(pairs));
  std::printf("wrote %zu pairs (%zu genuine, %zu impostor) to %s\n", pairs.size(), genuine,
              pairs.size() - genuine, flags.pairs_out.c_str());
}

}  // namespace

void RegisterEval(CLI::App& app) {
  auto flags = std::make_shared<EvalFlags>();
  auto* eval = app.add_subcommand("eval", "Measure accuracy on labelled data");
  eval->require_subcommand(1);
  RegisterEvalIdentify(*eval);
  RegisterEvalFairness(*eval);

  auto* verify = eval->add_subcommand(
      "verify", "Verification accuracy on image pairs (10-fold, TAR@FAR, ROC)");
  verify->add_option("--pairs", flags->pairs,
                     "LFW pairs.txt, or CSV img1,img2,same (optional header, optional fold column)")
      ->required()
      ->check(CLI::ExistingFile);
  verify->add_option("--root", flags->root, "Folder the pair paths are relative to")
      ->required()
      ->check(CLI::ExistingDirectory);
  verify->add_flag("--exclude-missing", flags->exclude_missing,
                   "Drop pairs where a face was not found (default: count them as errors)");
  verify->callback([flags] { RunVerify(*flags); });

  auto* detect = eval->add_subcommand("detect", "Detection AP at IoU 0.5 on WIDER FACE-format labels");
  detect->add_option("--wider", flags->wider, "Ground truth in wider_face_*_bbx_gt.txt format")
      ->required()
      ->check(CLI::ExistingFile);
  detect->add_option("--images", flags->images, "Folder the ground-truth image paths are relative to")
      ->required()
      ->check(CLI::ExistingDirectory);
  detect->callback([flags] { RunDetect(*flags); });

  auto* make_pairs = eval->add_subcommand(
      "pairs", "Make a verification pair list (CSV) from folders of ROOT/<identity>/<image>");
  make_pairs->add_option("roots", flags->identity_roots, "Folders holding one sub-folder per identity")
      ->required()
      ->check(CLI::ExistingDirectory);
  make_pairs->add_option("--out", flags->pairs_out, "CSV file to write")->required();
  make_pairs->add_option("--impostors-per-genuine", flags->impostors_per_genuine,
                         "Sample this many impostor pairs per genuine pair (default: all)");
  make_pairs->callback([flags] { RunMakePairs(*flags); });

  for (CLI::App* cmd : {verify, detect}) {
    cmd->add_option("--out", flags->out_dir, "Folder for the JSON report and SVG curve");
    cmd->add_option("--limit", flags->limit, "Use only the first N pairs / images");
    cmd->add_flag("--json", flags->json, "Print the JSON report");
    AddEngineFlags(cmd, &flags->engine, cmd == verify);
  }
}

}  // namespace lineup::cli

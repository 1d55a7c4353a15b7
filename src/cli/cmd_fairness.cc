// lineup eval fairness: verification and identification error rates at the
// operating thresholds, per group label of an evaluation set, in the manner
// of NIST IR 8280 (eval/fairness.h has the method). Each image is embedded
// once through the real pipeline (largest confident face); pairs are scored
// from the descriptors and the 1:N part searches them exhaustively.
#include <cmath>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/progress.h"
#include "eval/fairness.h"
#include "eval/fairness_pairs.h"
#include "eval/fairness_report.h"
#include "eval/fairness_search.h"
#include "eval/labels_csv.h"
#include "gallery/score_band.h"
#include "image/image_loader.h"

namespace lineup::cli {

namespace {

struct FairnessFlags {
  EngineFlags engine;
  std::string labels, root, out_dir;
  int64_t pairs_per_identity = 0;
  int64_t max_impostors = 1000000;
  uint64_t seed = 1;
  std::vector<double> target_fmrs = {1e-3};
  int64_t min_trials = 30;
  bool exclude_missing = false;
  bool no_identification = false;
  double enrol_fraction = 0.8;
  int max_probes_per_id = 10;
  int candidates = 20;
  bool json = false;
};

const char kHelp[] = R"(Labels file (CSV, header required):
  path,identity,<group column>,<group column>,...
  s1/1.pgm,s1,lab,neutral
One row per image; group columns are any labels you hold (sex, age_band,
skin_tone, capture_condition...). An empty cell means "no label in this
column". Paths are relative to --root (default: the labels file's folder).

Method (NIST IR 8280): every figure is at one fixed threshold, never re-tuned
per group. FMR per group = accepted impostor pairs with BOTH images in the
group; FNMR = rejected genuine pairs of the group; pairs across two groups
are reported separately. Thresholds: the model's score bands (strong /
possible / weak = FMR 1e-4 / 1e-3 / 1e-2, gallery/score_band.h) and, per
--target-fmr, the threshold with overall FMR <= target on this set.
Differentials: each rate / overall rate and / lowest group rate. Figures on
fewer than --min-trials trials, or an FMR on fewer than 1/FMR impostor pairs,
are "not resolvable". Pairs with an image without a face: genuine = false
non-match, impostor = correct reject (NIST FRTE), or dropped with
--exclude-missing; images without a face are counted per group.
1:N: the identities are split as by `eval identify` (seed, --enrol-fraction;
first image by file name enrolled); each probe is searched exhaustively
against the enrolled descriptors; FNIR / FPIR per group of the probe.)";

std::optional<std::vector<float>> Descriptor(FacePipeline& pipeline, const std::string& path, int64_t* unreadable) {
  try {
    cv::Mat image = LoadImage(path);
    std::vector<FaceResult> faces = pipeline.Detect(image);
    if (faces.empty()) return std::nullopt;
    std::vector<FaceResult> one = {faces[PrimaryFace(faces)]};
    pipeline.Embed(image, one);
    return one[0].embedding;
  } catch (const Error& e) {
    ++*unreadable;
    std::cerr << "warning: " << e.what() << "\n";
    return std::nullopt;
  }
}

std::vector<OperatingThreshold> BandOperatingThresholds(const std::string& model_id) {
  BandThresholds bands = BandThresholdsFor(model_id);
  if (!bands.calibrated) return {};
  const std::string origin = "score band of " + model_id + " (gallery/score_band.h): " + bands.source;
  return {{"strong", bands.strong, 1e-4, origin},
          {"possible", bands.possible, 1e-3, origin},
          {"weak", bands.weak, 1e-2, origin}};
}

// One probe outcome per probe of the split, searched against the enrolled
// images' descriptors; `index_of` maps a path to its image index.
std::vector<FairnessProbe> SearchProbes(const IdentificationSplit& split,
                                        const std::vector<std::optional<std::vector<float>>>& descriptors,
                                        const std::map<std::string, int32_t>& index_of, int candidates,
                                        int64_t* enrolment_failures) {
  std::vector<EnrolledDescriptor> gallery;
  for (const GalleryImage& g : split.gallery) {
    const auto& d = descriptors[index_of.at(g.image.string())];
    if (d) {
      gallery.push_back({g.identity, *d});
    } else {
      ++*enrolment_failures;  // its mated probes simply miss
    }
  }
  std::vector<FairnessProbe> probes;
  for (const ProbeImage& p : split.probes) {
    const int32_t i = index_of.at(p.image.string());
    probes.push_back({i, SearchExhaustive(p, descriptors[i], gallery, candidates)});
  }
  return probes;
}

std::string RateText(const Rate& r) {
  char text[96];
  if (!r.resolvable) {
    std::snprintf(text, sizeof text, "not resolvable (%lld/%lld)", (long long)r.errors, (long long)r.trials);
  } else {
    std::snprintf(text, sizeof text, "%.4g (%lld/%lld)", r.rate, (long long)r.errors, (long long)r.trials);
  }
  return text;
}

std::string RatioText(const std::optional<double>& v) {
  if (!v) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", *v);
  return text;
}

void PrintRow(const FairnessReport& report, const GroupFigures& g, int t) {
  std::printf("  %-18s %5lld img %4lld no face | FMR %-26s x%-6s | FNMR %-24s x%-6s", g.value.c_str(),
              (long long)g.images, (long long)g.images_without_face, RateText(g.fmr[t]).c_str(),
              RatioText(g.fmr[t].ratio_to_overall).c_str(), RateText(g.fnmr[t]).c_str(),
              RatioText(g.fnmr[t].ratio_to_overall).c_str());
  if (report.identification) {
    std::printf(" | FNIR %-22s FPIR %s", RateText(g.fnir[t]).c_str(), RateText(g.fpir[t]).c_str());
  }
  std::printf("\n");
}

void PrintSummary(const nlohmann::json& j, const FairnessReport& report) {
  std::printf("model: profile %s, %s + %s\n", j["model"]["profile"].get<std::string>().c_str(),
              j["model"]["detector"].get<std::string>().c_str(), j["model"]["embedder"].get<std::string>().c_str());
  std::printf("images %lld (without a face %lld, of them unreadable %lld), identities %lld\n",
              (long long)report.overall.images, (long long)report.overall.images_without_face,
              (long long)j["images_unreadable"], (long long)report.overall.identities);
  std::printf("pairs: genuine %lld of %lld, impostor %lld of %lld (missing scores: %s)\n",
              (long long)j["pairs"]["genuine_used"], (long long)j["pairs"]["genuine_available"],
              (long long)j["pairs"]["impostor_used"], (long long)j["pairs"]["impostor_available"],
              MissingScorePolicyName(report.missing));
  for (const OperatingThreshold& t : report.thresholds) {
    std::printf("threshold %-22s %.4f  (%s)\n", t.name.c_str(), t.value, t.origin.c_str());
  }
  for (const std::string& note : report.notes) std::printf("note: %s\n", note.c_str());
  for (size_t t = 0; t < report.thresholds.size(); ++t) {
    std::printf("\nat %s (%.4f); FMR over same-group impostors, x = ratio to overall\n",
                report.thresholds[t].name.c_str(), report.thresholds[t].value);
    PrintRow(report, report.overall, static_cast<int>(t));
    for (const std::string& column : report.group_columns) {
      std::printf(" by %s:\n", column.c_str());
      for (const GroupFigures& g : report.groups) {
        if (g.column == column) PrintRow(report, g, static_cast<int>(t));
      }
    }
  }
}

void RunFairness(const FairnessFlags& flags) {
  const std::filesystem::path labels_path = flags.labels;
  const std::filesystem::path root =
      flags.root.empty() ? std::filesystem::absolute(labels_path).parent_path() : std::filesystem::path(flags.root);
  LabelledSet set = ReadLabelsCsv(labels_path, root);
  for (double f : flags.target_fmrs) {
    if (!(f > 0 && f < 1)) throw Error(Context("--target-fmr", "must be between 0 and 1"));
  }

  std::vector<std::string> identities;
  std::map<std::string, int32_t> index_of;
  for (size_t i = 0; i < set.images.size(); ++i) {
    identities.push_back(set.images[i].identity);
    index_of[set.images[i].path] = static_cast<int32_t>(i);
  }
  FairnessPairOptions pair_options;
  pair_options.genuine_per_identity = flags.pairs_per_identity;
  pair_options.max_impostors = flags.max_impostors;
  pair_options.seed = flags.seed;
  FairnessPairs pairs = MakeFairnessPairs(identities, pair_options);
  if (pairs.impostor_used == 0) throw Error(Context(flags.labels, "needs images of at least two identities"));

  ModelManifest manifest = LoadManifest(flags.engine);
  FacePipeline pipeline = MakePipeline(manifest, flags.engine, true);
  FairnessOptions options;
  options.thresholds = BandOperatingThresholds(pipeline.embedder().Id());
  options.target_fmrs = flags.target_fmrs;
  options.missing = flags.exclude_missing ? MissingScorePolicy::kExclude : MissingScorePolicy::kCountAsRejected;
  options.min_trials = flags.min_trials;
  options.candidates = flags.candidates;
  if (options.thresholds.empty() && options.target_fmrs.empty()) {
    throw Error(Context(pipeline.embedder().Id(), "has no calibrated score bands; give --target-fmr"));
  }

  // Every image once, in file order.
  std::vector<std::optional<std::vector<float>>> descriptors(set.images.size());
  std::vector<FairnessImage> images(set.images.size());
  int64_t unreadable = 0;
  Progress progress("embedding", static_cast<int64_t>(set.images.size()));
  for (size_t i = 0; i < set.images.size(); ++i) {
    descriptors[i] = Descriptor(pipeline, set.images[i].path, &unreadable);
    images[i] = {set.images[i].identity, set.images[i].groups, descriptors[i].has_value()};
    progress.Advance();
  }
  progress.Finish();

  std::vector<ScoredIndexPair> scored;
  scored.reserve(pairs.pairs.size());
  for (const IndexPair& p : pairs.pairs) {
    ScoredIndexPair s{p.a, p.b, p.same, std::nullopt};
    if (descriptors[p.a] && descriptors[p.b]) s.score = Similarity(*descriptors[p.a], *descriptors[p.b]);
    scored.push_back(s);
  }

  std::vector<FairnessProbe> probes;
  IdentificationSplit split;
  int64_t enrolment_failures = 0;
  if (!flags.no_identification) {
    IdentificationSplitOptions split_options;
    split_options.enrol_fraction = flags.enrol_fraction;
    split_options.max_probes_per_id = flags.max_probes_per_id;
    split_options.seed = flags.seed;
    split = SplitLabelledSet(set, split_options);
    probes = SearchProbes(split, descriptors, index_of, flags.candidates, &enrolment_failures);
  }
  FairnessReport report = EvaluateFairness(set.group_columns, images, scored, probes, options);

  nlohmann::json context = {{"labels_file", flags.labels},
                            {"root", root.string()},
                            {"images", set.images.size()},
                            {"images_unreadable", unreadable},
                            {"genuine_pairs", pairs.genuine_used},
                            {"impostor_pairs", pairs.impostor_used},
                            {"seed", flags.seed}};
  nlohmann::json model = ModelJson(pipeline, true);
  for (auto it = model.begin(); it != model.end(); ++it) context[it.key()] = *it;
  nlohmann::json j = ToJson(report);
  j["model"] = model;
  j["labels_file"] = flags.labels;
  j["root"] = root.string();
  j["images_unreadable"] = unreadable;
  j["pairs"] = {{"genuine_available", pairs.genuine_available}, {"genuine_used", pairs.genuine_used},
                {"impostor_available", pairs.impostor_available}, {"impostor_used", pairs.impostor_used},
                {"pairs_per_identity", flags.pairs_per_identity}, {"max_impostors", flags.max_impostors},
                {"seed", flags.seed}};
  if (!flags.no_identification) {
    j["identification_protocol"] = {{"enrol_fraction", flags.enrol_fraction},
                                    {"max_probes_per_id", flags.max_probes_per_id},
                                    {"candidates", flags.candidates},
                                    {"enrolled_identities", split.enrolled.size()},
                                    {"non_mated_identities", split.non_mated.size()},
                                    {"enrolment_failures", enrolment_failures},
                                    {"search", "exhaustive over one descriptor per enrolled identity"}};
    context["enrolled_identities"] = split.enrolled.size();
    context["non_mated_identities"] = split.non_mated.size();
    context["enrolment_failures"] = enrolment_failures;
  }
  if (!flags.out_dir.empty()) {
    const std::filesystem::path dir = flags.out_dir;
    std::filesystem::create_directories(dir);
    WriteFileAtomically(dir / "report.json", j.dump(2) + "\n");
    WriteFileAtomically(dir / "report.csv", FairnessCsv(report));
    WriteFileAtomically(dir / "report.html", FairnessHtml(report, context));
    std::cerr << "wrote " << flags.out_dir << "/report.json, report.csv and report.html\n";
  }
  if (flags.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    PrintSummary(j, report);
  }
}

}  // namespace

void RegisterEvalFairness(CLI::App& eval) {
  auto flags = std::make_shared<FairnessFlags>();
  auto* cmd = eval.add_subcommand(
      "fairness", "Accuracy and fairness report: FMR / FNMR (and FNIR / FPIR) per group label at the operating thresholds");
  cmd->footer(kHelp);
  cmd->add_option("--labels", flags->labels, "CSV path,identity,<group columns...> (header required; see below)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--root", flags->root, "Folder the image paths are relative to (default: the labels file's folder)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", flags->out_dir, "Folder for report.json, report.csv and report.html");
  cmd->add_option("--pairs-per-identity", flags->pairs_per_identity,
                  "Genuine pairs per identity, at most (seeded sample; 0 = all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-impostors", flags->max_impostors,
                  "Impostor pairs, at most (seeded uniform sample; 0 = all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--seed", flags->seed, "Seed of the pair sampling and the gallery / probe split")->capture_default_str();
  cmd->add_option("--target-fmr", flags->target_fmrs,
                  "Also report at the threshold where this set's overall FMR <= F (repeatable)")
      ->capture_default_str();
  cmd->add_option("--min-trials", flags->min_trials, "Fewest trials behind a reported rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--exclude-missing", flags->exclude_missing,
                "Drop pairs with an image without a face (default: genuine = false non-match, impostor = reject)");
  cmd->add_flag("--no-identification", flags->no_identification, "Skip the 1:N part");
  cmd->add_option("--enrol-fraction", flags->enrol_fraction, "1:N: fraction of identities enrolled")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--max-probes-per-id", flags->max_probes_per_id, "1:N: mated probes per enrolled identity, at most")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  cmd->add_option("--candidates", flags->candidates, "1:N: candidate list length L")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print the full JSON report");
  AddEngineFlags(cmd, &flags->engine, true);
  cmd->callback([flags] { RunFairness(*flags); });
}

}  // namespace lineup::cli

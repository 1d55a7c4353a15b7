#include "eval/verification.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace lineup {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A pair ready for evaluation: missing scores are already mapped to +-inf, so
// that every finite threshold classifies them the way the policy asks.
struct Sample {
  double score = 0;
  bool same = false;
  int fold = 0;
};

// One way to split the samples: those with score >= threshold are accepted.
struct Cut {
  double threshold = 0;
  int64_t accepted_genuine = 0;
  int64_t accepted_impostor = 0;
};

struct ClassCounts {
  int64_t genuine = 0, impostor = 0;
};

ClassCounts CountClasses(const std::vector<Sample>& samples) {
  ClassCounts counts;
  for (const Sample& s : samples) (s.same ? counts.genuine : counts.impostor)++;
  return counts;
}

// Midpoint strictly above `lower` (falls back to `upper` for adjacent doubles).
double Midpoint(double upper, double lower) {
  double mid = upper / 2 + lower / 2;
  return mid > lower ? mid : upper;
}

// All candidate cuts in order of decreasing threshold (increasing acceptance):
// "reject all finite scores", then one cut per distinct finite score down to
// "accept all finite scores". Samples at +inf are always accepted, -inf never.
std::vector<Cut> SweepThresholds(std::vector<Sample> samples) {
  std::sort(samples.begin(), samples.end(),
            [](const Sample& a, const Sample& b) { return a.score > b.score; });
  std::vector<Cut> cuts;
  Cut cut;
  size_t i = 0;
  auto take = [&](const Sample& s) { (s.same ? cut.accepted_genuine : cut.accepted_impostor)++; };
  while (i < samples.size() && samples[i].score == kInf) take(samples[i++]);
  if (i == samples.size() || !std::isfinite(samples[i].score)) {
    cut.threshold = 0;  // no finite score: every threshold splits the same way
    cuts.push_back(cut);
    return cuts;
  }
  cut.threshold = std::nextafter(samples[i].score, kInf);
  cuts.push_back(cut);
  while (i < samples.size() && std::isfinite(samples[i].score)) {
    const double value = samples[i].score;
    while (i < samples.size() && samples[i].score == value) take(samples[i++]);
    const bool lower_exists = i < samples.size() && std::isfinite(samples[i].score);
    cut.threshold = lower_exists ? Midpoint(value, samples[i].score) : value;
    cuts.push_back(cut);
  }
  return cuts;
}

int64_t CorrectAt(const Cut& cut, const ClassCounts& counts) {
  return cut.accepted_genuine + (counts.impostor - cut.accepted_impostor);
}

// The cut with the most correct decisions; ties go to the lowest threshold.
Cut BestCut(const std::vector<Cut>& cuts, const ClassCounts& counts) {
  Cut best = cuts.front();
  for (const Cut& cut : cuts) {
    if (CorrectAt(cut, counts) >= CorrectAt(best, counts)) best = cut;
  }
  return best;
}

double Ratio(int64_t part, int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// Maps input pairs to samples under the policy and fills the count fields.
std::vector<Sample> PrepareSamples(const std::vector<ScoredPair>& pairs,
                                   const VerificationOptions& options,
                                   VerificationReport* report) {
  size_t with_fold = 0;
  for (const ScoredPair& p : pairs) with_fold += p.fold >= 0 ? 1 : 0;
  if (with_fold != 0 && with_fold != pairs.size()) {
    throw Error("verification: " + std::to_string(with_fold) + " of " +
                std::to_string(pairs.size()) + " pairs have a fold; need all or none");
  }
  report->folds_assigned = with_fold == 0;
  if (report->folds_assigned && options.num_folds < 2) {
    throw Error("verification: num_folds must be at least 2, got " +
                std::to_string(options.num_folds));
  }
  std::vector<Sample> samples;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const ScoredPair& p = pairs[i];
    Sample s;
    s.same = p.same;
    // Interleaved assignment by input position, so exclusions do not shift folds.
    s.fold = report->folds_assigned ? static_cast<int>(i % options.num_folds) : p.fold;
    if (p.score && !std::isfinite(*p.score)) {
      throw Error("verification: pair " + std::to_string(i) + " has a non-finite score");
    }
    if (p.score) {
      s.score = *p.score;
    } else {
      (p.same ? report->num_missing_genuine : report->num_missing_impostor)++;
      if (options.missing == MissingScorePolicy::kExclude) continue;
      const bool wrong = options.missing == MissingScorePolicy::kCountAsWrong;
      s.score = (wrong && !p.same) ? kInf : -kInf;
    }
    samples.push_back(s);
  }
  return samples;
}

void EvaluateFolds(const std::vector<Sample>& samples, VerificationReport* report) {
  std::set<int> folds;  // only folds that have pairs; empty ones are skipped
  for (const Sample& s : samples) folds.insert(s.fold);
  double sum = 0, sum_sq = 0;
  for (int fold : folds) {
    std::vector<Sample> train, test;
    for (const Sample& s : samples) (s.fold == fold ? test : train).push_back(s);
    FoldResult result;
    result.fold = fold;
    result.num_pairs = static_cast<int64_t>(test.size());
    result.threshold = BestCut(SweepThresholds(train), CountClasses(train)).threshold;
    int64_t correct = 0;
    for (const Sample& s : test) correct += ((s.score >= result.threshold) == s.same) ? 1 : 0;
    result.accuracy = Ratio(correct, result.num_pairs);
    sum += result.accuracy;
    sum_sq += result.accuracy * result.accuracy;
    report->folds.push_back(result);
  }
  const double k = static_cast<double>(report->folds.size());
  report->kfold_accuracy_mean = sum / k;
  const double variance = sum_sq / k - report->kfold_accuracy_mean * report->kfold_accuracy_mean;
  report->kfold_accuracy_std = std::sqrt(std::max(0.0, variance));
}

std::vector<TarAtFar> ComputeTarAtFar(const std::vector<RocPoint>& roc,
                                      const std::vector<double>& target_fars,
                                      int64_t num_impostors) {
  std::vector<TarAtFar> results;
  for (double target : target_fars) {
    TarAtFar r;
    r.target_far = target;
    r.resolvable = static_cast<double>(num_impostors) * target >= 1.0 - 1e-9;
    for (const RocPoint& point : roc) {  // TAR grows along the curve
      if (point.far > target) continue;
      if (!r.reached || point.tar >= r.tar) {
        r.reached = true;
        r.tar = point.tar;
        r.far = point.far;
        r.threshold = point.threshold;
      }
    }
    results.push_back(r);
  }
  return results;
}

// P(genuine score > impostor score) + P(equal) / 2, by one pass over sorted scores.
double MannWhitneyAuc(std::vector<Sample> samples, const ClassCounts& counts) {
  if (counts.genuine == 0 || counts.impostor == 0) return kNaN;
  std::sort(samples.begin(), samples.end(),
            [](const Sample& a, const Sample& b) { return a.score < b.score; });
  double wins = 0, ties = 0;
  int64_t impostors_below = 0;
  size_t i = 0;
  while (i < samples.size()) {
    int64_t genuine_here = 0, impostor_here = 0;
    const double value = samples[i].score;
    for (; i < samples.size() && samples[i].score == value; ++i) {
      (samples[i].same ? genuine_here : impostor_here)++;
    }
    wins += static_cast<double>(genuine_here) * static_cast<double>(impostors_below);
    ties += static_cast<double>(genuine_here) * static_cast<double>(impostor_here);
    impostors_below += impostor_here;
  }
  return (wins + ties / 2) /
         (static_cast<double>(counts.genuine) * static_cast<double>(counts.impostor));
}

}  // namespace

const char* MissingScorePolicyName(MissingScorePolicy policy) {
  switch (policy) {
    case MissingScorePolicy::kCountAsWrong: return "count_as_wrong";
    case MissingScorePolicy::kCountAsRejected: return "count_as_rejected";
    case MissingScorePolicy::kExclude: return "exclude";
  }
  return "unknown";
}

VerificationReport EvaluateVerification(const std::vector<ScoredPair>& pairs,
                                        const VerificationOptions& options) {
  VerificationReport report;
  report.missing_policy = options.missing;
  report.num_pairs = static_cast<int64_t>(pairs.size());
  std::vector<Sample> samples = PrepareSamples(pairs, options, &report);
  if (samples.empty()) {
    throw Error("verification: no pairs to evaluate (" + std::to_string(pairs.size()) +
                " given, all excluded or none)");
  }
  const ClassCounts counts = CountClasses(samples);
  report.num_evaluated = static_cast<int64_t>(samples.size());
  report.num_genuine_pairs = counts.genuine;
  report.num_impostor_pairs = counts.impostor;

  EvaluateFolds(samples, &report);

  const std::vector<Cut> cuts = SweepThresholds(samples);
  const Cut best = BestCut(cuts, counts);
  report.best_threshold = best.threshold;
  report.best_accuracy = Ratio(CorrectAt(best, counts), report.num_evaluated);
  for (const Cut& cut : cuts) {
    report.roc.push_back({Ratio(cut.accepted_impostor, counts.impostor),
                          Ratio(cut.accepted_genuine, counts.genuine), cut.threshold});
  }
  report.tar_at_far = ComputeTarAtFar(report.roc, options.target_fars, counts.impostor);
  report.auc = MannWhitneyAuc(samples, counts);
  return report;
}

nlohmann::json ToJson(const VerificationReport& report) {
  using nlohmann::json;
  auto number_or_null = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json folds = json::array();
  for (const FoldResult& f : report.folds) {
    folds.push_back({{"fold", f.fold},
                     {"pairs", f.num_pairs},
                     {"threshold", f.threshold},
                     {"accuracy", f.accuracy}});
  }
  json tars = json::array();
  for (const TarAtFar& t : report.tar_at_far) {
    tars.push_back({{"target_far", t.target_far},
                    {"resolvable", t.resolvable},
                    {"reached", t.reached},
                    {"tar", t.tar},
                    {"far", t.far},
                    {"threshold", t.threshold ? json(*t.threshold) : json(nullptr)}});
  }
  json roc = json::array();
  for (const RocPoint& p : report.roc) roc.push_back({{"far", p.far}, {"tar", p.tar},
                                                      {"threshold", p.threshold}});
  return {
      {"pairs", report.num_pairs},
      {"missing_policy", MissingScorePolicyName(report.missing_policy)},
      {"missing_genuine", report.num_missing_genuine},
      {"missing_impostor", report.num_missing_impostor},
      {"evaluated_pairs", report.num_evaluated},
      {"genuine_pairs", report.num_genuine_pairs},
      {"impostor_pairs", report.num_impostor_pairs},
      {"kfold",
       {{"folds_assigned", report.folds_assigned ? "interleaved" : "from_pairs"},
        {"accuracy_mean", report.kfold_accuracy_mean},
        {"accuracy_std", report.kfold_accuracy_std},
        {"folds", folds}}},
      {"best_threshold", report.best_threshold},
      {"best_accuracy", report.best_accuracy},
      {"auc", number_or_null(report.auc)},
      {"tar_at_far", tars},
      {"roc", roc},
  };
}

LineSeries RocSeries(const VerificationReport& report, const std::string& name) {
  LineSeries series;
  series.name = name;
  for (const RocPoint& p : report.roc) series.points.push_back({p.far, p.tar});
  return series;
}

}  // namespace lineup

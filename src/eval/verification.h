// Verification metrics over scored pairs (score = similarity, higher = more
// alike). Conventions, chosen to match published LFW-style figures:
//
// - A threshold t ACCEPTS a pair ("same person") iff score >= t. Candidate
//   thresholds are the lowest finite score (accept all), the midpoints between
//   consecutive distinct finite scores, and the next double above the highest
//   finite score (reject all). Where several thresholds tie on accuracy the
//   lowest one is chosen.
// - k-fold accuracy (LFW protocol): for each fold, the threshold is chosen on
//   the other folds to maximise their accuracy, then applied to the fold. We
//   report the mean and the POPULATION standard deviation (divide by k, as
//   numpy.std) over folds. Folds come from the pairs when every pair has one;
//   when none has, pair i goes to fold i % k (INTERLEAVED, so lists sorted by
//   label still give every fold both classes). Folds with no pairs are skipped.
// - ROC points come in order of decreasing threshold (increasing FAR).
//   TAR@FAR=f is the highest TAR of any threshold whose FAR <= f (no
//   interpolation). f is only meaningful when impostors * f >= 1; `resolvable`
//   says so.
// - AUC is the Mann-Whitney statistic P(genuine > impostor) + P(tie) / 2, which
//   equals the trapezoidal area under the full ROC curve.
// - Pairs without a score (no face found) follow MissingScorePolicy; see there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "eval/svg_plot.h"

namespace lineup {

struct ScoredPair {
  std::optional<double> score;  // empty when either image gave no face
  bool same = false;            // genuine (same person) or impostor
  int fold = -1;                // 0-based fold, or -1 to let the evaluator assign one
};

enum class MissingScorePolicy {
  // Always misclassified: a genuine pair is rejected and an impostor pair
  // accepted at every threshold (so FAR never drops below missing impostors /
  // impostors). The strict choice for "what would a user see".
  kCountAsWrong,
  // Always rejected (as NIST FRTE treats failures to enrol): a genuine pair is
  // a false reject, an impostor pair a correct reject.
  kCountAsRejected,
  // Dropped before any metric is computed; only counted.
  kExclude,
};

struct VerificationOptions {
  MissingScorePolicy missing = MissingScorePolicy::kCountAsWrong;
  int num_folds = 10;  // used only when the pairs carry no folds
  std::vector<double> target_fars = {1e-3, 1e-2};
};

struct FoldResult {
  int fold = 0;
  int64_t num_pairs = 0;
  double threshold = 0;  // chosen on the other folds
  double accuracy = 0;   // on this fold
};

struct RocPoint {
  double far = 0, tar = 0, threshold = 0;
};

struct TarAtFar {
  double target_far = 0;
  bool resolvable = false;          // num_impostor_pairs * target_far >= 1
  bool reached = false;             // some threshold has FAR <= target_far
  double tar = 0;                   // 0 when not reached
  double far = 0;                   // FAR actually achieved at `threshold`
  std::optional<double> threshold;  // empty when not reached
};

struct VerificationReport {
  MissingScorePolicy missing_policy = MissingScorePolicy::kCountAsWrong;
  // Counts over the input, before any exclusion.
  int64_t num_pairs = 0;
  int64_t num_missing_genuine = 0;
  int64_t num_missing_impostor = 0;
  // Counts of the pairs the metrics below are computed on.
  int64_t num_evaluated = 0;
  int64_t num_genuine_pairs = 0;
  int64_t num_impostor_pairs = 0;

  bool folds_assigned = false;  // true when folds were assigned here (interleaved)
  std::vector<FoldResult> folds;
  double kfold_accuracy_mean = 0;
  double kfold_accuracy_std = 0;

  // The single threshold that maximises accuracy over all pairs (optimistic).
  double best_threshold = 0;
  double best_accuracy = 0;

  std::vector<RocPoint> roc;
  std::vector<TarAtFar> tar_at_far;
  double auc = 0;
};

// Throws Error when there is nothing to evaluate (no pairs left), or when some
// pairs have folds and others do not, or num_folds < 2.
VerificationReport EvaluateVerification(const std::vector<ScoredPair>& pairs,
                                        const VerificationOptions& options = {});

const char* MissingScorePolicyName(MissingScorePolicy policy);

// JSON for `--json` output (all fields above, ROC included).
nlohmann::json ToJson(const VerificationReport& report);

// The ROC curve as a chart series (x = FAR, y = TAR); points with FAR = 0 are
// kept, a log-x chart drops them.
LineSeries RocSeries(const VerificationReport& report, const std::string& name);

}  // namespace lineup

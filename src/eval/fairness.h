// Accuracy and fairness figures (`lineup eval fairness`): verification and
// identification error rates at fixed operating thresholds, broken down by
// the group labels of an evaluation set, reported the way NIST IR 8280
// (FRVT Part 3: Demographic Effects, 2019) reports demographic differentials.
//
// Method
//  - Every figure is an error count over a trial count at ONE fixed
//    threshold T (a pair is accepted, "same person", iff score >= T), never a
//    threshold re-tuned per group: a differential is what one deployed
//    threshold does to different groups.
//  - Verification, per group value v of a group column:
//      FMR(v)  = accepted impostor pairs / impostor pairs with BOTH images
//                in v (same-group impostors, where NIST IR 8280 finds the
//                large false-match differentials);
//      FNMR(v) = rejected genuine pairs / genuine pairs with both images in v.
//    Pairs with images in two different values v < w of a column go to the
//    cross-group cell (v, w) of that column, with its own FMR and FNMR (the
//    off-diagonal of NIST IR 8280's cross-group FMR matrices). An image with
//    an empty label in a column takes no part in that column.
//  - Overall figures use every pair (and every probe).
//  - Pairs without a score (an image gave no face) follow MissingScorePolicy
//    (eval/verification.h); the default, kCountAsRejected, is the NIST FRTE
//    rule: a genuine pair is a false non-match, an impostor pair a correct
//    rejection, and both stay in the trial counts.
//  - Identification (optional), per group of the PROBE image: FNIR(T) =
//    mated probes whose mate is not among the candidates scoring >= T;
//    FPIR(T) = non-mated probes whose top candidate scores >= T; rank-1
//    identification rate (threshold-free), computed by
//    EvaluateIdentification. Definitions as eval/identification.h.
//  - Differentials: each group's rate as a ratio to the overall rate and to
//    the lowest rate of any resolvable group of the same column (NIST IR 8280
//    plots the same ratios on log axes). A ratio is given only when both
//    figures are resolvable and the divisor is above zero.
//  - Resolvable: a rate is reported only when it rests on enough trials:
//    trials >= min_trials, and for an FMR also trials x nominal FMR >= 1
//    (a threshold for FMR 1e-3 needs at least 1,000 impostor pairs before an
//    observed 0 means anything). Unresolvable figures keep their counts but
//    carry resolvable = false and no ratios ("not resolvable", never "0").
//  - Each rate also carries its Wilson 95% score interval.
//  - Operating thresholds: fixed ones given by the caller (the score-band
//    thresholds of the model, gallery/score_band.h), plus, for each target
//    FMR, the threshold at which the OVERALL FMR of this set is at most the
//    target (the lowest such threshold, from EvaluateVerification's ROC);
//    a target the set cannot resolve or reach adds a note instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eval/identification.h"
#include "eval/verification.h"

namespace lineup {

struct OperatingThreshold {
  std::string name;        // "possible", "FMR 0.001 on this set", ...
  double value = 0;        // accept iff score >= value
  double nominal_fmr = 0;  // the FMR it stands for; 0 = none (only min_trials applies)
  std::string origin;      // where the value comes from
};

struct FairnessImage {
  std::string identity;
  std::vector<std::string> groups;  // one per group column; "" = no label
  bool face_found = false;
};

struct ScoredIndexPair {
  int32_t a = 0, b = 0;         // image indices
  bool same = false;            // genuine or impostor
  std::optional<double> score;  // empty when either image gave no face
};

struct FairnessProbe {
  int32_t image = 0;  // index of the probe image
  ProbeOutcome outcome;
};

struct FairnessOptions {
  std::vector<OperatingThreshold> thresholds;  // fixed thresholds, in report order
  std::vector<double> target_fmrs;             // each adds a threshold set on this set
  MissingScorePolicy missing = MissingScorePolicy::kCountAsRejected;
  int64_t min_trials = 30;
  int candidates = 20;  // candidate list length the probes were searched with
};

struct Rate {
  int64_t errors = 0, trials = 0;
  double rate = 0;                         // errors / trials; 0 without trials
  double ci_low = 0, ci_high = 1;          // Wilson 95% interval
  bool resolvable = false;
  std::optional<double> ratio_to_overall;  // rate / overall rate
  std::optional<double> ratio_to_best;     // rate / lowest resolvable rate of the column
};

// Figures of one group value (or of the whole set: column "", value "all").
// The Rate vectors have one entry per report threshold, in that order.
struct GroupFigures {
  std::string column, value;
  int64_t images = 0, images_without_face = 0, identities = 0;
  int64_t genuine_without_score = 0, impostor_without_score = 0;
  std::vector<Rate> fmr, fnmr;
  int64_t mated_probes = 0, non_mated_probes = 0;
  int64_t mated_without_face = 0, non_mated_without_face = 0;
  std::vector<Rate> fnir, fpir;
  std::optional<double> rank1;  // with at least one mated probe
};

// Pairs with one image in value_a and one in value_b (value_a < value_b).
struct CrossGroupFigures {
  std::string column, value_a, value_b;
  std::vector<Rate> fmr, fnmr;
};

struct FairnessReport {
  std::vector<std::string> group_columns;
  std::vector<OperatingThreshold> thresholds;  // fixed ones, then those set on this set
  std::vector<std::string> notes;
  MissingScorePolicy missing = MissingScorePolicy::kCountAsRejected;
  int64_t min_trials = 0;
  bool identification = false;  // probes were given
  GroupFigures overall;
  std::vector<GroupFigures> groups;       // by column (input order), then value (sorted)
  std::vector<CrossGroupFigures> cross;   // by column, then (value_a, value_b)
};

// Throws Error when there are no pairs, a pair or probe names an image out of
// range, an image's label count differs from the columns, a threshold is not
// finite or options are out of range.
FairnessReport EvaluateFairness(const std::vector<std::string>& group_columns,
                                const std::vector<FairnessImage>& images,
                                const std::vector<ScoredIndexPair>& pairs,
                                const std::vector<FairnessProbe>& probes,
                                const FairnessOptions& options);

// Wilson score interval for errors / trials at z = 1.96; [0, 1] without trials.
void WilsonInterval(int64_t errors, int64_t trials, double* low, double* high);

}  // namespace lineup

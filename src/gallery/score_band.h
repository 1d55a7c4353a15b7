// Score bands: what a similarity score means, in words an investigator can
// act on, derived from measured false-match rates of the embedder.
//
//   strong    score >= threshold at FMR 1e-4 (1 impostor pair in 10,000 scores this high)
//   possible  score >= threshold at FMR 1e-3 (the model's "same person" threshold)
//   weak      score >= threshold at FMR 1e-2
//   unlikely  below
//
// In a 1:N search the chance that SOME impostor in a gallery of N reaches a
// band is about N x FMR, which is why every candidate is an investigative
// lead for human review and never an identification. Models without measured
// thresholds get "uncalibrated" bands (every candidate kUncalibrated).
#pragma once

#include <optional>
#include <string>

namespace lineup {

enum class ScoreBand { kStrong, kPossible, kWeak, kUnlikely, kUncalibrated };

struct BandThresholds {
  bool calibrated = false;
  double strong = 0, possible = 0, weak = 0;
  std::string source;  // where the numbers were measured
};

std::string ToString(ScoreBand band);
ScoreBand BandOf(double score, const BandThresholds& thresholds);

// Measured thresholds for the built-in embedders (by model id); uncalibrated
// for any other id.
BandThresholds BandThresholdsFor(const std::string& model_id);

}  // namespace lineup

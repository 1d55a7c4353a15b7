#include "gallery/score_band.h"

namespace lineup {

namespace {

// Thresholds (cosine similarity) at which the given false-match rate was
// measured through the full pipeline with `lineup eval verify` (FAR column of
// its report). Where two sets disagree, the higher (more conservative)
// threshold is used. docs/ACCURACY.md gives the commands.
//   ORL (78,000 impostor pairs):          MobileFaceNet 0.614 / 0.515 / 0.423;  dlib 0.943 / 0.937 / 0.922
//   celebrities + TV (7,854 impostors):   MobileFaceNet   -   / 0.514 / 0.395;  dlib   -   / 0.930 / 0.912
// (FMR 1e-4 / 1e-3 / 1e-2; 7,854 impostor pairs cannot resolve 1e-4.) Rounded up to the
// next 0.005 or 0.01.
constexpr char kSource[] =
    "FMR 1e-4 / 1e-3 / 1e-2 thresholds from lineup eval verify on ORL (78,000 impostor pairs) and "
    "celebrity + TV crops (7,854), 2026-11-23; small sets: re-calibrate on your own data";

}  // namespace

std::string ToString(ScoreBand band) {
  switch (band) {
    case ScoreBand::kStrong: return "strong";
    case ScoreBand::kPossible: return "possible";
    case ScoreBand::kWeak: return "weak";
    case ScoreBand::kUnlikely: return "unlikely";
    case ScoreBand::kUncalibrated: return "uncalibrated";
  }
  return "uncalibrated";
}

ScoreBand BandOf(double score, const BandThresholds& t) {
  if (!t.calibrated) return ScoreBand::kUncalibrated;
  if (score >= t.strong) return ScoreBand::kStrong;
  if (score >= t.possible) return ScoreBand::kPossible;
  if (score >= t.weak) return ScoreBand::kWeak;
  return ScoreBand::kUnlikely;
}

BandThresholds BandThresholdsFor(const std::string& model_id) {
  if (model_id == "mobilefacenet-192") return {true, 0.62, 0.52, 0.43, kSource};
  if (model_id == "dlib-resnet-128") return {true, 0.945, 0.937, 0.922, kSource};
  return {};
}

}  // namespace lineup

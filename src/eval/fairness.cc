#include "eval/fairness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "common/error.h"

namespace lineup {

namespace {

struct Tally {
  int64_t errors = 0, trials = 0;
};

// Per-threshold tallies: one Tally per report threshold.
using Tallies = std::vector<Tally>;

// The distinct non-empty values of each column and each image's value index
// (-1 = no label). Invariant: values[c] is sorted and value_of[c][i] indexes it.
struct GroupIndex {
  std::vector<std::vector<std::string>> values;
  std::vector<std::vector<int>> value_of;
};

GroupIndex IndexGroups(size_t columns, const std::vector<FairnessImage>& images) {
  GroupIndex index;
  index.values.resize(columns);
  index.value_of.assign(columns, std::vector<int>(images.size(), -1));
  for (size_t c = 0; c < columns; ++c) {
    std::map<std::string, int> number;
    for (const FairnessImage& image : images) {
      if (!image.groups[c].empty()) number.emplace(image.groups[c], 0);
    }
    int next = 0;
    for (auto& [value, n] : number) {
      n = next++;
      index.values[c].push_back(value);
    }
    for (size_t i = 0; i < images.size(); ++i) {
      if (!images[i].groups[c].empty()) index.value_of[c][i] = number[images[i].groups[c]];
    }
  }
  return index;
}

std::string FormatFmr(double f) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", f);
  return text;
}

// Adds one threshold per resolvable, reachable target FMR, chosen on all
// pairs by EvaluateVerification (lowest threshold with overall FMR <= target).
void AddTargetThresholds(const std::vector<ScoredIndexPair>& pairs, const FairnessOptions& options,
                         FairnessReport* report) {
  if (options.target_fmrs.empty()) return;
  std::vector<ScoredPair> scored;
  scored.reserve(pairs.size());
  for (const ScoredIndexPair& p : pairs) scored.push_back({p.score, p.same, -1});
  VerificationOptions verification;
  verification.missing = options.missing;
  verification.target_fars = options.target_fmrs;
  VerificationReport roc = EvaluateVerification(scored, verification);
  for (const TarAtFar& t : roc.tar_at_far) {
    const std::string name = "FMR " + FormatFmr(t.target_far) + " on this set";
    if (!t.resolvable) {
      report->notes.push_back(name + ": not resolvable (" + std::to_string(roc.num_impostor_pairs) +
                              " impostor pairs; needs at least " +
                              std::to_string(static_cast<int64_t>(std::ceil(1 / t.target_far - 1e-9))) + ")");
    } else if (!t.reached || !t.threshold) {
      report->notes.push_back(name + ": no threshold reaches it");
    } else {
      report->thresholds.push_back({name, *t.threshold, t.target_far,
                                    "set here: the lowest threshold with overall FMR <= " +
                                        FormatFmr(t.target_far) + " on this set's impostor pairs"});
    }
  }
}

bool PairAccepted(const ScoredIndexPair& p, double threshold, MissingScorePolicy missing) {
  if (p.score) return *p.score >= threshold;
  return missing == MissingScorePolicy::kCountAsWrong && !p.same;  // see MissingScorePolicy
}

void Count(const ScoredIndexPair& p, const std::vector<double>& thresholds, MissingScorePolicy missing,
           Tallies* tallies) {
  for (size_t t = 0; t < thresholds.size(); ++t) {
    const bool accepted = PairAccepted(p, thresholds[t], missing);
    (*tallies)[t].trials++;
    (*tallies)[t].errors += p.same ? !accepted : accepted;
  }
}

bool Resolvable(const Tally& tally, double nominal_fmr, int64_t min_trials) {
  if (tally.trials < min_trials || tally.trials == 0) return false;
  return nominal_fmr <= 0 || double(tally.trials) * nominal_fmr >= 1.0 - 1e-9;
}

std::vector<Rate> ToRates(const Tallies& tallies, const std::vector<double>& nominal_fmrs, int64_t min_trials) {
  std::vector<Rate> rates;
  for (size_t t = 0; t < tallies.size(); ++t) {
    Rate r;
    r.errors = tallies[t].errors;
    r.trials = tallies[t].trials;
    r.rate = r.trials > 0 ? double(r.errors) / double(r.trials) : 0;
    WilsonInterval(r.errors, r.trials, &r.ci_low, &r.ci_high);
    r.resolvable = Resolvable(tallies[t], nominal_fmrs[t], min_trials);
    rates.push_back(r);
  }
  return rates;
}

// Ratios of each group's rate to the overall rate and to the column's best,
// for the Rate vectors that `member` selects.
void SetRatios(std::vector<Rate> GroupFigures::*member, FairnessReport* report) {
  const std::vector<Rate>& overall = report->overall.*member;
  for (size_t t = 0; t < overall.size(); ++t) {
    std::map<std::string, double> best;  // column -> lowest resolvable rate
    for (const GroupFigures& g : report->groups) {
      const Rate& r = (g.*member)[t];
      if (!r.resolvable) continue;
      auto it = best.find(g.column);
      if (it == best.end() || r.rate < it->second) best[g.column] = r.rate;
    }
    for (GroupFigures& g : report->groups) {
      Rate& r = (g.*member)[t];
      if (!r.resolvable) continue;
      if (overall[t].resolvable && overall[t].rate > 0) r.ratio_to_overall = r.rate / overall[t].rate;
      if (best[g.column] > 0) r.ratio_to_best = r.rate / best[g.column];
    }
    Rate& all = (report->overall.*member)[t];
    if (all.resolvable && all.rate > 0) all.ratio_to_overall = 1.0;
  }
}

// Identification figures of the probes `members` into `g`.
void FillIdentification(const std::vector<const ProbeOutcome*>& members, const std::vector<double>& thresholds,
                        const FairnessOptions& options, GroupFigures* g) {
  Tallies fnir(thresholds.size()), fpir(thresholds.size());
  std::vector<ProbeOutcome> outcomes;
  for (const ProbeOutcome* p : members) {
    outcomes.push_back(*p);
    (p->mated ? g->mated_probes : g->non_mated_probes)++;
    if (!p->face_found) (p->mated ? g->mated_without_face : g->non_mated_without_face)++;
    for (size_t t = 0; t < thresholds.size(); ++t) {
      if (p->mated) {
        const bool found = p->mate_rank.has_value() && p->mate_score >= thresholds[t];
        fnir[t].trials++;
        fnir[t].errors += !found;
      } else {
        fpir[t].trials++;
        fpir[t].errors += p->face_found && p->top_score >= thresholds[t];  // kNoScore never passes
      }
    }
  }
  const std::vector<double> no_nominal(thresholds.size(), 0.0);
  g->fnir = ToRates(fnir, no_nominal, options.min_trials);
  g->fpir = ToRates(fpir, no_nominal, options.min_trials);
  if (g->mated_probes > 0) {
    IdentificationOptions id_options;
    id_options.candidates = options.candidates;
    id_options.ranks = {1};
    id_options.target_fpirs = {};
    IdentificationReport r = EvaluateIdentification(outcomes, id_options);
    if (!r.rank_rates.empty()) g->rank1 = r.rank_rates.front().rate;
  }
}

void Validate(const std::vector<std::string>& columns, const std::vector<FairnessImage>& images,
              const std::vector<ScoredIndexPair>& pairs, const std::vector<FairnessProbe>& probes,
              const FairnessOptions& options) {
  if (pairs.empty()) throw Error("fairness: no pairs to evaluate");
  if (options.min_trials < 1) throw Error(Context("fairness", "min_trials must be at least 1"));
  if (options.candidates < 1) throw Error(Context("fairness", "candidates must be at least 1"));
  for (size_t i = 0; i < images.size(); ++i) {
    if (images[i].groups.size() != columns.size()) {
      throw Error("fairness: image " + std::to_string(i) + " has " + std::to_string(images[i].groups.size()) +
                  " group labels for " + std::to_string(columns.size()) + " columns");
    }
  }
  const auto n = static_cast<int64_t>(images.size());
  for (const ScoredIndexPair& p : pairs) {
    if (p.a < 0 || p.b < 0 || p.a >= n || p.b >= n || p.a == p.b) {
      throw Error("fairness: pair (" + std::to_string(p.a) + ", " + std::to_string(p.b) +
                  ") does not name two images of " + std::to_string(n));
    }
    if (p.score && !std::isfinite(*p.score)) throw Error("fairness: a pair has a non-finite score");
  }
  for (const FairnessProbe& probe : probes) {
    if (probe.image < 0 || probe.image >= n) {
      throw Error("fairness: probe image " + std::to_string(probe.image) + " out of range");
    }
  }
  for (const OperatingThreshold& t : options.thresholds) {
    if (!std::isfinite(t.value)) throw Error(Context("threshold " + t.name, "must be finite"));
  }
}

}  // namespace

void WilsonInterval(int64_t errors, int64_t trials, double* low, double* high) {
  if (trials <= 0) {
    *low = 0;
    *high = 1;
    return;
  }
  constexpr double z = 1.959963984540054;
  const double n = double(trials), p = double(errors) / n, z2 = z * z;
  const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
  *low = std::max(0.0, centre - half);
  *high = std::min(1.0, centre + half);
  if (errors == 0) *low = 0;       // exact at the ends (rounding aside)
  if (errors == trials) *high = 1;
}

FairnessReport EvaluateFairness(const std::vector<std::string>& group_columns,
                                const std::vector<FairnessImage>& images,
                                const std::vector<ScoredIndexPair>& pairs,
                                const std::vector<FairnessProbe>& probes,
                                const FairnessOptions& options) {
  Validate(group_columns, images, pairs, probes, options);
  FairnessReport report;
  report.group_columns = group_columns;
  report.thresholds = options.thresholds;
  report.missing = options.missing;
  report.min_trials = options.min_trials;
  report.identification = !probes.empty();
  AddTargetThresholds(pairs, options, &report);
  std::vector<double> values, nominal;
  for (const OperatingThreshold& t : report.thresholds) {
    values.push_back(t.value);
    nominal.push_back(t.nominal_fmr);
  }
  const size_t T = values.size();
  const size_t C = group_columns.size();
  const GroupIndex index = IndexGroups(C, images);

  // Tallies: overall; per column and value; per column and value pair (a < b).
  Tallies all_genuine(T), all_impostor(T);
  std::vector<std::vector<Tallies>> genuine(C), impostor(C);
  std::vector<std::vector<Tallies>> cross_genuine(C), cross_impostor(C);  // [c][a * V + b]
  std::vector<std::vector<int64_t>> genuine_missing(C), impostor_missing(C);
  for (size_t c = 0; c < C; ++c) {
    const size_t V = index.values[c].size();
    genuine[c].assign(V, Tallies(T));
    impostor[c].assign(V, Tallies(T));
    cross_genuine[c].assign(V * V, Tallies(T));
    cross_impostor[c].assign(V * V, Tallies(T));
    genuine_missing[c].assign(V, 0);
    impostor_missing[c].assign(V, 0);
  }
  GroupFigures& overall = report.overall;
  for (const ScoredIndexPair& p : pairs) {
    if (!p.score) {
      (p.same ? overall.genuine_without_score : overall.impostor_without_score)++;
      for (size_t c = 0; c < C; ++c) {
        const int va = index.value_of[c][p.a], vb = index.value_of[c][p.b];
        if (va >= 0 && va == vb) (p.same ? genuine_missing : impostor_missing)[c][va]++;
      }
      if (options.missing == MissingScorePolicy::kExclude) continue;
    }
    Count(p, values, options.missing, p.same ? &all_genuine : &all_impostor);
    for (size_t c = 0; c < C; ++c) {
      int va = index.value_of[c][p.a], vb = index.value_of[c][p.b];
      if (va < 0 || vb < 0) continue;
      if (va == vb) {
        Count(p, values, options.missing, &(p.same ? genuine : impostor)[c][va]);
        continue;
      }
      if (va > vb) std::swap(va, vb);
      const size_t V = index.values[c].size();
      Count(p, values, options.missing, &(p.same ? cross_genuine : cross_impostor)[c][va * V + vb]);
    }
  }

  const std::vector<double> no_nominal(T, 0.0);
  overall.column = "";
  overall.value = "all";
  overall.fmr = ToRates(all_impostor, nominal, options.min_trials);
  overall.fnmr = ToRates(all_genuine, no_nominal, options.min_trials);
  std::map<std::string, int> identities_all;
  for (const FairnessImage& image : images) {
    overall.images++;
    overall.images_without_face += !image.face_found;
    identities_all[image.identity]++;
  }
  overall.identities = static_cast<int64_t>(identities_all.size());

  std::vector<std::vector<std::vector<const ProbeOutcome*>>> probes_of(C);
  std::vector<const ProbeOutcome*> all_probes;
  for (size_t c = 0; c < C; ++c) probes_of[c].resize(index.values[c].size());
  for (const FairnessProbe& probe : probes) {
    all_probes.push_back(&probe.outcome);
    for (size_t c = 0; c < C; ++c) {
      const int v = index.value_of[c][probe.image];
      if (v >= 0) probes_of[c][v].push_back(&probe.outcome);
    }
  }
  if (report.identification) FillIdentification(all_probes, values, options, &overall);

  for (size_t c = 0; c < C; ++c) {
    const size_t V = index.values[c].size();
    for (size_t v = 0; v < V; ++v) {
      GroupFigures g;
      g.column = group_columns[c];
      g.value = index.values[c][v];
      std::map<std::string, int> identities;
      for (size_t i = 0; i < images.size(); ++i) {
        if (index.value_of[c][i] != int(v)) continue;
        g.images++;
        g.images_without_face += !images[i].face_found;
        identities[images[i].identity]++;
      }
      g.identities = static_cast<int64_t>(identities.size());
      g.genuine_without_score = genuine_missing[c][v];
      g.impostor_without_score = impostor_missing[c][v];
      g.fmr = ToRates(impostor[c][v], nominal, options.min_trials);
      g.fnmr = ToRates(genuine[c][v], no_nominal, options.min_trials);
      if (report.identification) FillIdentification(probes_of[c][v], values, options, &g);
      report.groups.push_back(std::move(g));
    }
    for (size_t a = 0; a < V; ++a) {
      for (size_t b = a + 1; b < V; ++b) {
        CrossGroupFigures x;
        x.column = group_columns[c];
        x.value_a = index.values[c][a];
        x.value_b = index.values[c][b];
        x.fmr = ToRates(cross_impostor[c][a * V + b], nominal, options.min_trials);
        x.fnmr = ToRates(cross_genuine[c][a * V + b], no_nominal, options.min_trials);
        report.cross.push_back(std::move(x));
      }
    }
  }
  SetRatios(&GroupFigures::fmr, &report);
  SetRatios(&GroupFigures::fnmr, &report);
  if (report.identification) {
    SetRatios(&GroupFigures::fnir, &report);
    SetRatios(&GroupFigures::fpir, &report);
  }
  return report;
}

}  // namespace lineup

#include "eval/identification.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "common/ascii.h"
#include "common/error.h"
#include "ingest/ingest_input.h"

namespace lineup {

namespace {

// Fixed mixing functions (not std::hash) so that a split is the same on
// every machine and every build.
uint64_t Fnv1a64(uint64_t hash, const unsigned char* bytes, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string QuotedCsv(const std::string& field) {
  std::string quoted = "\"";
  for (char c : field) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

// Number of identities enrolled out of `count` (rounded half up).
size_t EnrolledCount(double fraction, size_t count) {
  return std::min(count, static_cast<size_t>(std::floor(fraction * double(count) + 0.5 + 1e-9)));
}

std::string FormatScore(float score) {
  if (!std::isfinite(score)) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%.6f", score);
  return text;
}

double Fraction(int64_t part, int64_t whole) { return whole > 0 ? double(part) / double(whole) : 0; }

// The operating point at `target` over the non-mated top scores (finite only,
// sorted descending) and the mated outcomes.
OperatingPoint PointAtFpir(double target, const std::vector<float>& non_mated_tops,
                           int64_t non_mated, const std::vector<const ProbeOutcome*>& mated) {
  OperatingPoint point;
  point.target_fpir = target;
  point.resolvable = double(non_mated) * target >= 1.0 - 1e-9;
  if (!point.resolvable) return point;
  // At most `allowed` non-mated probes may reach T.
  size_t allowed = static_cast<size_t>(std::floor(target * double(non_mated) + 1e-9));
  float threshold = -std::numeric_limits<float>::infinity();
  if (allowed < non_mated_tops.size()) {
    threshold = std::nextafter(non_mated_tops[allowed], std::numeric_limits<float>::infinity());
  }
  point.threshold = threshold;
  point.false_positives = std::count_if(non_mated_tops.begin(), non_mated_tops.end(),
                                        [&](float s) { return s >= threshold; });
  point.fpir = Fraction(point.false_positives, non_mated);
  int64_t misses = 0, misses_rank1 = 0;
  for (const ProbeOutcome* p : mated) {
    bool found = p->mate_rank.has_value() && p->mate_score >= threshold;
    misses += !found;
    misses_rank1 += !(found && *p->mate_rank == 1);
  }
  point.fnir = Fraction(misses, int64_t(mated.size()));
  point.fnir_rank1 = Fraction(misses_rank1, int64_t(mated.size()));
  return point;
}

}  // namespace

bool IsEvalImageFile(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  if (name.empty() || name[0] == '.') return false;
  static const std::set<std::string> kPnm = {".pgm", ".ppm", ".pnm", ".pbm"};
  return HasImageExtension(path) || kPnm.count(ToLowerAscii(path.extension().string())) > 0;
}

std::vector<IdentityImages> ListIdentityImages(const std::vector<std::filesystem::path>& roots) {
  std::map<std::string, std::vector<std::filesystem::path>> by_identity;
  for (const auto& root : roots) {
    if (!std::filesystem::is_directory(root)) throw Error(Context(root.string(), "not a folder"));
    for (const auto& dir : std::filesystem::directory_iterator(root)) {
      if (!dir.is_directory()) continue;
      std::string identity = dir.path().filename().string();
      if (identity.empty() || identity[0] == '.') continue;
      for (const auto& file : std::filesystem::directory_iterator(dir.path())) {
        if (file.is_regular_file() && IsEvalImageFile(file.path())) {
          by_identity[identity].push_back(std::filesystem::absolute(file.path()).lexically_normal());
        }
      }
    }
  }
  return SortedIdentities(std::move(by_identity));
}

std::vector<IdentityImages> SortedIdentities(std::map<std::string, std::vector<std::filesystem::path>> by_identity) {
  std::vector<IdentityImages> identities;
  for (auto& [identity, images] : by_identity) {
    std::sort(images.begin(), images.end(), [](const auto& a, const auto& b) {
      return std::make_pair(a.filename().string(), a.string()) <
             std::make_pair(b.filename().string(), b.string());
    });
    identities.push_back({identity, std::move(images)});
  }
  return identities;
}

uint64_t EnrolmentKey(uint64_t seed, const std::string& identity) {
  unsigned char seed_bytes[8];
  for (int i = 0; i < 8; ++i) seed_bytes[i] = static_cast<unsigned char>(seed >> (8 * i));
  uint64_t hash = Fnv1a64(0xcbf29ce484222325ULL, seed_bytes, sizeof seed_bytes);
  hash = Fnv1a64(hash, reinterpret_cast<const unsigned char*>(identity.data()), identity.size());
  return SplitMix64(hash);
}

IdentificationSplit SplitIdentities(const std::vector<IdentityImages>& identities,
                                    const IdentificationSplitOptions& options) {
  if (!(options.enrol_fraction >= 0 && options.enrol_fraction <= 1)) {
    throw Error(Context("--enrol-fraction", "must be between 0 and 1"));
  }
  if (options.max_probes_per_id < 0) {
    throw Error(Context("--max-probes-per-id", "must not be negative"));
  }
  std::vector<const IdentityImages*> usable;
  std::set<std::string> names;
  for (const auto& id : identities) {
    if (id.images.empty()) continue;
    if (!names.insert(id.identity).second) {
      throw Error(Context(id.identity, "identity listed twice (merge its images into one entry)"));
    }
    usable.push_back(&id);
  }
  std::vector<std::pair<uint64_t, const IdentityImages*>> keyed;
  for (const IdentityImages* id : usable) keyed.emplace_back(EnrolmentKey(options.seed, id->identity), id);
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first, a.second->identity) < std::tie(b.first, b.second->identity);
  });
  std::set<std::string> enrolled;
  size_t enrol_count = EnrolledCount(options.enrol_fraction, keyed.size());
  for (size_t i = 0; i < enrol_count; ++i) enrolled.insert(keyed[i].second->identity);

  IdentificationSplit split;
  std::sort(usable.begin(), usable.end(),
            [](const auto* a, const auto* b) { return a->identity < b->identity; });
  for (const IdentityImages* id : usable) {
    if (!enrolled.count(id->identity)) {
      split.non_mated.push_back(id->identity);
      split.probes.push_back({id->identity, id->images.front(), false});
      continue;
    }
    split.enrolled.push_back(id->identity);
    split.gallery.push_back({id->identity, id->images.front()});
    size_t probes = std::min(id->images.size() - 1, size_t(options.max_probes_per_id));
    for (size_t i = 1; i <= probes; ++i) split.probes.push_back({id->identity, id->images[i], true});
  }
  return split;
}

std::string GalleryManifestCsv(const IdentificationSplit& split) {
  std::string csv = "path,title\n";
  for (const GalleryImage& g : split.gallery) {
    csv += QuotedCsv(g.image.string()) + "," + QuotedCsv(g.identity) + "\n";
  }
  return csv;
}

IdentificationReport EvaluateIdentification(const std::vector<ProbeOutcome>& outcomes,
                                            const IdentificationOptions& options) {
  if (outcomes.empty()) throw Error("identification: no probes to evaluate");
  if (options.candidates < 1) throw Error(Context("--candidates", "must be at least 1"));
  for (double f : options.target_fpirs) {
    if (!(f > 0 && f <= 1)) throw Error(Context("target FPIR", "must be in (0, 1]"));
  }
  IdentificationReport report;
  report.candidates = options.candidates;
  std::vector<const ProbeOutcome*> mated;
  std::vector<float> non_mated_tops;  // finite top scores of non-mated probes
  double search_seconds = 0, total_seconds = 0;
  int64_t with_face = 0;
  for (const ProbeOutcome& p : outcomes) {
    report.unreadable += !p.error.empty();
    total_seconds += p.total_seconds;
    if (p.face_found) {
      ++with_face;
      search_seconds += p.search_seconds;
    }
    if (p.mated) {
      ++report.mated;
      report.mated_without_face += !p.face_found;
      mated.push_back(&p);
    } else {
      ++report.non_mated;
      report.non_mated_without_face += !p.face_found;
      if (p.face_found && std::isfinite(p.top_score)) non_mated_tops.push_back(p.top_score);
    }
  }
  std::sort(non_mated_tops.begin(), non_mated_tops.end(), std::greater<float>());
  report.mean_search_seconds = with_face > 0 ? search_seconds / double(with_face) : 0;
  report.mean_total_seconds = total_seconds / double(outcomes.size());

  report.cmc.assign(options.candidates, 0.0);
  if (report.mated > 0) {
    std::vector<int64_t> hits_at(options.candidates + 1, 0);
    for (const ProbeOutcome* p : mated) {
      if (p->mate_rank && *p->mate_rank >= 1 && *p->mate_rank <= options.candidates) {
        ++hits_at[*p->mate_rank];
      }
    }
    int64_t cumulative = 0;
    for (int k = 1; k <= options.candidates; ++k) {
      cumulative += hits_at[k];
      report.cmc[k - 1] = Fraction(cumulative, report.mated);
    }
  }
  for (int k : options.ranks) {
    if (k >= 1 && k <= options.candidates) report.rank_rates.push_back({k, report.cmc[k - 1]});
  }
  for (double f : options.target_fpirs) {
    report.operating_points.push_back(PointAtFpir(f, non_mated_tops, report.non_mated, mated));
  }
  return report;
}

nlohmann::json ToJson(const IdentificationReport& r) {
  nlohmann::json ranks = nlohmann::json::object();
  for (const RankRate& rr : r.rank_rates) ranks["rank" + std::to_string(rr.rank)] = rr.rate;
  nlohmann::json points = nlohmann::json::array();
  for (const OperatingPoint& p : r.operating_points) {
    nlohmann::json j = {{"target_fpir", p.target_fpir}, {"resolvable", p.resolvable}};
    if (p.resolvable) {
      // JSON has no infinity: null means "every candidate passes".
      j["threshold"] = std::isfinite(p.threshold) ? nlohmann::json(p.threshold) : nlohmann::json();
      j["fpir"] = p.fpir;
      j["false_positives"] = p.false_positives;
      j["fnir"] = p.fnir;
      j["fnir_rank1"] = p.fnir_rank1;
    }
    points.push_back(j);
  }
  return {{"candidates", r.candidates},
          {"mated_probes", r.mated},
          {"non_mated_probes", r.non_mated},
          {"mated_without_face", r.mated_without_face},
          {"non_mated_without_face", r.non_mated_without_face},
          {"unreadable_probes", r.unreadable},
          {"identification_rate", ranks},
          {"cmc", r.cmc},
          {"operating_points", points},
          {"mean_search_seconds", r.mean_search_seconds},
          {"mean_probe_seconds", r.mean_total_seconds}};
}

std::string ProbeOutcomesCsv(const std::vector<ProbeOutcome>& outcomes) {
  std::string csv = "probe,identity,mated,face_found,mate_rank,mate_score,top_score,top_identity\n";
  for (const ProbeOutcome& p : outcomes) {
    csv += QuotedCsv(p.image.string()) + "," + QuotedCsv(p.identity) + "," + (p.mated ? "1" : "0") +
           "," + (p.face_found ? "1" : "0") + "," +
           (p.mate_rank ? std::to_string(*p.mate_rank) : std::string()) + "," +
           FormatScore(p.mate_rank ? p.mate_score : kNoScore) + "," + FormatScore(p.top_score) +
           "," + QuotedCsv(p.top_identity) + "\n";
  }
  return csv;
}

}  // namespace lineup

// Open-set 1:N identification benchmark (`lineup eval identify`): the split of
// identity-labelled folders into a gallery and probes, and the metrics of the
// probes' candidate lists, in the conventions of NIST IR 8271 (FRTE 1:N).
// The command (src/cli/cmd_identify.cc) runs the real ingest and real
// searches in between; everything here is pure and testable on its own.
//
// Protocol
//  - Input: one or more roots, each ROOT/<identity>/<image files>. The
//    identity is the folder name; the same name under two roots is the same
//    identity. Images are the files directly inside the identity folder with
//    an image extension (ingest's list plus .pgm/.ppm/.pnm), hidden files
//    excluded; an identity folder without images is ignored.
//  - Split (seeded, reproducible on any machine): every identity gets the key
//    SplitMix64(FNV-1a-64(seed, name)); identities in order of (key, name),
//    the first round(enrol_fraction x N) are ENROLLED, the others are
//    NON-MATED. The fraction is therefore exact and the choice is independent
//    of the folder order. Images of an identity are sorted by file name (then
//    full path, for names repeated across roots).
//  - An enrolled identity puts its first image in the gallery and up to
//    max_probes_per_id of its next images (in that order) in the probe set as
//    MATED probes. A non-mated identity contributes only its first image, as
//    a NON-MATED probe (one per identity keeps them independent).
//    Invariants: no identity is both enrolled and non-mated; no gallery image
//    is a probe; each image is used at most once.
//  - Gallery: every enrolled image is ingested with title = identity; every
//    face the ingest keeps is searchable under that title. An enrolled image
//    from which no face was kept is an enrolment failure; its mated probes
//    simply miss.
//  - Each probe: detect, take PrimaryFace (largest confident face), embed,
//    search the top L candidates (L = `candidates`). A candidate is a MATE
//    when its title equals the probe's identity; mate_rank is the rank of the
//    best-ranked mate. A probe without a face has no candidates: a miss when
//    mated, never a false positive when non-mated.
//
// Metrics (the threshold T applies to candidate scores, cosine similarity)
//  - Rank-k identification rate (CMC) over mated probes: mate_rank <= k.
//    Only k <= L is reported.
//  - FPIR(T): fraction of non-mated probes whose top candidate scores >= T.
//  - For each target FPIR f: T is the smallest threshold with FPIR(T) <= f.
//    With n non-mated probes, at most floor(f x n) may score >= T, so T is the
//    next float above the (floor(f x n) + 1)-th highest non-mated top score
//    (ties at that score are all rejected, so the FPIR achieved can be lower
//    than f); -infinity when fewer non-mated probes than that have a
//    candidate. f is RESOLVABLE only when n >= 1 / f; otherwise it is
//    reported as not resolvable and no T is chosen.
//  - FNIR(T): fraction of mated probes whose mate is not among the (at most
//    L) candidates scoring >= T. FNIR at rank 1: the mate must also be the
//    top candidate.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lineup {

// --- input and split

struct IdentityImages {
  std::string identity;                        // folder name
  std::vector<std::filesystem::path> images;   // absolute, sorted by (file name, path)
};

// Identities under `roots` (merged by folder name), sorted by name. Throws
// Error if a root is not a folder.
std::vector<IdentityImages> ListIdentityImages(const std::vector<std::filesystem::path>& roots);

// The identities of a by-name map, sorted by name, each one's images sorted
// by (file name, path): the order every split and report relies on.
std::vector<IdentityImages> SortedIdentities(std::map<std::string, std::vector<std::filesystem::path>> by_identity);

// True for the files ListIdentityImages takes as images.
bool IsEvalImageFile(const std::filesystem::path& path);

struct IdentificationSplitOptions {
  double enrol_fraction = 0.8;   // in [0, 1]
  int max_probes_per_id = 10;    // mated probes per enrolled identity; >= 0
  uint64_t seed = 1;
};

struct GalleryImage {
  std::string identity;
  std::filesystem::path image;
};

struct ProbeImage {
  std::string identity;
  std::filesystem::path image;
  bool mated = false;            // the identity is enrolled
};

struct IdentificationSplit {
  std::vector<GalleryImage> gallery;     // one per enrolled identity, by identity name
  std::vector<ProbeImage> probes;        // mated and non-mated, by identity name then image
  std::vector<std::string> enrolled;     // identity names, sorted
  std::vector<std::string> non_mated;    // identity names, sorted
};

// The seeded key that orders identities for enrolment (see the protocol).
uint64_t EnrolmentKey(uint64_t seed, const std::string& identity);

// Throws Error on options out of range.
IdentificationSplit SplitIdentities(const std::vector<IdentityImages>& identities,
                                    const IdentificationSplitOptions& options);

// The ingest manifest of the gallery: CSV with header "path,title", every
// field quoted (RFC 4180, '"' doubled), one row per gallery image.
std::string GalleryManifestCsv(const IdentificationSplit& split);

// --- outcomes and metrics

inline constexpr float kNoScore = -std::numeric_limits<float>::infinity();

// What one probe's search returned.
struct ProbeOutcome {
  std::string identity;
  std::filesystem::path image;
  bool mated = false;
  bool face_found = false;
  std::string error;                   // non-empty: the probe could not be read (counts as no face)
  std::optional<int> mate_rank;        // 1-based rank of the best-ranked mate, if any
  float mate_score = kNoScore;         // its score
  float top_score = kNoScore;          // top candidate's score; kNoScore without candidates
  std::string top_identity;            // top candidate's title; "" without candidates
  double search_seconds = 0;           // Gallery::Search only
  double total_seconds = 0;            // load + detect + embed + search
};

struct IdentificationOptions {
  int candidates = 20;                           // L, the candidate list length searched
  std::vector<int> ranks = {1, 10};              // rank-k rates reported (k <= L)
  std::vector<double> target_fpirs = {0.01, 0.001, 0.1};
};

struct RankRate {
  int rank = 0;
  double rate = 0;        // mated probes with mate_rank <= rank / mated probes
};

struct OperatingPoint {
  double target_fpir = 0;
  bool resolvable = false;                 // non-mated probes >= 1 / target
  double threshold = 0;                    // T (may be -infinity); meaningful if resolvable
  double fpir = 0;                         // achieved FPIR(T)
  double fnir = 0;                         // mate among candidates >= T
  double fnir_rank1 = 0;                   // mate at rank 1 and >= T
  int64_t false_positives = 0;             // non-mated probes with top >= T
};

struct IdentificationReport {
  int candidates = 0;
  int64_t mated = 0;
  int64_t non_mated = 0;
  int64_t mated_without_face = 0;
  int64_t non_mated_without_face = 0;
  int64_t unreadable = 0;                  // probes with an error (included in without_face)
  std::vector<RankRate> rank_rates;        // one per reportable requested rank
  std::vector<double> cmc;                 // cmc[k-1] = rank-k rate, k = 1..L
  std::vector<OperatingPoint> operating_points;
  double mean_search_seconds = 0;          // over probes with a face
  double mean_total_seconds = 0;           // over all probes
};

// Throws Error when there are no probes or options are out of range.
IdentificationReport EvaluateIdentification(const std::vector<ProbeOutcome>& outcomes,
                                            const IdentificationOptions& options);

nlohmann::json ToJson(const IdentificationReport& report);

// One row per probe: probe,identity,mated,face_found,mate_rank,mate_score,
// top_score,top_identity (empty cells where there is no value), quoted as
// GalleryManifestCsv.
std::string ProbeOutcomesCsv(const std::vector<ProbeOutcome>& outcomes);

}  // namespace lineup

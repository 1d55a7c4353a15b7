// Which image pairs a fairness evaluation compares, as indices into a list of
// identity-labelled images (no paths, no scores: the caller embeds each image
// once and scores the pairs from the descriptors).
//
// - Genuine pairs: every unordered pair of two images of the same identity;
//   when an identity has more than `genuine_per_identity` of them, a seeded
//   uniform sample of exactly that many (0 = no cap).
// - Impostor pairs: every unordered pair of images of different identities;
//   when there are more than `max_impostors`, a seeded uniform sample of
//   exactly that many, without replacement (0 = no cap). The sample is drawn
//   by selection sampling (Knuth's Algorithm S) over the pairs in (a, b)
//   order, so time is linear in the number of image pairs and memory in the
//   number kept.
// Invariants of the result: a < b in every pair; no pair twice; genuine pairs
// come first, then impostors, each in (a, b) order. The same inputs and seed
// give the same pairs on every machine (std::mt19937_64, fixed algorithm).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lineup {

struct IndexPair {
  int32_t a = 0, b = 0;  // indices into the image list, a < b
  bool same = false;     // genuine (same identity) or impostor
};

struct FairnessPairOptions {
  int64_t genuine_per_identity = 0;  // 0 = every genuine pair
  int64_t max_impostors = 1000000;   // 0 = every impostor pair
  uint64_t seed = 1;
};

struct FairnessPairs {
  std::vector<IndexPair> pairs;
  int64_t genuine_available = 0;   // genuine pairs before the cap
  int64_t impostor_available = 0;  // impostor pairs before the cap
  int64_t genuine_used = 0;
  int64_t impostor_used = 0;
};

// `identities[i]` is the identity of image i. Throws Error on negative caps
// or more than 2^31 - 1 images.
FairnessPairs MakeFairnessPairs(const std::vector<std::string>& identities,
                                const FairnessPairOptions& options);

}  // namespace lineup

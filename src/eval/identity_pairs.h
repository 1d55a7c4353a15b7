// Pair lists made from identity-labelled folders (root/<identity>/<image>),
// for verification benchmarks on sets that ship without a pairs file: every
// genuine pair, and impostor pairs sampled uniformly (seeded, reproducible).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "eval/pairs.h"

namespace lineup {

struct IdentityPairOptions {
  // Impostor pairs to draw per genuine pair (0 = every impostor pair).
  double impostors_per_genuine = 0;
  uint64_t seed = 1;
  int num_folds = 10;  // folds assigned round-robin over identities' pairs
};

// Images are files with an image extension directly inside root/<identity>/;
// identities with the same folder name under different roots are merged.
// Paths in the result are absolute. Throws Error if a root is not a folder.
std::vector<ImagePair> MakeIdentityPairs(const std::vector<std::filesystem::path>& roots,
                                         const IdentityPairOptions& options);

// CSV "img1,img2,same,fold" with a header row (readable by ReadPairsFile).
std::string PairsToCsv(const std::vector<ImagePair>& pairs);

}  // namespace lineup

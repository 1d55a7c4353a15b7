// Synthetic gallery content for tests that need no models: random unit
// descriptors and analysed images with a source, crops and file bytes.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "gallery/gallery.h"

namespace lineup::testing {

std::vector<float> RandomUnitVector(std::mt19937& rng, int dim);
// `v` moved by a small random step and renormalised (the same person in another photo).
std::vector<float> Near(const std::vector<float>& v, std::mt19937& rng, float step);

// An image of `collection_id` named `name` (content hash and file bytes
// derive from it) with one face per descriptor and source URL `source_url`
// ("" = no source).
AnalyzedImage SyntheticImage(int64_t collection_id, const std::string& name,
                             const std::vector<std::vector<float>>& descriptors, const std::string& source_url,
                             const std::string& page_url = "");

}  // namespace lineup::testing

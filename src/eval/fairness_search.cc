#include "eval/fairness_search.h"

#include <algorithm>
#include <map>

#include "common/error.h"

namespace lineup {

IdentificationSplit SplitLabelledSet(const LabelledSet& set, const IdentificationSplitOptions& options) {
  std::map<std::string, std::vector<std::filesystem::path>> by_identity;
  for (const LabelledImage& image : set.images) by_identity[image.identity].push_back(image.path);
  return SplitIdentities(SortedIdentities(std::move(by_identity)), options);
}

ProbeOutcome SearchExhaustive(const ProbeImage& probe, const std::optional<std::vector<float>>& descriptor,
                              const std::vector<EnrolledDescriptor>& gallery, int candidates) {
  if (candidates < 1) throw Error(Context("--candidates", "must be at least 1"));
  ProbeOutcome outcome;
  outcome.identity = probe.identity;
  outcome.image = probe.image;
  outcome.mated = probe.mated;
  outcome.face_found = descriptor.has_value();
  if (!descriptor) return outcome;
  std::vector<std::pair<float, const EnrolledDescriptor*>> scored;
  for (const EnrolledDescriptor& entry : gallery) {
    double dot = 0;
    for (size_t i = 0; i < entry.descriptor.size() && i < descriptor->size(); ++i) {
      dot += double(entry.descriptor[i]) * (*descriptor)[i];
    }
    scored.emplace_back(static_cast<float>(dot), &entry);
  }
  const size_t keep = std::min(scored.size(), size_t(candidates));
  std::partial_sort(scored.begin(), scored.begin() + keep, scored.end(), [](const auto& x, const auto& y) {
    if (x.first != y.first) return x.first > y.first;
    return x.second->identity < y.second->identity;
  });
  for (size_t rank = 0; rank < keep; ++rank) {
    const auto& [score, entry] = scored[rank];
    if (rank == 0) {
      outcome.top_score = score;
      outcome.top_identity = entry->identity;
    }
    if (!outcome.mate_rank && entry->identity == probe.identity) {
      outcome.mate_rank = static_cast<int>(rank) + 1;
      outcome.mate_score = score;
    }
  }
  return outcome;
}

}  // namespace lineup

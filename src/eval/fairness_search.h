// The 1:N part of `lineup eval fairness`, on descriptors already computed
// (each image is embedded once): the gallery / probe split of
// eval/identification.h applied to a labels file, and an exhaustive search
// of one probe descriptor against the enrolled descriptors.
//
// The search is brute force over one descriptor per enrolled identity (the
// face its gallery image gave), scored by the dot product of unit vectors
// (cosine similarity, as Gallery::Search scores). Candidates are ordered by
// score, best first, ties by identity name; the list holds at most
// `candidates` entries. Unlike `lineup eval identify` no gallery is built, so
// a bystander in a gallery photo can never be a candidate.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "eval/identification.h"
#include "eval/labels_csv.h"

namespace lineup {

// SplitIdentities over the identities of `set` (images of an identity in
// (file name, path) order, as ListIdentityImages gives them).
IdentificationSplit SplitLabelledSet(const LabelledSet& set, const IdentificationSplitOptions& options);

struct EnrolledDescriptor {
  std::string identity;
  std::vector<float> descriptor;  // unit length
};

// The outcome of searching `descriptor` (empty: the probe gave no face) for
// `probe`. Throws Error if candidates < 1.
ProbeOutcome SearchExhaustive(const ProbeImage& probe, const std::optional<std::vector<float>>& descriptor,
                              const std::vector<EnrolledDescriptor>& gallery, int candidates);

}  // namespace lineup

// Exact inner-product search over a VectorStore: the kernels and the scan
// behind ExactSearch(), RescoreExact() and FlatIndex (declared in
// vector_index.h). The scan splits slots [0, end) into one contiguous range
// per thread; each thread keeps its own top-k and the results are merged, so
// the answer does not depend on the thread count (ties: lower slot first).
#pragma once

#include <cstddef>
#include <vector>

#include "index/vector_index.h"

namespace lineup {

// Inner product of two dim-float vectors with the fastest kernel this CPU
// runs (AVX2+FMA with 8 accumulators when available).
float InnerProduct(const float* a, const float* b, int dim);

// The kernels, for tests and benchmarks. Kernels may differ in the last bits
// (summation order); each is deterministic.
enum class DotKernel { kAuto, kAvx2Fma, kTargetClones, kScalar };
float InnerProductWith(DotKernel kernel, const float* a, const float* b, int dim);
const char* DotKernelName(DotKernel kernel);  // kAuto names the kernel it resolves to

// "a ranks before b": higher score, then lower slot.
// Throws Error naming the store for a missing query or one with a non-finite
// value; every search of the store checks its query with it first.
void CheckQueryVector(const VectorStore& store, const float* query);

inline bool RanksBefore(const Neighbor& a, const Neighbor& b) {
  return a.score > b.score || (a.score == b.score && a.slot < b.slot);
}

// ExactSearch restricted to slots [0, min(end, store.size())).
std::vector<Neighbor> ExactSearchPrefix(const VectorStore& store, const float* query, size_t k,
                                        const SlotFilter& filter, size_t end, int threads = 0,
                                        DotKernel kernel = DotKernel::kAuto);

}  // namespace lineup

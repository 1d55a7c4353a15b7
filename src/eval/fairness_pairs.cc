#include "eval/fairness_pairs.h"

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <tuple>

#include "common/error.h"

namespace lineup {

namespace {

// Selection sampling: called once per candidate in order, keeps exactly
// `wanted` of `total` candidates, each subset equally likely.
class Selector {
 public:
  Selector(int64_t wanted, int64_t total, std::mt19937_64* rng)
      : needed_(wanted < total ? wanted : total), remaining_(total), rng_(rng) {}
  bool Take() {
    if (needed_ <= 0) {
      --remaining_;
      return false;
    }
    // Keep with probability needed / remaining (exactly 1 once they are equal).
    std::uniform_int_distribution<int64_t> pick(0, remaining_ - 1);
    const bool take = pick(*rng_) < needed_;
    --remaining_;
    if (take) --needed_;
    return take;
  }

 private:
  int64_t needed_, remaining_;
  std::mt19937_64* rng_;
};

}  // namespace

FairnessPairs MakeFairnessPairs(const std::vector<std::string>& identities,
                                const FairnessPairOptions& options) {
  if (options.genuine_per_identity < 0) throw Error(Context("--pairs-per-identity", "must be 0 or more"));
  if (options.max_impostors < 0) throw Error(Context("--max-impostors", "must be 0 or more"));
  if (identities.size() > size_t(std::numeric_limits<int32_t>::max())) {
    throw Error("fairness pairs: too many images (" + std::to_string(identities.size()) + ")");
  }
  const int32_t n = static_cast<int32_t>(identities.size());
  std::map<std::string, std::vector<int32_t>> by_identity;  // images in index order
  for (int32_t i = 0; i < n; ++i) by_identity[identities[i]].push_back(i);
  std::vector<int32_t> identity_of(n);  // a number per identity, for the O(n^2) loop below
  int32_t number = 0;
  for (const auto& [identity, images] : by_identity) {
    for (int32_t i : images) identity_of[i] = number;
    ++number;
  }

  FairnessPairs result;
  std::mt19937_64 rng(options.seed);
  for (const auto& [identity, images] : by_identity) {
    const int64_t k = static_cast<int64_t>(images.size());
    const int64_t available = k * (k - 1) / 2;
    result.genuine_available += available;
    const int64_t wanted = options.genuine_per_identity > 0 ? options.genuine_per_identity : available;
    Selector selector(wanted, available, &rng);
    for (int64_t x = 0; x < k; ++x) {
      for (int64_t y = x + 1; y < k; ++y) {
        if (selector.Take()) result.pairs.push_back({images[x], images[y], true});
      }
    }
  }
  std::sort(result.pairs.begin(), result.pairs.end(),
            [](const IndexPair& p, const IndexPair& q) { return std::tie(p.a, p.b) < std::tie(q.a, q.b); });
  result.genuine_used = static_cast<int64_t>(result.pairs.size());

  const int64_t all_pairs = int64_t(n) * (n - 1) / 2;
  result.impostor_available = all_pairs - result.genuine_available;
  const int64_t wanted = options.max_impostors > 0 ? options.max_impostors : result.impostor_available;
  Selector selector(wanted, result.impostor_available, &rng);
  for (int32_t a = 0; a < n; ++a) {
    for (int32_t b = a + 1; b < n; ++b) {
      if (identity_of[a] == identity_of[b]) continue;
      if (selector.Take()) result.pairs.push_back({a, b, false});
    }
  }
  result.impostor_used = static_cast<int64_t>(result.pairs.size()) - result.genuine_used;
  return result;
}

}  // namespace lineup

#include "eval/identity_pairs.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "common/error.h"

namespace lineup {

namespace {

bool IsImageFile(const std::filesystem::path& p) {
  static const std::set<std::string> kExtensions = {".jpg", ".jpeg", ".png", ".bmp", ".webp",
                                                     ".tif", ".tiff", ".pgm", ".ppm", ".pnm"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return kExtensions.count(ext) > 0;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char c : s) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

std::vector<ImagePair> MakeIdentityPairs(const std::vector<std::filesystem::path>& roots,
                                         const IdentityPairOptions& options) {
  std::map<std::string, std::vector<std::string>> by_identity;
  for (const auto& root : roots) {
    if (!std::filesystem::is_directory(root)) throw Error(Context(root.string(), "not a folder"));
    for (const auto& dir : std::filesystem::directory_iterator(root)) {
      if (!dir.is_directory()) continue;
      for (const auto& file : std::filesystem::directory_iterator(dir.path())) {
        if (file.is_regular_file() && IsImageFile(file.path())) {
          by_identity[dir.path().filename().string()].push_back(
              std::filesystem::absolute(file.path()).string());
        }
      }
    }
  }
  std::vector<std::pair<std::string, std::string>> images;  // (identity, path), sorted
  for (auto& [identity, paths] : by_identity) {
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) images.emplace_back(identity, p);
  }
  std::vector<ImagePair> genuine, impostor;
  for (size_t i = 0; i < images.size(); ++i) {
    for (size_t j = i + 1; j < images.size(); ++j) {
      bool same = images[i].first == images[j].first;
      (same ? genuine : impostor).push_back({images[i].second, images[j].second, same, -1});
    }
  }
  if (options.impostors_per_genuine > 0) {
    size_t keep = static_cast<size_t>(options.impostors_per_genuine * genuine.size());
    if (keep < impostor.size()) {
      std::mt19937_64 rng(options.seed);
      std::shuffle(impostor.begin(), impostor.end(), rng);
      impostor.resize(keep);
    }
  }
  std::vector<ImagePair> pairs = genuine;
  pairs.insert(pairs.end(), impostor.begin(), impostor.end());
  for (size_t i = 0; i < pairs.size(); ++i) pairs[i].fold = static_cast<int>(i % options.num_folds);
  return pairs;
}

std::string PairsToCsv(const std::vector<ImagePair>& pairs) {
  std::string csv = "img1,img2,same,fold\n";
  for (const auto& p : pairs) {
    csv += CsvField(p.path_a) + "," + CsvField(p.path_b) + "," + (p.same ? "1" : "0") + "," +
           std::to_string(p.fold) + "\n";
  }
  return csv;
}

}  // namespace lineup

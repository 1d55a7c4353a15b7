#include "synthetic_gallery.h"

#include <cmath>

namespace lineup::testing {

std::vector<float> RandomUnitVector(std::mt19937& rng, int dim) {
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(dim));
  float norm = 0;
  for (float& x : v) {
    x = normal(rng);
    norm += x * x;
  }
  for (float& x : v) x /= std::sqrt(norm);
  return v;
}

std::vector<float> Near(const std::vector<float>& v, std::mt19937& rng, float step) {
  std::vector<float> noise = RandomUnitVector(rng, static_cast<int>(v.size()));
  std::vector<float> out(v.size());
  float norm = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    out[i] = v[i] + step * noise[i];
    norm += out[i] * out[i];
  }
  for (float& x : out) x /= std::sqrt(norm);
  return out;
}

AnalyzedImage SyntheticImage(int64_t collection_id, const std::string& name,
                             const std::vector<std::vector<float>>& descriptors, const std::string& source_url,
                             const std::string& page_url) {
  AnalyzedImage a;
  a.write.image.collection_id = collection_id;
  a.write.image.content_sha256 = std::string(64 - std::min<size_t>(name.size(), 64), '0') + name.substr(0, 64);
  a.write.image.original_name = name + ".jpg";
  a.write.image.width = 640;
  a.write.image.height = 480;
  if (!source_url.empty() || !page_url.empty()) {
    Source s;
    s.source_url = source_url;
    s.page_url = page_url;
    s.title = "photo " + name;
    a.write.source = s;
  }
  for (size_t i = 0; i < descriptors.size(); ++i) {
    FaceRecord f;
    f.box = {10.f * static_cast<float>(i), 20, 50, 60};
    f.model_id = "synthetic";
    a.write.faces.push_back(f);
    a.descriptors.push_back(descriptors[i]);
    std::string crop = "\xFF\xD8 crop of " + name + " face " + std::to_string(i) + " \xFF\xD9";
    a.crops.emplace_back(crop.begin(), crop.end());
  }
  std::string bytes = "image file bytes of " + name + " (synthetic)";
  a.image_bytes.assign(bytes.begin(), bytes.end());
  a.image_extension = ".jpg";
  return a;
}

}  // namespace lineup::testing

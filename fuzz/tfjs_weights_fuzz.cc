// Fuzz target: ParseTfjsWeights (src/models/tfjs_weights.cc), the reader of
// TensorFlow.js weights manifests and their shards that `lineup models
// import` runs on npm packages. Feeds: the input up to its first NUL byte is
// the manifest's JSON text (JSON text cannot hold a raw NUL); the bytes
// after it are the shard that every "paths" entry reads (a group naming two
// shards gets them twice, in order).
//
// Asserts beyond "no crash":
//  - failures are lineup::Error only;
//  - every tensor returned has data.size() == ElementCount() and no negative
//    dimension; together they use no more values than the shards could hold
//    (a weight takes at least one byte per value).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "fuzz_check.h"
#include "models/tfjs_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lineup;
  const uint8_t* nul = std::find(data, data + size, uint8_t{0});
  const std::string manifest(reinterpret_cast<const char*>(data), static_cast<size_t>(nul - data));
  const std::vector<uint8_t> shard(nul == data + size ? nul : nul + 1, data + size);
  size_t shard_bytes_read = 0;
  TensorMap tensors;
  try {
    tensors = ParseTfjsWeights(manifest, "fuzz.json", [&](const std::string&, std::string* shown) {
      *shown = "shard.bin";
      shard_bytes_read += shard.size();
      return shard;
    });
  } catch (const Error&) {
    return 0;
  }
  size_t values = 0;
  for (const auto& [name, tensor] : tensors) {
    for (int64_t d : tensor.shape) FUZZ_CHECK(d >= 0, "negative dimension");
    FUZZ_CHECK(static_cast<int64_t>(tensor.data.size()) == tensor.ElementCount(), name);
    values += tensor.data.size();
  }
  FUZZ_CHECK(values <= shard_bytes_read, "more values than shard bytes");
  return 0;
}

// Reader of TensorFlow.js weights manifests (model-weights_manifest.json plus
// its binary shards), the format npm face models ship their parameters in.
//
// A manifest is a JSON array of groups; each group names its shard files
// ("paths", relative to the manifest) and lists its weights in order. The
// shards of a group are one byte stream cut into pieces: weight i starts where
// weight i-1 ended. A weight is {name, shape, dtype} and optionally
// quantization {dtype: uint8|uint16, scale, min} (value = q * scale + min) or
// {dtype: float16}. Without quantization the bytes are little-endian float32
// or int32, as dtype says.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace lineup {

// A dense tensor in the manifest's own layout (row-major over `shape`; for
// TF.js convolutions that is HWIO: [kernel_h, kernel_w, in_ch, out_ch]).
struct NamedTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // size() == product of shape

  int64_t ElementCount() const;
};

using TensorMap = std::map<std::string, NamedTensor>;

// Reads the manifest and its shards and returns every weight dequantised to
// float, keyed by name. Throws Error naming the offending file when the JSON
// is malformed, a shard is missing, the shards hold fewer or more bytes than
// the weights describe, a dtype is unsupported, or a name repeats.
TensorMap ReadTfjsWeights(const std::filesystem::path& manifest_json);

// Reads one shard named by a group's "paths" entry (as written in the
// manifest); sets *shown to the name errors use for it.
using ShardReader = std::function<std::vector<uint8_t>(const std::string& path, std::string* shown)>;

// ReadTfjsWeights on a manifest already in memory (`where` names it in
// errors), its shards read through `read_shard`: the whole parser without
// the file system (fuzz/tfjs_weights_fuzz.cc). Same result and Errors.
// Invariants of a returned map: every tensor has data.size() ==
// ElementCount() (no shape entry negative), and each group's weights used
// exactly the bytes of its shards.
TensorMap ParseTfjsWeights(const std::string& manifest_text, const std::string& where,
                           const ShardReader& read_shard);

}  // namespace lineup

#include "models/tfjs_weights.h"

#include <bit>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "models/half_float.h"

namespace lineup {

namespace {

using nlohmann::json;

// How one weight's values are stored in the shard stream.
enum class Encoding { kFloat32, kInt32, kUint8, kUint16, kFloat16 };

struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
  Encoding encoding = Encoding::kFloat32;
  float scale = 1.0f;  // only for kUint8 / kUint16
  float min = 0.0f;
};

int BytesPerValue(Encoding e) {
  switch (e) {
    case Encoding::kUint8: return 1;
    case Encoding::kUint16:
    case Encoding::kFloat16: return 2;
    case Encoding::kFloat32:
    case Encoding::kInt32: return 4;
  }
  return 4;
}

// Little-endian loads; the shard format is little-endian whatever the host.
uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint16_t LoadLe16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

// `object[key]` as a string, `fallback` when absent; any other type is a
// lineup::Error (nlohmann's value() would throw its own type_error).
std::string OptionalString(const json& object, const char* key, const std::string& fallback,
                           const std::string& where) {
  if (!object.contains(key)) return fallback;
  const json& v = object[key];
  if (!v.is_string()) throw Error(Context(where, std::string("\"") + key + "\" is not a string"));
  return v.get<std::string>();
}

WeightSpec ParseWeightSpec(const json& w, const std::string& where) {
  WeightSpec spec;
  if (!w.is_object() || !w.contains("name") || !w["name"].is_string()) {
    throw Error(Context(where, "weight entry without a string \"name\""));
  }
  spec.name = w["name"].get<std::string>();
  const std::string what = "weight '" + spec.name + "'";
  if (!w.contains("shape") || !w["shape"].is_array()) {
    throw Error(Context(where, what + " has no \"shape\" array"));
  }
  for (const json& d : w["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      throw Error(Context(where, what + " has a shape entry that is not a non-negative integer"));
    }
    spec.shape.push_back(d.get<int64_t>());
  }
  const std::string dtype = OptionalString(w, "dtype", "float32", where + ": " + what);
  if (dtype != "float32" && dtype != "int32") {
    throw Error(Context(where, what + " has unsupported dtype '" + dtype + "'"));
  }
  spec.encoding = dtype == "int32" ? Encoding::kInt32 : Encoding::kFloat32;
  if (w.contains("quantization") && !w["quantization"].is_null()) {
    const json& q = w["quantization"];
    const std::string qtype =
        q.is_object() ? OptionalString(q, "dtype", "", where + ": " + what + " quantization") : "";
    if (qtype == "float16") {
      spec.encoding = Encoding::kFloat16;
    } else if (qtype == "uint8" || qtype == "uint16") {
      if (!q.contains("scale") || !q["scale"].is_number() || !q.contains("min") ||
          !q["min"].is_number()) {
        throw Error(Context(where, what + " is quantised without numeric scale and min"));
      }
      spec.encoding = qtype == "uint8" ? Encoding::kUint8 : Encoding::kUint16;
      spec.scale = q["scale"].get<float>();
      spec.min = q["min"].get<float>();
    } else {
      throw Error(Context(where, what + " has unsupported quantization dtype '" + qtype + "'"));
    }
  }
  return spec;
}

// Decodes `count` values starting at `p`.
std::vector<float> Decode(const WeightSpec& spec, const uint8_t* p, int64_t count) {
  std::vector<float> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    switch (spec.encoding) {
      case Encoding::kFloat32: out[i] = std::bit_cast<float>(LoadLe32(p + 4 * i)); break;
      case Encoding::kInt32:
        out[i] = static_cast<float>(static_cast<int32_t>(LoadLe32(p + 4 * i)));
        break;
      case Encoding::kUint8: out[i] = p[i] * spec.scale + spec.min; break;
      case Encoding::kUint16: out[i] = LoadLe16(p + 2 * i) * spec.scale + spec.min; break;
      case Encoding::kFloat16: out[i] = HalfToFloat(LoadLe16(p + 2 * i)); break;
    }
  }
  return out;
}

// Concatenates a group's shards in the listed order.
std::vector<uint8_t> ReadGroupBytes(const json& paths, const ShardReader& read_shard,
                                    const std::string& where, std::string* shard_names) {
  if (!paths.is_array() || paths.empty()) {
    throw Error(Context(where, "group without a non-empty \"paths\" array"));
  }
  std::vector<uint8_t> bytes;
  for (const json& p : paths) {
    if (!p.is_string()) throw Error(Context(where, "shard path is not a string"));
    std::string shown;
    std::vector<uint8_t> piece = read_shard(p.get<std::string>(), &shown);  // throws naming the shard
    bytes.insert(bytes.end(), piece.begin(), piece.end());
    if (!shard_names->empty()) *shard_names += ", ";
    *shard_names += shown;
  }
  return bytes;
}

}  // namespace

int64_t NamedTensor::ElementCount() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

TensorMap ReadTfjsWeights(const std::filesystem::path& manifest_json) {
  const std::filesystem::path dir = manifest_json.parent_path();
  return ParseTfjsWeights(ReadFileText(manifest_json), manifest_json.string(),
                          [&](const std::string& path, std::string* shown) {
                            const std::filesystem::path shard = dir / path;
                            *shown = shard.string();
                            return ReadFileBytes(shard);  // throws naming the shard
                          });
}

TensorMap ParseTfjsWeights(const std::string& manifest_text, const std::string& where,
                           const ShardReader& read_shard) {
  json manifest;
  try {
    manifest = json::parse(manifest_text);
  } catch (const json::exception& e) {
    throw Error(Context(where, std::string("not valid JSON: ") + e.what()));
  }
  if (!manifest.is_array()) throw Error(Context(where, "manifest is not a JSON array of groups"));

  // Bounds a shape product before it can overflow; no real model comes close.
  constexpr int64_t kMaxValues = int64_t{1} << 34;
  TensorMap tensors;
  for (const json& group : manifest) {
    if (!group.is_object() || !group.contains("paths") || !group.contains("weights") ||
        !group["weights"].is_array()) {
      throw Error(Context(where, "group without \"paths\" and \"weights\" arrays"));
    }
    std::string shard_names;
    const std::vector<uint8_t> bytes =
        ReadGroupBytes(group["paths"], read_shard, where, &shard_names);
    int64_t offset = 0;
    for (const json& w : group["weights"]) {
      WeightSpec spec = ParseWeightSpec(w, where);
      int64_t count = 1;
      for (int64_t d : spec.shape) {
        if (d != 0 && count > kMaxValues / d) {
          throw Error(Context(where, "weight '" + spec.name + "' has an absurdly large shape"));
        }
        count *= d;
      }
      const int64_t size = count * BytesPerValue(spec.encoding);
      if (offset + size > static_cast<int64_t>(bytes.size())) {
        throw Error(Context(shard_names, "shard data too short: weight '" + spec.name +
                                             "' needs bytes [" + std::to_string(offset) + ", " +
                                             std::to_string(offset + size) + ") but the shards of " +
                                             where + " hold " + std::to_string(bytes.size())));
      }
      NamedTensor tensor{spec.shape, Decode(spec, bytes.data() + offset, count)};
      offset += size;
      if (!tensors.emplace(spec.name, std::move(tensor)).second) {
        throw Error(Context(where, "weight '" + spec.name + "' appears twice"));
      }
    }
    if (offset != static_cast<int64_t>(bytes.size())) {
      throw Error(Context(where, "weights describe " + std::to_string(offset) +
                                     " bytes but the shards " + shard_names + " hold " +
                                     std::to_string(bytes.size()) +
                                     " (shapes or dtypes do not match the data)"));
    }
  }
  return tensors;
}

}  // namespace lineup

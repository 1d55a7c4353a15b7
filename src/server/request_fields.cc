#include "server/request_fields.h"

#include <cmath>

namespace lineup {

std::string StringField(const nlohmann::json& body, const char* name, bool required) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) throw ApiError(400, "bad_request", std::string("missing field \"") + name + "\"", {{"field", name}});
    return "";
  }
  if (!it->is_string()) {
    throw ApiError(400, "bad_request", std::string("field \"") + name + "\" must be a string", {{"field", name}});
  }
  return it->get<std::string>();
}

int64_t IntField(const nlohmann::json& body, const char* name, int64_t fallback) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) {
    throw ApiError(400, "bad_request", std::string("field \"") + name + "\" must be an integer", {{"field", name}});
  }
  return it->get<int64_t>();
}

std::vector<std::string> StringListField(const nlohmann::json& body, const char* name) {
  std::vector<std::string> out;
  auto it = body.find(name);
  if (it == body.end()) return out;
  const std::string what = std::string(name) + ": a list of names";
  if (!it->is_array()) throw ApiError(400, "bad_request", what, {{"field", name}});
  for (const auto& item : *it) {
    if (!item.is_string()) throw ApiError(400, "bad_request", what, {{"field", name}});
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<std::array<float, 4>> BoxField(const nlohmann::json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  const std::string what = std::string(name) + ": [x, y, width, height] in pixels of the probe";
  if (!it->is_array() || it->size() != 4) throw ApiError(400, "bad_request", what, {{"field", name}});
  std::array<float, 4> box{};
  for (size_t i = 0; i < 4; ++i) {
    const nlohmann::json& v = (*it)[i];
    // Compared as a double: 1e39 would be inf as a float, and 1e30 is far
    // outside the int range cvRound puts box corners in (engine/face_choice).
    if (!v.is_number() || !(std::fabs(v.get<double>()) <= kMaxBoxCoordinate)) {
      throw ApiError(400, "bad_request", what, {{"field", name}});
    }
    box[i] = static_cast<float>(v.get<double>());
  }
  if (!(box[2] > 0) || !(box[3] > 0)) {
    throw ApiError(400, "bad_request", std::string(name) + ": width and height must be positive", {{"field", name}});
  }
  return box;
}

}  // namespace lineup

#include "server/request_fields.h"

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

}  // namespace lineup

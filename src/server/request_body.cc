#include "server/request_body.h"

#include "server/api_error.h"

namespace lineup {

std::optional<nlohmann::json> JsonObjectBody(const std::string& content_type, const std::string& body) {
  if (content_type.rfind("application/json", 0) != 0) return std::nullopt;
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  return parsed;
}

PhotoPart PhotoField(const httplib::Request& req) {
  if (!req.has_file("photo")) throw ApiError(400, "bad_request", "send the photo in the multipart field \"photo\"");
  httplib::MultipartFormData f = req.get_file_value("photo");
  return {std::move(f.content), std::move(f.filename)};
}

std::string TextPart(const httplib::Request& req, const char* name) {
  return req.has_file(name) ? req.get_file_value(name).content : "";
}

std::optional<size_t> FaceNumberPart(const httplib::Request& req) {
  const std::string n = TextPart(req, "face");
  if (n.empty()) return std::nullopt;
  if (n.size() > 3 || n.find_first_not_of("0123456789") != std::string::npos) {
    throw ApiError(400, "bad_request", "face: the number of a face in the photo");
  }
  return std::stoul(n);
}

}  // namespace lineup

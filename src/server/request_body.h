// Reading request bodies as the HTTP layer receives them, as pure functions
// of the request (no Service, no I/O), so that each can be tested and fuzzed
// alone (fuzz/json_body_fuzz.cc, fuzz/multipart_fuzz.cc).
//
// JSON routes: JsonObjectBody. Multipart routes (probe upload, opt-out):
// httplib parses the multipart/form-data body into req.files; the functions
// below pick the parts the handlers use. Every refusal is an ApiError 400
// (bad_request) whose message names the part and never quotes the client's
// bytes.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace lineup {

// The body of a JSON route: a JSON object sent with a Content-Type starting
// with "application/json". nullopt when the type is another, the bytes are
// not JSON, or the JSON is not an object. Never throws; the result, when
// set, is_object().
std::optional<nlohmann::json> JsonObjectBody(const std::string& content_type, const std::string& body);

struct PhotoPart {
  std::string content;   // the bytes as sent (may be empty: the decoder refuses that)
  std::string filename;  // the client's file name, "" if none (only ever shown through SafeUtf8)
};

// The part "photo" (the first, if repeated); ApiError 400 when absent.
PhotoPart PhotoField(const httplib::Request& req);

// The content of the text part `name` (the first, if repeated); "" when absent.
std::string TextPart(const httplib::Request& req, const char* name);

// The opt-out's "face" part: absent or empty -> nullopt; 1 to 3 ASCII digits
// -> their value (0..999); anything else -> ApiError 400.
std::optional<size_t> FaceNumberPart(const httplib::Request& req);

}  // namespace lineup

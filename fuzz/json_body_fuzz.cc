// Fuzz target: the JSON request bodies of the HTTP layer as the routes read
// them: JsonObjectBody (src/server/request_body.cc, what ParseBody and Login
// run on every JSON route) and then the typed field readers of
// src/server/request_fields.cc on the fields the Service reads. Feeds: the
// first byte picks the Content-Type from kTypes, the rest is the body.
//
// Asserts beyond "no crash":
//  - a Content-Type not starting with "application/json" is refused; an
//    accepted body is a JSON object whose dump() does not throw (values of
//    bodies end up in audit details as JSON text);
//  - each field reader returns or throws ApiError 400 whose details name the
//    field; no other exception (a nlohmann type_error would be a 500);
//  - StringListField gives strings; BoxField gives four finite floats with
//    |v| <= kMaxBoxCoordinate, width and height > 0.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "server/api_error.h"
#include "server/request_body.h"
#include "server/request_fields.h"

namespace {

constexpr const char* kTypes[] = {"application/json", "application/json; charset=utf-8", "text/plain",
                                  "application/jsonl", ""};

// Field names the Service reads with StringField / IntField (server/service_*.cc).
constexpr const char* kStringFields[] = {"username", "password", "totp", "purpose", "reason", "decision",
                                         "note", "number", "name", "role", "scope", "code", "unit",
                                         "display_name", "category", "current", "new"};
constexpr const char* kIntFields[] = {"probe_id", "top_k", "face", "face_id", "days", "retention_days"};

template <typename F>
void ExpectFieldError(const char* field, F&& read) {
  try {
    read();
  } catch (const lineup::ApiError& e) {
    FUZZ_CHECK(e.status() == 400, e.what());
    FUZZ_CHECK(e.details().is_object() && e.details().value("field", "") == field, e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lineup;
  if (size == 0) return 0;
  const std::string type = kTypes[data[0] % std::size(kTypes)];
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::optional<nlohmann::json> parsed = JsonObjectBody(type, body);
  if (!parsed) return 0;
  FUZZ_CHECK(type.rfind("application/json", 0) == 0, "accepted a body of another type");
  FUZZ_CHECK(parsed->is_object(), "accepted a body that is not an object");
  try {
    (void)parsed->dump();
  } catch (const nlohmann::json::exception& e) {
    FUZZ_CHECK(false, e.what());
  }

  for (const char* f : kStringFields) ExpectFieldError(f, [&] { StringField(*parsed, f, true); });
  for (const char* f : kIntFields) ExpectFieldError(f, [&] { IntField(*parsed, f, 0); });
  ExpectFieldError("collections", [&] {
    for (const std::string& s : StringListField(*parsed, "collections")) (void)s.size();
  });
  ExpectFieldError("box", [&] {
    if (std::optional<std::array<float, 4>> box = BoxField(*parsed, "box")) {
      for (float v : *box) FUZZ_CHECK(std::isfinite(v) && std::fabs(v) <= kMaxBoxCoordinate, "box value");
      FUZZ_CHECK((*box)[2] > 0 && (*box)[3] > 0, "box without positive width and height");
    }
  });
  return 0;
}

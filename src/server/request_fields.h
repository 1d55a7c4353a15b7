// Reading request bodies in the Service: typed fields of a JSON object. Every
// failure is an ApiError with status 400, a message naming the field and the
// field in the body's "field".
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/api_error.h"

namespace lineup {

// A string field; "" when absent or null unless `required`.
std::string StringField(const nlohmann::json& body, const char* name, bool required = false);
// An integer field; `fallback` when absent or null.
int64_t IntField(const nlohmann::json& body, const char* name, int64_t fallback);

// A list-of-strings field: {} when absent; a JSON array of strings -> them;
// anything else (null included) -> 400 naming the field.
std::vector<std::string> StringListField(const nlohmann::json& body, const char* name);

// Largest |coordinate| a box may give: ten times the largest image side the
// loader accepts (image_loader.h), far beyond any probe.
inline constexpr float kMaxBoxCoordinate = 1e6f;

// A box field [x, y, width, height] in pixels: nullopt when absent or null;
// else four numbers, each with |value| <= kMaxBoxCoordinate (so finite once
// converted to float), width and height > 0; anything else -> 400 naming
// the field.
std::optional<std::array<float, 4>> BoxField(const nlohmann::json& body, const char* name);

// Runs `f`. It used to turn domain Errors into 400/409 by reading their
// messages; domain code now throws Errors of a client kind (common/error.h),
// which the HTTP layer answers by kind, and every other Error is a 500. Kept
// only so that call sites on other branches still build; call `f` directly.
template <typename F>
auto AsClientError(F&& f) {
  return f();
}

}  // namespace lineup

// Reading request bodies in the Service: typed fields of a JSON object. Every
// failure is an ApiError with status 400, a message naming the field and the
// field in the body's "field".
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "server/service.h"

namespace lineup {

// A string field; "" when absent or null unless `required`.
std::string StringField(const nlohmann::json& body, const char* name, bool required = false);
// An integer field; `fallback` when absent or null.
int64_t IntField(const nlohmann::json& body, const char* name, int64_t fallback);

// Runs `f`. It used to turn domain Errors into 400/409 by reading their
// messages; domain code now throws Errors of a client kind (common/error.h),
// which the HTTP layer answers by kind, and every other Error is a 500. Kept
// only so that call sites on other branches still build; call `f` directly.
template <typename F>
auto AsClientError(F&& f) {
  return f();
}

}  // namespace lineup

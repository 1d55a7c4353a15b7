// Reading request bodies in the Service: typed fields of a JSON object, and
// library errors turned into API answers. Every failure is an ApiError with
// status 400 (409 for a conflict) and a message naming the field.
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

// Runs `f`, turning an Error about the request (bad name, short password,
// unknown category, a name already in use) into 400, or 409 when the message
// says the thing is taken or already exists. ApiErrors pass through.
template <typename F>
auto AsClientError(F&& f) {
  try {
    return f();
  } catch (const ApiError&) {
    throw;
  } catch (const Error& e) {
    std::string message = e.what();
    bool conflict = message.find("taken") != std::string::npos || message.find("already") != std::string::npos;
    throw ApiError(conflict ? 409 : 400, conflict ? "conflict" : "bad_request", message);
  }
}

}  // namespace lineup

// ApiError: what the HTTP layer answers a client with (status, a stable
// code, a message fit for the client and optional extra fields). Its own
// header so that the request parsers (request_body.h, request_fields.h) and
// their fuzz targets need nothing of the Service.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace lineup {

class ApiError : public Error {
 public:
  ApiError(int status, std::string code, const std::string& message, nlohmann::json details = nullptr)
      : Error(message), status_(status), code_(std::move(code)), details_(std::move(details)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  // Extra fields of the error body (e.g. the faces to choose from); null if none.
  const nlohmann::json& details() const { return details_; }

 private:
  int status_;
  std::string code_;
  nlohmann::json details_;
};

}  // namespace lineup

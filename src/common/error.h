// Lineup reports failures as exceptions of one type, lineup::Error, whose
// message names the thing that failed (a file, a model, an argument) and why.
// Callers that can recover catch Error; the CLI catches it at the top, prints
// the message and exits non-zero. Never abort() on bad input.
//
// Each Error has a kind. kInternal (the default) is a fault of the system or
// of its files: the server answers it with 500 and keeps its message for the
// log, since it may name paths or internal state. The other kinds are the
// caller's fault; the thrower picks the kind (never a catcher reading the
// message) and promises that the message is fit for the caller: it speaks of
// the request (`field`, when one field is at fault) and names no server path,
// SQL or library text.
#pragma once

#include <stdexcept>
#include <string>

namespace lineup {

enum class ErrorKind {
  kInternal,          // not the caller's fault (the default)
  kInvalidArgument,   // a value of the request is wrong
  kNotFound,          // the request names something that does not exist
  kConflict,          // the request clashes with the current state (taken, already done, not begun)
  kPermissionDenied,  // the caller may not do this
  kUnavailable,       // cannot be done now; the same request may succeed later
};

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;  // kInternal
  Error(ErrorKind kind, std::string field, const std::string& message)
      : std::runtime_error(message), kind_(kind), field_(std::move(field)) {}

  ErrorKind kind() const { return kind_; }
  // The request field at fault ("username", "purpose"), "" when none is.
  const std::string& field() const { return field_; }
  bool is_client_error() const { return kind_ != ErrorKind::kInternal; }

 private:
  ErrorKind kind_ = ErrorKind::kInternal;
  std::string field_;
};

// Shorthands for the throw sites of client errors.
inline Error InvalidArgument(std::string field, const std::string& message) {
  return Error(ErrorKind::kInvalidArgument, std::move(field), message);
}
inline Error NotFound(const std::string& message) { return Error(ErrorKind::kNotFound, "", message); }
inline Error Conflict(std::string field, const std::string& message) {
  return Error(ErrorKind::kConflict, std::move(field), message);
}
inline Error PermissionDenied(const std::string& message) {
  return Error(ErrorKind::kPermissionDenied, "", message);
}

// "context: message", e.g. Error(Context("photo.jpg", "not an image")).
inline std::string Context(const std::string& where, const std::string& what) {
  return where + ": " + what;
}

}  // namespace lineup

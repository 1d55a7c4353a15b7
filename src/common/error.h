// Lineup reports failures as exceptions of one type, lineup::Error, whose
// message names the thing that failed (a file, a model, an argument) and why.
// Callers that can recover catch Error; the CLI catches it at the top, prints
// the message and exits non-zero. Never abort() on bad input.
#pragma once

#include <stdexcept>
#include <string>

namespace lineup {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "context: message", e.g. Error(Context("photo.jpg", "not an image")).
inline std::string Context(const std::string& where, const std::string& what) {
  return where + ": " + what;
}

}  // namespace lineup

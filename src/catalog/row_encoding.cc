#include "catalog/row_encoding.h"

namespace lineup::row_encoding {

bool HasAnyField(const Source& s) {
  return !s.source_url.empty() || !s.page_url.empty() || !s.title.empty() || !s.captured_at.empty() ||
         !s.published_at.empty() || !s.legal_basis.empty();
}

std::optional<std::string> PrefixSuccessor(std::string prefix) {
  while (!prefix.empty()) {
    const unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last != 0xFF) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::nullopt;
}

}  // namespace lineup::row_encoding

// The web app's files (web/ in the source tree), compiled into the binary by
// cmake/embed_web.cmake so that `lineup serve` needs no files beside it.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace lineup {

struct WebAsset {
  std::string_view path;  // "/index.html", "/app.js", ...
  std::string_view bytes;
};

const std::vector<WebAsset>& WebAssets();

}  // namespace lineup

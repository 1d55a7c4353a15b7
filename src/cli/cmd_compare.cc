// lineup compare A B
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/error.h"
#include "engine/face_choice.h"
#include "gallery/score_band.h"
#include "image/image_loader.h"

namespace lineup::cli {

namespace {

struct CompareFlags {
  std::string a, b;
  int face_a = 0, face_b = 0;  // face numbers (from 1); 0 = not given
  EngineFlags engine;
  bool json = false;
};

struct Chosen {
  std::vector<FaceResult> faces;
  size_t index = 0;
  std::string note;
};

Chosen ChooseFace(FacePipeline& pipeline, const std::string& path, int wanted, const char* flag) {
  cv::Mat image = LoadImage(path);
  Chosen c{pipeline.Detect(image), 0, ""};
  if (c.faces.empty()) {
    throw Error(Context(path, "no face found (looked for faces of at least the --min-face size; "
                              "try a smaller --min-face or a larger, sharper photo)"));
  }
  if (wanted > 0) {
    if (wanted > static_cast<int>(c.faces.size())) {
      throw Error(Context(path, std::string(flag) + " " + std::to_string(wanted) + " but only " +
                                    std::to_string(c.faces.size()) + " face(s) found (numbered from 1):" + FaceList(c.faces)));
    }
    c.index = static_cast<size_t>(wanted) - 1;
  } else if (c.faces.size() > 1) {
    c.index = PrimaryFace(c.faces);
    c.note = std::to_string(c.faces.size()) + " faces found; compared the largest confident one (#" +
             std::to_string(FaceNumber(c.index)) + "). Choose another with " + flag + " N (see `lineup detect " +
             path + "`).";
  }
  std::vector<FaceResult> one = {c.faces[c.index]};
  pipeline.Embed(image, one);
  c.faces[c.index] = one[0];
  return c;
}

nlohmann::json BandThresholdsJson(const BandThresholds& bands) {
  if (!bands.calibrated) return nullptr;
  return {{"strong", bands.strong}, {"possible", bands.possible}, {"weak", bands.weak}, {"source", bands.source}};
}

void Run(const CompareFlags& flags) {
  ModelManifest manifest = LoadManifest(flags.engine);
  FacePipeline pipeline = MakePipeline(manifest, flags.engine, true);
  Chosen a = ChooseFace(pipeline, flags.a, flags.face_a, "--face-a");
  Chosen b = ChooseFace(pipeline, flags.b, flags.face_b, "--face-b");
  double similarity = Similarity(a.faces[a.index].embedding, b.faces[b.index].embedding);
  // The same bands as search: one language for scores everywhere.
  const BandThresholds bands = BandThresholdsFor(pipeline.embedder().Id());
  const ScoreBand band = BandOf(similarity, bands);
  if (flags.json) {
    nlohmann::json j = {{"model", ModelJson(pipeline, true)},
                        {"similarity", similarity},
                        {"band", ToString(band)},
                        {"band_thresholds", BandThresholdsJson(bands)},
                        {"a", {{"path", flags.a}, {"face", FaceNumber(a.index)}, {"faces_found", a.faces.size()},
                               {"detection", FaceJson(a.faces[a.index])}}},
                        {"b", {{"path", flags.b}, {"face", FaceNumber(b.index)}, {"faces_found", b.faces.size()},
                               {"detection", FaceJson(b.faces[b.index])}}}};
    if (!a.note.empty()) j["a"]["note"] = a.note;
    if (!b.note.empty()) j["b"]["note"] = b.note;
    j["a"]["detection"].erase("embedding");
    j["b"]["detection"].erase("embedding");
    std::cout << j.dump(2) << "\n";
    return;
  }
  for (const std::string& note : {a.note, b.note}) {
    if (!note.empty()) std::cout << "note: " << note << "\n";
  }
  std::printf("similarity %.4f (cosine, %s)\n", similarity, pipeline.embedder().Id().c_str());
  if (bands.calibrated) {
    std::printf("band: %s (strong >= %.3f, possible >= %.3f, weak >= %.3f: the bands search uses)\n",
                ToString(band).c_str(), bands.strong, bands.possible, bands.weak);
  } else {
    std::printf("band: uncalibrated (no measured false-match rates for this embedder)\n");
  }
  std::printf("This is an investigative lead for human review, not an identification.\n");
}

}  // namespace

void RegisterCompare(CLI::App& app) {
  auto flags = std::make_shared<CompareFlags>();
  auto* cmd = app.add_subcommand("compare", "Compare the faces in two photos: similarity and its score band (the bands search uses)");
  cmd->add_option("a", flags->a, "First photo")->required()->check(CLI::ExistingFile);
  cmd->add_option("b", flags->b, "Second photo")->required()->check(CLI::ExistingFile);
  cmd->add_option("--face-a", flags->face_a,
                  "Face number in the first photo, from 1, as `lineup detect` lists them (default: the "
                  "largest face scoring at least 0.5)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--face-b", flags->face_b, "Face number in the second photo, from 1 (default: its largest face scoring at least 0.5)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", flags->json, "Print JSON");
  AddEngineFlags(cmd, &flags->engine, true);
  cmd->callback([flags] { Run(*flags); });
}

}  // namespace lineup::cli

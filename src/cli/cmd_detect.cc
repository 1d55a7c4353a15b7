// lineup detect IMAGE... | lineup embed IMAGE...
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/error.h"
#include "engine/face_choice.h"
#include "image/image_loader.h"

namespace lineup::cli {

namespace {

struct DetectFlags {
  std::vector<std::string> images;
  EngineFlags engine;
  bool json = false;
  std::string annotate;
};

std::string AnnotatePath(const std::string& pattern, size_t index, size_t count) {
  if (count == 1) return pattern;
  std::filesystem::path p(pattern);
  return (p.parent_path() / (p.stem().string() + "-" + std::to_string(index) + p.extension().string()))
      .string();
}

void PrintText(const std::string& path, const cv::Mat& image, const std::vector<FaceResult>& faces) {
  std::cout << path << ": " << image.cols << "x" << image.rows << ", " << faces.size()
            << (faces.size() == 1 ? " face" : " faces") << "\n";
  for (size_t i = 0; i < faces.size(); ++i) {
    const auto& f = faces[i];
    std::printf("  #%zu box [%.0f, %.0f, %.0f, %.0f] score %.3f  eyes %.0f px  yaw %+.0f deg  "
                "sharpness %.0f%s\n",
                FaceNumber(i), f.face.box.x, f.face.box.y, f.face.box.width, f.face.box.height, f.face.score,
                f.quality.size_px, f.quality.yaw_deg, f.quality.sharpness,
                f.embedding.empty() ? "" : ("  descriptor " + std::to_string(f.embedding.size()) + "-d").c_str());
  }
}

void Run(const DetectFlags& flags, bool embed) {
  ModelManifest manifest = LoadManifest(flags.engine);
  FacePipeline pipeline = MakePipeline(manifest, flags.engine, embed);
  nlohmann::json images = nlohmann::json::array();
  int failures = 0;
  for (size_t i = 0; i < flags.images.size(); ++i) {
    const std::string& path = flags.images[i];
    nlohmann::json record = {{"path", path}};
    try {
      cv::Mat image = LoadImage(path);
      std::vector<FaceResult> faces = embed ? pipeline.Analyze(image) : pipeline.Detect(image);
      record["width"] = image.cols;
      record["height"] = image.rows;
      record["faces"] = nlohmann::json::array();
      for (const auto& f : faces) record["faces"].push_back(FaceJson(f));
      if (!flags.annotate.empty()) {
        WriteAnnotated(image, faces, AnnotatePath(flags.annotate, i, flags.images.size()));
      }
      if (!flags.json) PrintText(path, image, faces);
    } catch (const Error& e) {
      ++failures;
      record["error"] = e.what();
      if (!flags.json) std::cerr << "error: " << e.what() << "\n";
    }
    images.push_back(record);
  }
  if (flags.json) {
    std::cout << nlohmann::json({{"model", ModelJson(pipeline, embed)}, {"images", images}}).dump(2)
              << "\n";
  }
  if (failures) throw Error(std::to_string(failures) + " of " + std::to_string(flags.images.size()) +
                            " image(s) could not be processed");
}

void Register(CLI::App& app, const char* name, const char* help, bool embed) {
  auto flags = std::make_shared<DetectFlags>();
  auto* cmd = app.add_subcommand(name, help);
  // No CLI::ExistingFile: a missing or unreadable path is one failed image
  // among the others, reported with its error, not a refusal of the command.
  cmd->add_option("images", flags->images, "Image files (JPEG, PNG, BMP, WebP, TIFF, PNM)")->required();
  cmd->add_flag("--json", flags->json, "Print the stable JSON contract instead of text");
  cmd->add_option("--annotate", flags->annotate,
                  "Write a copy with boxes and landmarks (OUT.png; OUT-<i>.png for several images)");
  AddEngineFlags(cmd, &flags->engine, embed);
  cmd->callback([flags, embed] { Run(*flags, embed); });
  cmd->footer(
      "Exit status: 0 when every image was processed, 1 when any could not be (each is "
      "reported; in --json output as \"error\" on that image).");
}

}  // namespace

void RegisterDetect(CLI::App& app) {
  Register(app, "detect", "Find faces: boxes, 5 landmarks and quality per face", false);
}

void RegisterEmbed(CLI::App& app) {
  Register(app, "embed", "Find faces and compute a unit-length descriptor for each", true);
}

}  // namespace lineup::cli

// lineup demo: the main job until the gallery and server exist. Detects the
// faces in the group photos set-up brings (npm @vladmandic/face-api demo/),
// writes annotated copies, and ranks every face against one probe face.
#include <algorithm>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/paths.h"
#include "image/image_loader.h"

namespace lineup::cli {

namespace {

struct DemoFlags {
  EngineFlags engine;
  std::string photos_dir;
  std::string out_dir;
  int top = 5;
};

struct GalleryFace {
  std::string photo;
  size_t index;
  std::vector<float> embedding;
};

void Run(const DemoFlags& flags) {
  std::filesystem::path photos = flags.photos_dir.empty()
                                     ? PackagesDir() / "@vladmandic/face-api/demo"
                                     : std::filesystem::path(flags.photos_dir);
  std::filesystem::path out = flags.out_dir.empty() ? VarDir() / "demo" : std::filesystem::path(flags.out_dir);
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(photos)) {
    for (const auto& entry : std::filesystem::directory_iterator(photos)) {
      std::string ext = entry.path().extension().string();
      if (ext == ".jpg" || ext == ".jpeg") files.push_back(entry.path());
    }
  }
  if (files.empty()) {
    throw Error(Context(photos.string(), "no demo photos; run scripts/setup.sh or pass --photos DIR"));
  }
  std::sort(files.begin(), files.end());
  std::filesystem::create_directories(out);

  ModelManifest manifest = LoadManifest(flags.engine);
  FacePipeline pipeline = MakePipeline(manifest, flags.engine, true);
  std::cout << "Lineup demo — profile '" << pipeline.profile().name << "': " << pipeline.DetectorId()
            << " + " << pipeline.embedder().Id() << " (" << pipeline.embedder().entry().licence << ")\n\n";

  std::vector<GalleryFace> gallery;
  size_t probe = 0;  // the first photo's primary face
  for (const auto& file : files) {
    cv::Mat image = LoadImage(file.string());
    std::vector<FaceResult> faces = pipeline.Analyze(image);
    std::filesystem::path annotated = out / (file.stem().string() + "-faces.png");
    WriteAnnotated(image, faces, annotated.string());
    std::printf("%-14s %4dx%-4d %2zu faces -> %s\n", file.filename().c_str(), image.cols, image.rows,
                faces.size(), annotated.c_str());
    if (gallery.empty() && !faces.empty()) probe = PrimaryFace(faces);
    for (size_t i = 0; i < faces.size(); ++i) gallery.push_back({file.filename().string(), i, faces[i].embedding});
  }
  if (gallery.empty()) throw Error("no faces found in the demo photos");

  const GalleryFace& probe_face = gallery[probe];
  std::vector<std::pair<double, const GalleryFace*>> ranked;
  for (const auto& g : gallery) {
    if (g.photo != probe_face.photo) ranked.push_back({Similarity(probe_face.embedding, g.embedding), &g});
  }
  std::sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::optional<double> threshold = pipeline.SameThreshold();
  std::printf("\nProbe: face #%zu of %s (largest confident face). Most similar faces in the other photos:\n",
              probe_face.index, probe_face.photo.c_str());
  for (int i = 0; i < flags.top && i < static_cast<int>(ranked.size()); ++i) {
    const auto& [score, face] = ranked[i];
    std::printf("  %d. %-14s face #%-2zu similarity %.3f%s\n", i + 1, face->photo.c_str(), face->index,
                score, threshold ? (score >= *threshold ? "  above same-person threshold" : "") : "");
  }
  std::printf("\nCandidates are investigative leads for human review, not identifications.\n");
}

}  // namespace

void RegisterDemo(CLI::App& app) {
  auto flags = std::make_shared<DemoFlags>();
  auto* cmd = app.add_subcommand("demo", "Detect and compare faces in the demo photos set-up brings");
  cmd->add_option("--photos", flags->photos_dir, "Folder of JPEG photos (default: face-api's demo/)");
  cmd->add_option("--out", flags->out_dir, "Where annotated copies go (default: <var>/demo)");
  cmd->add_option("--top", flags->top, "How many candidates to list")->capture_default_str();
  AddEngineFlags(cmd, &flags->engine, true);
  cmd->callback([flags] { Run(*flags); });
}

}  // namespace lineup::cli

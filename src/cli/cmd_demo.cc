// lineup demo: the main job on an embedded default. Builds a small gallery
// (SQLite catalog) from the group photos set-up brings (npm
// @vladmandic/face-api demo/), with provenance from a generated manifest,
// then searches it with the largest face of the first photo.
#include <algorithm>
#include <fstream>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/serve.h"
#include "common/error.h"
#include "common/paths.h"
#include "governance/audit_checkpoints.h"
#include "image/image_loader.h"
#include "ingest/ingest_pipeline.h"

namespace lineup::cli {

namespace {

namespace fs = std::filesystem;

struct DemoFlags {
  EngineFlags engine;
  std::string photos_dir;
  std::string out_dir;
  int top = 5;
  bool no_serve = false;
  std::string listen = "127.0.0.1:8080";
};

std::vector<fs::path> DemoPhotos(const fs::path& dir) {
  std::vector<fs::path> files;
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::string ext = entry.path().extension().string();
      if (ext == ".jpg" || ext == ".jpeg") files.push_back(entry.path());
    }
  }
  if (files.empty()) throw Error(Context(dir.string(), "no demo photos; run scripts/setup.sh or pass --photos DIR"));
  std::sort(files.begin(), files.end());
  return files;
}

// A CSV manifest naming each photo's origin, so search results show provenance.
fs::path WriteManifest(const std::vector<fs::path>& photos, const fs::path& out) {
  fs::path manifest = out / "demo-manifest.csv";
  std::ofstream csv(manifest);
  csv << "path,source_url,title\n";
  for (const fs::path& p : photos) {
    csv << '"' << p.string() << "\",npm:@vladmandic/face-api/demo/" << p.filename().string() << ",\"demo photo "
        << p.filename().string() << "\"\n";
  }
  if (!csv) throw Error(Context(manifest.string(), "cannot write"));
  return manifest;
}

void Run(const DemoFlags& flags) {
  fs::path photos_dir = flags.photos_dir.empty() ? PackagesDir() / "@vladmandic/face-api/demo" : fs::path(flags.photos_dir);
  fs::path out = flags.out_dir.empty() ? VarDir() / "demo" : fs::path(flags.out_dir);
  std::vector<fs::path> photos = DemoPhotos(photos_dir);
  HttpServerOptions ho;
  if (!flags.no_serve) ParseListen(flags.listen, &ho);  // a bad --listen fails before the work
  fs::create_directories(out);
  // A gallery from an earlier run is kept as it is: its user may have added
  // collections, accounts, cases, opt-outs and audit records since.
  const bool earlier_gallery = fs::exists(out / "gallery") && !fs::is_empty(out / "gallery");

  ModelManifest manifest = LoadManifest(flags.engine);
  GalleryModel model = ModelOfProfile(manifest, flags.engine.profile);
  std::printf("Lineup demo: profile '%s', descriptor %s (%s)\n\n", manifest.GetProfile(flags.engine.profile).name.c_str(),
              model.model_id.c_str(), manifest.Model(model.model_id).licence.c_str());

  GalleryOptions go;
  go.data_dir = out / "gallery";
  std::unique_ptr<Gallery> gallery = Gallery::Open(go, model);
  IngestOptions io;
  io.collection = "demo";
  io.legal_basis = "demo photos shipped in the npm package @vladmandic/face-api (MIT licence)";
  io.pipeline = MakePipelineOptions(flags.engine, true);
  io.input.allow_outside = {photos_dir};  // the generated manifest names the photos where they are
  if (earlier_gallery) {
    std::printf("gallery %s: kept from an earlier run, with whatever was added to it since (delete the folder "
                "yourself for a fresh one, or choose another with --out)\n\n",
                go.data_dir.c_str());
  } else {
    IngestSummary s = RunIngest(*gallery, manifest, WriteManifest(photos, out), io);
    std::printf("gallery %s: %lld photos, %lld faces ingested in %.1f s\n\n", go.data_dir.c_str(),
                static_cast<long long>(s.counters.images_added), static_cast<long long>(s.counters.faces_added),
                s.seconds);
  }

  FacePipeline pipeline = MakePipeline(manifest, flags.engine, true);
  cv::Mat image = LoadImage(photos[0].string());
  std::vector<FaceResult> faces = pipeline.Detect(image);
  if (faces.empty()) throw Error(Context(photos[0].string(), "no face found in the demo probe"));
  std::vector<FaceResult> probe = {faces[PrimaryFace(faces)]};
  pipeline.Embed(image, probe);
  fs::path annotated = out / "probe-faces.png";
  WriteAnnotated(image, faces, annotated.string());
  SearchQuery q;
  q.descriptor = probe[0].embedding;
  q.top_k = static_cast<size_t>(flags.top);
  SearchResult result = gallery->Search(q);
  std::printf("Probe: the largest confident face of %s (%zu faces; boxes in %s).\n", photos[0].filename().c_str(),
              faces.size(), annotated.c_str());
  std::printf("The probe photo itself is in the gallery, so it comes first.\n\n");
  for (const Candidate& c : result.candidates) {
    const FaceProvenance& p = c.provenance;
    std::printf("  %d. %.3f %-9s %-12s source %s\n     crop %s\n", c.rank, c.score, ToString(c.band).c_str(),
                p.image.original_name.empty() ? "?" : fs::path(p.image.original_name).filename().c_str(),
                p.source ? p.source->source_url.c_str() : "-", c.crop_path.c_str());
  }
  std::printf("\nCandidates are investigative leads for human review, not identifications.\n"
              "Search it yourself: build/lineup search PHOTO --data %s\n\n", go.data_dir.c_str());
  if (flags.no_serve) return;
  gallery.reset();
  ServiceOptions so;
  so.data_dir = go.data_dir;
  so.profile = flags.engine.profile;
  so.audit_key_file = DefaultAuditKeyFile(go.data_dir);
  so.audit_checkpoint_file = DefaultCheckpointFile(go.data_dir);
  std::printf("Now the web app: open it in a browser, log in as admin (and choose your own password), create an\n"
              "investigator on the Admin page, log in as that investigator, open a case and search with a photo.\n"
              "Ctrl-C stops the server.\n\n");
  Serve(manifest, so, ho);
}

}  // namespace

void RegisterDemo(CLI::App& app) {
  auto flags = std::make_shared<DemoFlags>();
  auto* cmd = app.add_subcommand("demo", "Build a small gallery from the demo photos set-up brings, search it, then serve the web app over it");
  cmd->add_option("--photos", flags->photos_dir, "Folder of JPEG photos (default: face-api's demo/)");
  cmd->add_option("--out", flags->out_dir, "Where the demo gallery and annotated probe go (default: <var>/demo)");
  cmd->add_option("--top", flags->top, "How many candidates to list")->capture_default_str();
  cmd->add_flag("--no-serve", flags->no_serve, "Stop after the command-line search instead of serving the web app");
  cmd->add_option("--listen", flags->listen, "HOST:PORT of the web app")->capture_default_str();
  AddEngineFlags(cmd, &flags->engine, true);
  cmd->callback([flags] { Run(*flags); });
}

}  // namespace lineup::cli

// lineup search PHOTO [--face N | --box x,y,w,h] [--top K] [--collection C] [--min-score S] [--json]
#include <cstdio>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/error.h"
#include "engine/face_choice.h"
#include "image/image_loader.h"

namespace lineup::cli {

namespace {

constexpr char kLeadNotice[] =
    "Investigative leads for human review, not identifications. Scores are cosine similarities; "
    "bands come from measured false-match rates of the model.";

struct SearchFlags {
  std::string photo;
  int face = 0;  // a face number (from 1); 0 = not given
  std::vector<float> box;
  size_t top = 20;
  std::vector<std::string> collections;
  float min_score = -1.f;
  bool json = false;
  EngineFlags engine;
  GalleryFlags gallery;
};

struct Probe {
  std::vector<FaceResult> faces;  // as detected (plus a face found in --box)
  size_t chosen = 0;
  std::string note;
};

Probe ChooseProbeFace(FacePipeline& pipeline, const cv::Mat& image, const SearchFlags& flags) {
  Probe p{pipeline.Detect(image), 0, ""};
  if (!flags.box.empty()) {
    if (flags.box.size() != 4) throw Error("--box takes x,y,w,h (four numbers separated by commas)");
    cv::Rect2f box(flags.box[0], flags.box[1], flags.box[2], flags.box[3]);
    if (box.width <= 0 || box.height <= 0) throw Error("--box: width and height must be positive");
    p.chosen = FindFaceInBox(pipeline, image, box, p.faces);
    return p;
  }
  if (p.faces.empty()) {
    throw Error(Context(flags.photo, "no face found (looked for faces of at least --min-face " +
                                         std::to_string(static_cast<int>(flags.engine.min_face)) +
                                         " px; try --box x,y,w,h around the face, or a larger, sharper photo)"));
  }
  if (flags.face > 0) {
    if (flags.face > static_cast<int>(p.faces.size())) {
      throw Error(Context(flags.photo, "--face " + std::to_string(flags.face) + " but only " +
                                           std::to_string(p.faces.size()) + " face(s) found:" + FaceList(p.faces)));
    }
    p.chosen = static_cast<size_t>(flags.face) - 1;
  } else {
    p.chosen = PrimaryFace(p.faces);
    if (p.faces.size() > 1) {
      p.note = std::to_string(p.faces.size()) + " faces in the photo; searched the largest confident one (#" +
               std::to_string(FaceNumber(p.chosen)) + "). Choose another with --face N:" + FaceList(p.faces);
    }
  }
  return p;
}

nlohmann::json CandidateJson(const Candidate& c, const Gallery& gallery) {
  const FaceProvenance& p = c.provenance;
  nlohmann::json source = nullptr;
  if (p.source) {
    source = {{"source_url", p.source->source_url}, {"page_url", p.source->page_url},
              {"title", p.source->title},           {"captured_at", p.source->captured_at},
              {"published_at", p.source->published_at}, {"legal_basis", p.source->legal_basis}};
  }
  return {{"rank", c.rank},
          {"score", c.score},
          {"band", ToString(c.band)},
          {"label", "investigative lead - not an identification"},
          {"face", {{"id", p.face.id}, {"box", p.face.box}, {"detection_score", p.face.detection_score}}},
          {"crop", c.crop_path.string()},
          {"image",
           {{"id", p.image.id},
            {"file", gallery.ImagePath(p.image).string()},
            {"original_name", p.image.original_name},
            {"sha256", p.image.content_sha256},
            {"width", p.image.width},
            {"height", p.image.height},
            {"ingested_at", p.image.ingested_at}}},
          {"source", source},
          {"collection", {{"name", p.collection.name}, {"legal_basis", p.collection.legal_basis}}}};
}

void PrintText(const SearchResult& r, const Probe& probe, const Gallery& gallery, const SearchFlags& flags) {
  if (!probe.note.empty()) std::printf("%s\n", probe.note.c_str());
  std::printf("%zu candidate(s) from %zu faces searched (%s). %s\n", r.candidates.size(), r.faces_searched,
              r.index_used == "Flat" ? "exact search" : ("index " + r.index_used + ", re-scored exactly").c_str(),
              kLeadNotice);
  for (const Candidate& c : r.candidates) {
    const FaceProvenance& p = c.provenance;
    std::printf("%3d. %.3f %-9s %s  [%s]\n", c.rank, c.score, ToString(c.band).c_str(),
                p.image.original_name.c_str(), p.collection.name.c_str());
    if (p.source) {
      if (!p.source->title.empty()) std::printf("       title:  %s\n", p.source->title.c_str());
      if (!p.source->source_url.empty()) std::printf("       source: %s\n", p.source->source_url.c_str());
      if (!p.source->page_url.empty()) std::printf("       page:   %s\n", p.source->page_url.c_str());
      if (!p.source->captured_at.empty()) std::printf("       date:   %s\n", p.source->captured_at.c_str());
    }
    const bool own_basis = p.source && !p.source->legal_basis.empty();
    std::printf("       basis:  %s (%s)\n", own_basis ? p.source->legal_basis.c_str() : p.collection.legal_basis.c_str(),
                own_basis ? "this photo's" : "the collection's");
    std::printf("       image:  %s\n", gallery.ImagePath(p.image).string().c_str());
    if (!c.crop_path.empty()) std::printf("       crop:   %s\n", c.crop_path.string().c_str());
  }
}

void Run(SearchFlags& flags) {
  ModelManifest manifest = LoadManifest(flags.engine);
  ChooseProfileForGallery(manifest, flags.gallery, &flags.engine);
  std::unique_ptr<Gallery> gallery =
      Gallery::Open(MakeGalleryOptions(flags.gallery, true), ModelOfProfile(manifest, flags.engine.profile));
  FacePipeline pipeline = MakePipeline(manifest, flags.engine, true);
  cv::Mat image = LoadImage(flags.photo);
  Probe probe = ChooseProbeFace(pipeline, image, flags);
  std::vector<FaceResult> one = {probe.faces[probe.chosen]};
  pipeline.Embed(image, one);
  SearchQuery query;
  query.descriptor = one[0].embedding;
  query.top_k = flags.top;
  query.collections = flags.collections;
  query.min_score = flags.min_score;
  SearchResult result = gallery->Search(query);
  if (!flags.json) {
    for (const std::string& w : gallery->warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
    PrintText(result, probe, *gallery, flags);
    return;
  }
  nlohmann::json faces = nlohmann::json::array();
  for (const FaceResult& f : probe.faces) faces.push_back(FaceJson(f));
  nlohmann::json candidates = nlohmann::json::array();
  for (const Candidate& c : result.candidates) candidates.push_back(CandidateJson(c, *gallery));
  nlohmann::json j = {{"probe", {{"photo", flags.photo}, {"faces", faces}, {"chosen", FaceNumber(probe.chosen)}}},
                      {"model", ModelJson(pipeline, true)},
                      {"notice", kLeadNotice},
                      {"index", result.index_used},
                      {"faces_searched", result.faces_searched},
                      {"warnings", gallery->warnings()},
                      {"candidates", candidates}};
  std::cout << j.dump(2) << "\n";
}

}  // namespace

void RegisterSearch(CLI::App& app) {
  auto flags = std::make_shared<SearchFlags>();
  auto* cmd = app.add_subcommand(
      "search", "Search the gallery for the face in a photo: ranked candidates with score band and provenance");
  cmd->add_option("photo", flags->photo, "Probe photo")->required()->check(CLI::ExistingFile);
  auto* face = cmd->add_option("--face", flags->face,
                               "Face number in the photo, from 1, as listed when several are found (default: the "
                               "largest face scoring at least 0.5)")
                  ->check(CLI::PositiveNumber);
  cmd->add_option("--box", flags->box, "Search the face in this box: x,y,w,h in pixels")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->excludes(face);
  cmd->add_option("--top", flags->top, "Number of candidates (default 20)")
      ->check(CLI::Range(size_t{1}, kMaxCandidates));
  cmd->add_option("--collection", flags->collections, "Search only this collection (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--min-score", flags->min_score, "Drop candidates scoring below this (default: none)")
      ->check(CLI::Range(-1.0, 1.0));
  cmd->add_flag("--json", flags->json, "Print JSON");
  AddGalleryFlags(cmd, &flags->gallery);
  AddEngineFlags(cmd, &flags->engine, true);
  cmd->callback([flags] { Run(*flags); });
}

}  // namespace lineup::cli

// lineup ingest INPUT [--collection NAME] [--legal-basis TEXT] ...
#include <cstdio>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/error.h"
#include "ingest/ingest_pipeline.h"

namespace lineup::cli {

namespace {

struct IngestFlags {
  std::string input;
  IngestOptions options;
  EngineFlags engine;
  GalleryFlags gallery;
  bool no_progress = false;
  bool json = false;
};

nlohmann::json CountersJson(const JobCounters& c) {
  return {{"images_seen", c.images_seen}, {"images_added", c.images_added}, {"duplicates", c.duplicates},
          {"no_face", c.no_face},         {"faces_added", c.faces_added},   {"errors", c.errors},
          {"opted_out", c.opted_out}};
}

void PrintSummary(const IngestSummary& s, const Gallery& gallery) {
  const JobCounters& c = s.counters;
  std::printf("job %lld%s: %s in %.1f s (%.1f images/s)\n", static_cast<long long>(s.job_id),
              s.resumed ? " (resumed)" : "", Counted(c.images_seen, "input").c_str(), s.seconds,
              s.seconds > 0 ? static_cast<double>(c.images_seen) / s.seconds : 0.0);
  if (s.resumed) std::printf("  already done before the interruption: %lld\n", static_cast<long long>(s.already_done));
  std::printf("  added:      %s, %s (%s without a usable face)\n", Counted(c.images_added, "image").c_str(),
              Counted(c.faces_added, "face").c_str(), Counted(c.no_face, "image").c_str());
  std::printf("  duplicates: %lld (same file already in the collection)\n", static_cast<long long>(c.duplicates));
  if (c.opted_out > 0) {
    std::printf("  opted out:  %s not added (%s whole) because they match an opt-out request\n",
                Counted(c.opted_out, "face").c_str(), Counted(s.images_opted_out, "image").c_str());
  }
  std::printf("  errors:     %lld\n", static_cast<long long>(c.errors));
  for (const JobError& e : s.errors) std::printf("    %s: %s\n", e.item.c_str(), e.reason.c_str());
  if (c.errors > static_cast<int64_t>(s.errors.size())) {
    std::printf("    ... all errors: lineup gallery errors %lld\n", static_cast<long long>(s.job_id));
  }
  for (const std::string& w : gallery.warnings()) std::printf("warning: %s\n", w.c_str());
}

void Run(IngestFlags& flags) {
  ModelManifest manifest = LoadManifest(flags.engine);
  try {
    ChooseProfileForGallery(manifest, flags.gallery, &flags.engine);
  } catch (const Error&) {
    // No gallery yet: it will be created for the chosen (or default) profile.
  }
  flags.options.pipeline = MakePipelineOptions(flags.engine, true);
  flags.options.show_progress = !flags.no_progress;
  GalleryModel model = ModelOfProfile(manifest, flags.engine.profile);
  std::unique_ptr<Gallery> gallery = Gallery::Open(MakeGalleryOptions(flags.gallery, false), model);
  IngestSummary summary = RunIngest(*gallery, manifest, flags.input, flags.options);
  if (flags.json) {
    nlohmann::json errors = nlohmann::json::array();
    for (const JobError& e : summary.errors) errors.push_back({{"item", e.item}, {"reason", e.reason}});
    nlohmann::json j = {{"job", summary.job_id},          {"resumed", summary.resumed},
                        {"already_done", summary.already_done}, {"seconds", summary.seconds},
                        {"counters", CountersJson(summary.counters)}, {"errors", errors},
                        {"images_opted_out", summary.images_opted_out},
                        {"warnings", gallery->warnings()}};
    std::cout << j.dump(2) << "\n";
  } else {
    PrintSummary(summary, *gallery);
  }
  if (summary.counters.errors > 0) {
    throw Error(std::to_string(summary.counters.errors) + " of " + std::to_string(summary.counters.images_seen) +
                " input(s) could not be ingested (listed above; all: lineup gallery errors " +
                std::to_string(summary.job_id) + ")");
  }
}

}  // namespace

void RegisterIngest(CLI::App& app) {
  auto flags = std::make_shared<IngestFlags>();
  auto* cmd = app.add_subcommand(
      "ingest",
      "Add photos to the gallery from a folder tree, an archive (zip/tar) or a manifest (JSON lines / CSV "
      "with path, source_url, page_url, title, date, published, collection, legal_basis). Local files only. "
      "Re-running an interrupted ingest resumes it.");
  cmd->add_option("input", flags->input, "Folder, archive or manifest")->required()->check(CLI::ExistingPath);
  cmd->add_option("--collection", flags->options.collection,
                  "Collection to add every input to (required unless a manifest's collection column names one "
                  "on every row; a manifest naming another one is refused)");
  cmd->add_option("--legal-basis", flags->options.legal_basis,
                  "Why you may hold these photos (required when a collection is new; a manifest's legal_basis "
                  "column adds each photo's own)");
  cmd->add_option("--description", flags->options.description, "Description of a new collection");
  cmd->add_option("--jurisdiction", flags->options.jurisdiction, "Jurisdiction of a new collection");
  cmd->add_option("--retention-days", flags->options.retention_days,
                  "Retention of a new collection in days (0 = until deleted)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--workers", flags->options.workers, "Analysis threads (default: one per core)")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--batch", flags->options.batch_images,
                  "Images per gallery transaction (default 32; smaller commits progress more often)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--min-gallery-score", flags->options.min_gallery_face_score,
                  "Store faces whose detection score reaches this (default 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--allow-outside", flags->options.input.allow_outside,
                  "A folder a manifest's rows may name files in besides the manifest's own folder (repeatable); "
                  "nothing is ever read from the gallery's data directory")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--no-progress", flags->no_progress, "No progress bar");
  cmd->add_flag("--json", flags->json, "Print the summary as JSON");
  AddGalleryFlags(cmd, &flags->gallery);
  AddEngineFlags(cmd, &flags->engine, true);
  cmd->callback([flags] { Run(*flags); });
  cmd->footer(
      "Exit status: 0 when every input was ingested (duplicates and images without a face count as ingested), 1 "
      "when any could not be: the others are still added, each failure is listed (in --json as \"errors\").");
}

}  // namespace lineup::cli

// lineup gallery stats | rm (faces) | retention | check | compact | reindex | jobs | errors
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/local_audit.h"
#include "common/error.h"
#include "gallery/erasure.h"

namespace lineup::cli {

namespace {

struct GalleryCommandFlags {
  GalleryFlags gallery;
  bool json = false;
  // rm
  std::vector<int64_t> faces;
  // check / reindex
  bool repair = false;
  bool force = false;
  int64_t job = 0;
  // retention
  std::string collection;
  int64_t days = -1;
};

std::string Bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char s[32];
  std::snprintf(s, sizeof s, "%.1f %s", b, units[u]);
  return s;
}

void Stats(const GalleryCommandFlags& flags) {
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, true);
  GalleryStats s = g->Stats();
  std::vector<OptOut> optouts = g->blocklist().List();
  int64_t pending_optouts = std::count_if(optouts.begin(), optouts.end(),
                                          [](const OptOut& e) { return e.status == OptOutStatus::kPending; });
  size_t pending_erasures = PendingErasures(g->options().data_dir).size();
  if (flags.json) {
    nlohmann::json collections = nlohmann::json::array();
    for (const CollectionStats& c : s.catalog.per_collection) {
      collections.push_back({{"name", c.collection.name},
                             {"legal_basis", c.collection.legal_basis},
                             {"jurisdiction", c.collection.jurisdiction},
                             {"retention_days", c.collection.retention_days},
                             {"images", c.images},
                             {"faces", c.faces}});
    }
    nlohmann::json j = {{"model", s.model.model_id},       {"dim", s.model.dim},
                        {"schema_version", s.catalog.schema_version},
                        {"images", s.catalog.images},      {"faces", s.catalog.faces},
                        {"sources", s.catalog.sources},    {"jobs", s.catalog.jobs},
                        {"searchable_faces", s.live_faces}, {"store_records", s.store_records},
                        {"store_bytes", s.store_file_bytes}, {"index", s.index},
                        {"index_memory_bytes", s.index_memory_bytes}, {"collections", collections},
                        {"optouts", optouts.size()}, {"optouts_pending", pending_optouts},
                        {"erasures_unfinished", pending_erasures},
                        {"warnings", g->warnings()}};
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("gallery %s\n", g->options().data_dir.string().c_str());
  std::printf("  descriptor model: %s (%d-d); catalog schema v%d\n", s.model.model_id.c_str(), s.model.dim,
              s.catalog.schema_version);
  std::printf("  %s, %s (%zu searchable), %s, %s\n", Counted(s.catalog.images, "image").c_str(),
              Counted(s.catalog.faces, "face").c_str(), s.live_faces, Counted(s.catalog.sources, "source").c_str(),
              Counted(s.catalog.jobs, "ingest job").c_str());
  std::printf("  vector store: %s, %s; search: %s\n", Counted(static_cast<int64_t>(s.store_records), "record").c_str(),
              Bytes(static_cast<double>(s.store_file_bytes)).c_str(), s.index.c_str());
  for (const CollectionStats& c : s.catalog.per_collection) {
    const std::string kept = c.collection.retention_days > 0
                                 ? "kept " + Counted(c.collection.retention_days, "day")
                                 : std::string("kept until deleted");
    std::printf("  collection %-20s %14s %14s  %s; legal basis: %s\n", c.collection.name.c_str(),
                Counted(c.images, "image").c_str(), Counted(c.faces, "face").c_str(), kept.c_str(),
                c.collection.legal_basis.c_str());
  }
  std::printf("  opt-outs: %zu (%lld pending removal); unfinished erasures: %zu\n", optouts.size(),
              static_cast<long long>(pending_optouts), pending_erasures);
  for (const std::string& w : g->warnings()) std::printf("warning: %s\n", w.c_str());
}

void Remove(const GalleryCommandFlags& flags) {
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, false);
  DeletionReport r = g->DeleteFaces(flags.faces);
  if (r.faces == 0) throw Error("gallery rm: no face with these ids; nothing deleted");
  std::printf("deleted %lld face(s); they are gone from search results now. "
              "`lineup gallery compact` reclaims the space of their descriptors.\n",
              static_cast<long long>(r.faces));
}

void Check(const GalleryCommandFlags& flags) {
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, !flags.repair);
  CheckReport r = g->Check(flags.repair, !flags.json);
  if (flags.json) {
    std::cout << nlohmann::json({{"ok", r.ok()},
                                 {"catalog_faces", r.catalog_faces},
                                 {"store_records", r.store_records},
                                 {"searchable_faces", r.live_faces},
                                 {"orphan_vectors", r.orphan_vectors},
                                 {"faces_without_vector", r.faces_without_vector},
                                 {"bad_records", r.bad_records},
                                 {"missing_media", r.missing_media},
                                 {"orphan_media", r.orphan_media},
                                 {"problems", r.problems},
                                 {"repaired", flags.repair}})
                     .dump(2)
              << "\n";
  } else {
    std::printf("%s: %lld catalog faces, %lld vector records, %lld searchable\n", r.ok() ? "consistent" : "DAMAGED",
                static_cast<long long>(r.catalog_faces), static_cast<long long>(r.store_records),
                static_cast<long long>(r.live_faces));
    std::printf("  orphan vectors (harmless, left by interrupted writes or deletions): %lld\n",
                static_cast<long long>(r.orphan_vectors));
    std::printf("  orphan media files: %lld\n", static_cast<long long>(r.orphan_media));
    std::printf("  faces without a valid descriptor: %lld; bad vector records: %lld; missing media: %lld\n",
                static_cast<long long>(r.faces_without_vector), static_cast<long long>(r.bad_records),
                static_cast<long long>(r.missing_media));
    for (const std::string& p : r.problems) std::printf("  - %s\n", p.c_str());
    if (flags.repair) std::printf("repaired: orphans removed, faces without a descriptor deleted, store compacted\n");
  }
  if (!r.ok() && !flags.repair) throw Error("gallery check found damage (see above); `--repair` fixes what it can");
}

void Retention(const GalleryCommandFlags& flags) {
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, false);
  std::optional<Collection> c = g->catalog().FindCollection(flags.collection);
  if (!c) throw Error(Context(flags.collection, "no such collection (`lineup gallery stats` lists them)"));
  if (flags.days < 0) throw Error("gallery retention: --days must be 0 (keep until deleted) or more");
  RecordLocalAudit(g->options().data_dir, "settings_change",
                   {{"collection", c->name}, {"retention_days", flags.days}, {"retention_days_before", c->retention_days}});
  g->catalog().SetRetentionDays(c->id, flags.days);
  if (flags.days == 0) {
    std::printf("collection %s: images are kept until deleted\n", c->name.c_str());
  } else {
    std::printf("collection %s: images are erased %lld days after ingest, by `lineup retention run` or the "
                "maintenance job of `lineup serve`\n",
                c->name.c_str(), static_cast<long long>(flags.days));
  }
}

void Jobs(const GalleryCommandFlags& flags) {
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, true);
  nlohmann::json all = nlohmann::json::array();
  for (const IngestJob& j : g->catalog().ListJobs()) {
    const JobCounters& c = j.counters;
    if (flags.json) {
      all.push_back({{"id", j.id}, {"input", j.input}, {"status", ToString(j.status)}, {"started_at", j.started_at},
                     {"finished_at", j.finished_at}, {"images_seen", c.images_seen}, {"images_added", c.images_added},
                     {"faces_added", c.faces_added}, {"duplicates", c.duplicates}, {"errors", c.errors},
                     {"opted_out", c.opted_out}});
      continue;
    }
    std::printf("job %lld  %-11s %s  %lld seen, %lld added, %s, %s, %s, %s  %s\n", static_cast<long long>(j.id),
                ToString(j.status).c_str(), j.started_at.c_str(), static_cast<long long>(c.images_seen),
                static_cast<long long>(c.images_added), Counted(c.faces_added, "face").c_str(),
                Counted(c.duplicates, "duplicate").c_str(), Counted(c.errors, "error").c_str(),
                Counted(c.opted_out, "opted-out face").c_str(), j.input.c_str());
  }
  if (flags.json) std::cout << all.dump(2) << "\n";
}

// The errors of job `flags.job`, or of the newest job when none is named.
void Errors(const GalleryCommandFlags& flags) {
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, true);
  int64_t job = flags.job;
  const std::vector<IngestJob> jobs = g->catalog().ListJobs();
  if (job != 0 && std::none_of(jobs.begin(), jobs.end(), [&](const IngestJob& j) { return j.id == job; })) {
    throw Error(Context("job " + std::to_string(job), "no such ingest job in this gallery (see lineup gallery jobs)"));
  }
  if (job == 0) {
    if (jobs.empty()) {
      std::printf("no ingest jobs in this gallery yet\n");
      return;
    }
    job = jobs.front().id;
    std::printf("job %lld (the newest; another: lineup gallery errors JOB)\n", static_cast<long long>(job));
  }
  const std::vector<JobError> errors = g->catalog().JobErrors(job, 1'000'000);
  if (errors.empty()) std::printf("no errors\n");
  for (const JobError& e : errors) std::printf("%s: %s\n", e.item.c_str(), e.reason.c_str());
}

}  // namespace

void RegisterGallery(CLI::App& app) {
  auto flags = std::make_shared<GalleryCommandFlags>();
  auto* cmd = app.add_subcommand("gallery", "Inspect and maintain the gallery: stats, rm, check, compact, reindex, retention, jobs, errors");
  cmd->require_subcommand(1);

  auto* stats = cmd->add_subcommand("stats", "Collections, images, faces, storage and the search index in use");
  stats->add_flag("--json", flags->json, "Print JSON");
  AddGalleryFlags(stats, &flags->gallery);
  stats->callback([flags] { Stats(*flags); });

  auto* rm = cmd->add_subcommand(
      "rm", "Delete single faces (to erase images, sources, domains, collections or jobs: lineup erase)");
  rm->add_option("--face", flags->faces, "Face id (repeatable)")->required()->allow_extra_args(false);
  AddGalleryFlags(rm, &flags->gallery);
  rm->callback([flags] { Remove(*flags); });

  auto* check = cmd->add_subcommand("check", "Verify that catalog, vector store and media files agree (exit 1 if damaged)");
  check->add_flag("--repair", flags->repair, "Remove orphans, drop faces whose descriptor is damaged, compact");
  check->add_flag("--json", flags->json, "Print JSON");
  AddGalleryFlags(check, &flags->gallery);
  check->callback([flags] { Check(*flags); });

  auto* compact = cmd->add_subcommand("compact", "Reclaim the space of deleted faces' descriptors");
  AddGalleryFlags(compact, &flags->gallery);
  compact->callback([flags] {
    std::unique_ptr<Gallery> g = OpenBoundGallery(flags->gallery, false);
    std::printf("reclaimed %s\n", Bytes(static_cast<double>(g->Compact())).c_str());
  });

  auto* reindex = cmd->add_subcommand("reindex", "Build the approximate index (used above 2M faces)");
  reindex->add_flag("--force", flags->force, "Build it even for a small gallery");
  AddGalleryFlags(reindex, &flags->gallery);
  reindex->callback([flags] {
    std::unique_ptr<Gallery> g = OpenBoundGallery(flags->gallery, false);
    g->BuildIndex(flags->force, true);
    std::printf("search index: %s\n", g->Stats().index.c_str());
  });

  auto* retention = cmd->add_subcommand("retention", "Set how long a collection's images are kept (audited)");
  retention->add_option("collection", flags->collection, "Collection name")->required();
  retention->add_option("--days", flags->days, "Days after ingest; 0 = until deleted")->required();
  AddGalleryFlags(retention, &flags->gallery);
  retention->callback([flags] { Retention(*flags); });

  auto* jobs = cmd->add_subcommand("jobs", "Ingest jobs, newest first");
  jobs->add_flag("--json", flags->json, "Print JSON");
  AddGalleryFlags(jobs, &flags->gallery);
  jobs->callback([flags] { Jobs(*flags); });

  auto* errors = cmd->add_subcommand("errors", "Every error of one ingest job (default: the newest)");
  errors->add_option("job", flags->job, "Job id (see `lineup gallery jobs`); default: the newest job")
      ->check(CLI::PositiveNumber);
  AddGalleryFlags(errors, &flags->gallery);
  errors->callback([flags] { Errors(*flags); });
}

}  // namespace lineup::cli

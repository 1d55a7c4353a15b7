// lineup retention run: deletes what is past its retention
// (governance/retention.h); every deletion audited.
#include <cstdio>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/local_audit.h"
#include "common/error.h"
#include "common/utc_time.h"
#include "governance/retention.h"

namespace lineup::cli {

namespace {

struct RetentionFlags {
  GalleryFlags gallery;
  int64_t case_days = 0;
  bool dry_run = false;
  bool json = false;
};

void Print(const RetentionReport& r) {
  const char* verb = r.dry_run ? "would delete" : "deleted";
  for (const CollectionExpiry& e : r.collections) {
    std::printf("collection %s (kept %lld days): %s %lld image(s), %lld face(s) ingested before %s\n",
                e.collection.c_str(), static_cast<long long>(e.retention_days), verb,
                static_cast<long long>(e.images), static_cast<long long>(e.faces), e.cutoff.c_str());
  }
  for (const CaseExpiry& e : r.cases) {
    std::printf("case %s (kept %lld days): %s %lld probe photo(s) with %lld search(es)\n", e.number.c_str(),
                static_cast<long long>(e.retention_days), verb, static_cast<long long>(e.probes),
                static_cast<long long>(e.searches));
  }
  if (r.collections.empty() && r.cases.empty()) std::printf("nothing is past its retention\n");
  if (r.dry_run) std::printf("dry run: nothing was deleted\n");
}

void Run(const RetentionFlags& flags) {
  if (flags.case_days < 0) throw Error("--case-days: 0 (keep) or more");
  GalleryOptions options = MakeGalleryOptions(flags.gallery, flags.dry_run);
  std::unique_ptr<Gallery> gallery;
  if (BoundModel(flags.gallery)) gallery = OpenBoundGallery(flags.gallery, flags.dry_run);
  GovernanceDb db(options.data_dir / "governance.db");
  Cases cases(db, options.data_dir);
  AuditLog audit(db);
  RetentionReport report = RunRetention(gallery.get(), cases, UnixNow(), {flags.case_days, flags.dry_run}, audit,
                                        LocalAuditEvent("retention", nlohmann::json::object()));
  if (flags.json) {
    std::cout << RetentionJson(report).dump(2) << "\n";
  } else {
    Print(report);
  }
}

}  // namespace

void RegisterRetention(CLI::App& app) {
  auto flags = std::make_shared<RetentionFlags>();
  auto* cmd = app.add_subcommand("retention", "Delete what is past its retention period");
  cmd->require_subcommand(1);
  auto* run = cmd->add_subcommand(
      "run", "Erase images of collections older than their retention days, and probe photos with their searches "
             "older than their case's retention; audited (lineup serve runs this daily)");
  run->add_option("--case-days", flags->case_days,
                  "Retention of probe photos for cases without their own (0 = keep)")
      ->capture_default_str();
  run->add_flag("--dry-run", flags->dry_run, "Show what would be deleted; delete nothing");
  run->add_flag("--json", flags->json, "Print JSON");
  AddGalleryFlags(run, &flags->gallery);
  run->callback([flags] { Run(*flags); });
}

}  // namespace lineup::cli

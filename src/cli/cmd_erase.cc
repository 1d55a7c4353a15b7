// lineup erase: erasure and takedown by image, source URL, domain, URL
// prefix, collection or ingest job (gallery/erasure.h); audited.
#include <cstdio>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/local_audit.h"
#include "common/error.h"
#include "gallery/erasure.h"
#include "governance/audit_once.h"

namespace lineup::cli {

namespace {

struct EraseFlags {
  GalleryFlags gallery;
  std::string image, source_url, domain, url_prefix, collection, job;
  std::string reason;
  bool dry_run = false;
  bool resume = false;
  bool json = false;
};

ErasureSelector SelectorOf(const EraseFlags& f) {
  std::vector<ErasureSelector> named;
  if (!f.image.empty()) named.push_back({EraseBy::kImage, f.image});
  if (!f.source_url.empty()) named.push_back({EraseBy::kSourceUrl, f.source_url});
  if (!f.domain.empty()) named.push_back({EraseBy::kDomain, f.domain});
  if (!f.url_prefix.empty()) named.push_back({EraseBy::kUrlPrefix, f.url_prefix});
  if (!f.collection.empty()) named.push_back({EraseBy::kCollection, f.collection});
  if (!f.job.empty()) named.push_back({EraseBy::kJob, f.job});
  if (named.size() != 1) {
    throw Error("erase: name exactly one of --image ID, --source-url URL, --domain HOST, --url-prefix PREFIX, "
                "--collection NAME, --job ID (or --resume)");
  }
  return named[0];
}

nlohmann::json ReportJson(const ErasureReport& r) {
  return {{"selector", r.selector.Describe()}, {"images", r.deleted.images}, {"faces", r.deleted.faces},
          {"bytes_reclaimed", r.bytes_reclaimed}, {"resumed", r.resumed}};
}

// The record an erasure owes (its journal carries it until it is written,
// gallery/erasure.h): this operator, the selector and the reason.
ErasureAudit AuditOf(const EraseFlags& flags, const std::optional<ErasureSelector>& selector, AuditOnce& once) {
  nlohmann::json details = nlohmann::json::object();
  if (selector) details = {{"by", ToString(selector->by)}, {"value", selector->value}};
  if (!flags.reason.empty()) details["reason"] = flags.reason;
  return {AuditEventJson(LocalAuditEvent("erase", nlohmann::json::object()), details), once.Recorder()};
}

void PrintReport(const ErasureReport& r) {
  std::printf("%serased %s: %lld image(s), %lld face(s); %lld bytes of descriptors reclaimed\n",
              r.resumed ? "finished the interrupted erasure, " : "", r.selector.Describe().c_str(),
              static_cast<long long>(r.deleted.images), static_cast<long long>(r.deleted.faces),
              static_cast<long long>(r.bytes_reclaimed));
}

void DryRun(const EraseFlags& flags, Gallery& g, const ErasureSelector& selector) {
  ErasurePlan plan = PlanErasure(g, selector);
  RequireMatches(plan);  // a dry run fails where the real run would
  nlohmann::json images = nlohmann::json::array();
  constexpr size_t kShown = 20;
  for (size_t i = 0; i < plan.image_ids.size() && i < (flags.json ? plan.image_ids.size() : kShown); ++i) {
    std::optional<ImageRecord> image = g.catalog().GetImage(plan.image_ids[i]);
    if (image) images.push_back({{"id", image->id}, {"original_name", image->original_name}});
  }
  if (flags.json) {
    std::cout << nlohmann::json({{"dry_run", true}, {"selector", selector.Describe()},
                                 {"images", plan.image_ids.size()}, {"faces", plan.faces},
                                 {"collection_row", plan.collection.has_value()}, {"image_list", images}})
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("dry run: erasing %s would delete %zu image(s) and %lld face(s)%s\n", selector.Describe().c_str(),
              plan.image_ids.size(), static_cast<long long>(plan.faces),
              plan.collection ? ", and the collection itself" : "");
  for (const auto& i : images) {
    std::printf("  image %lld  %s\n", i["id"].get<long long>(), i["original_name"].get<std::string>().c_str());
  }
  if (plan.image_ids.size() > kShown) std::printf("  ... and %zu more\n", plan.image_ids.size() - kShown);
  std::printf("nothing was deleted; run again without --dry-run to erase\n");
}

void Run(const EraseFlags& flags) {
  std::optional<ErasureSelector> selector;
  if (!flags.resume) selector = SelectorOf(flags);
  if (selector && !flags.dry_run && flags.reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw Error("erase: say why with --reason TEXT (takedown notice, court order, request number ...): it is kept "
                "in the audit trail; --dry-run shows what would go without erasing");
  }
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, flags.dry_run);
  if (flags.dry_run) {
    if (selector) DryRun(flags, *g, *selector);
    return;
  }
  std::unique_ptr<GovernanceDb> trail = OpenLocalTrail(g->options().data_dir, "erase");
  AuditLog log(*trail);
  AuditOnce once(*trail, log);
  nlohmann::json out = nlohmann::json::array();
  for (const ErasureReport& r : ResumeErasures(*g, AuditOf(flags, std::nullopt, once))) {
    if (!flags.json) PrintReport(r);
    out.push_back(ReportJson(r));
  }
  if (selector) {
    ErasureReport r = Erase(*g, *selector, AuditOf(flags, selector, once));
    if (!flags.json) PrintReport(r);
    out.push_back(ReportJson(r));
  } else if (out.empty() && !flags.json) {
    std::printf("no interrupted erasure to finish\n");
  }
  if (flags.json) std::cout << out.dump(2) << "\n";
}

}  // namespace

void RegisterErase(CLI::App& app) {
  auto flags = std::make_shared<EraseFlags>();
  auto* cmd = app.add_subcommand(
      "erase",
      "Erase images and everything derived from them (faces, descriptors, crops, copies) by image, source URL, "
      "domain, URL prefix, collection or ingest job; compacts the store so no copy remains; audited");
  cmd->add_option("--image", flags->image, "Image id");
  cmd->add_option("--source-url", flags->source_url, "Exact source or page URL");
  cmd->add_option("--domain", flags->domain, "Host name: URLs on it and its subdomains (source or page URL)");
  cmd->add_option("--url-prefix", flags->url_prefix, "Source or page URLs starting with this (byte prefix)");
  cmd->add_option("--collection", flags->collection, "A whole collection (the collection goes too)");
  cmd->add_option("--job", flags->job, "Everything one ingest job added (`lineup gallery jobs`)");
  cmd->add_option("--reason", flags->reason,
                  "Why (takedown notice, court order ...), kept in the audit trail; required to erase");
  cmd->add_flag("--dry-run", flags->dry_run, "Show what would be erased; erase nothing");
  cmd->add_flag("--resume", flags->resume,
                "Only finish erasures an earlier run left unfinished (every erase does this first)");
  cmd->add_flag("--json", flags->json, "Print JSON");
  AddGalleryFlags(cmd, &flags->gallery);
  cmd->callback([flags] { Run(*flags); });
  cmd->footer(
      "Exit status: 0 when erased (or, with --dry-run, when something would be), 1 when the selector names "
      "nothing or is malformed: a dry run and the real run fail alike.");
}

}  // namespace lineup::cli

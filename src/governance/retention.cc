#include "governance/retention.h"

#include "common/utc_time.h"
#include "gallery/erasure.h"
#include "governance/audit_once.h"
#include "governance/governance_db.h"

namespace lineup {

namespace {

AuditEvent RetentionEvent(const AuditEvent& actor, const std::string& case_number, const nlohmann::json& details) {
  AuditEvent e = actor;
  e.action = "retention";
  e.case_number = case_number;
  e.details_json = details.dump();
  return e;
}

void ExpireCollections(Gallery& gallery, int64_t now, const RetentionOptions& options, AuditOnce& once,
                       const AuditEvent& actor, const RetentionHooks& hooks, RetentionReport& report) {
  for (const Collection& c : gallery.catalog().ListCollections()) {
    if (c.retention_days <= 0) continue;
    ErasureSelector selector{EraseBy::kIngestedBefore, c.name, IsoUtc(now - c.retention_days * kSecondsPerDay)};
    ErasurePlan plan = PlanErasure(gallery, selector);
    if (plan.image_ids.empty()) continue;
    CollectionExpiry e{c.name, c.retention_days, selector.before, static_cast<int64_t>(plan.image_ids.size()),
                       plan.faces};
    if (!options.dry_run) {
      AuditEvent who = actor;
      who.action = "retention";
      who.case_number = "";
      nlohmann::json details = {{"kind", "collection"}, {"collection", c.name}, {"retention_days", c.retention_days},
                                {"ingested_before", e.cutoff}};
      ErasureReport r = Erase(gallery, plan, {AuditEventJson(who, details), once.Recorder()}, hooks.erasure);
      e.images = r.deleted.images;
      e.faces = r.deleted.faces;
    }
    report.collections.push_back(std::move(e));
  }
}

}  // namespace

RetentionReport RunRetention(Gallery* gallery, Cases& cases, int64_t now, const RetentionOptions& options,
                             AuditLog& audit, const AuditEvent& actor, const RetentionHooks& hooks) {
  RetentionReport report;
  report.dry_run = options.dry_run;
  if (gallery) {
    AuditOnce once(cases.db(), audit);
    ExpireCollections(*gallery, now, options, once, actor, hooks, report);
  }
  auto record_in = [&](SqliteDb& db, const CaseExpiry& e) {
    if (hooks.in_case_transaction) hooks.in_case_transaction("case_expired", e);
    audit.AppendIn(db, RetentionEvent(actor, e.number,
                                      {{"kind", "case"}, {"retention_days", e.retention_days},
                                       {"probes", e.probes}, {"searches", e.searches}}));
    if (hooks.in_case_transaction) hooks.in_case_transaction("case_recorded", e);
  };
  report.cases = cases.ExpireProbes(options.default_case_days, now, options.dry_run, record_in);
  return report;
}

nlohmann::json RetentionJson(const RetentionReport& report) {
  nlohmann::json collections = nlohmann::json::array(), cases = nlohmann::json::array();
  for (const CollectionExpiry& e : report.collections) {
    collections.push_back({{"collection", e.collection}, {"retention_days", e.retention_days},
                           {"ingested_before", e.cutoff}, {"images", e.images}, {"faces", e.faces}});
  }
  for (const CaseExpiry& e : report.cases) {
    cases.push_back({{"case", e.number}, {"retention_days", e.retention_days}, {"probes", e.probes},
                     {"searches", e.searches}});
  }
  return {{"dry_run", report.dry_run}, {"collections", collections}, {"cases", cases}};
}

}  // namespace lineup

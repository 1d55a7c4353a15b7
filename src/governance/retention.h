// Retention: what Lineup holds only for a while is deleted when the while is
// over. Two kinds:
//  - a collection's retention_days: its images (with faces, crops and
//    copies) ingested more than that many days ago are erased, through
//    gallery/erasure.h (journalled, compacted, crash-safe);
//  - a case's retention_days (else the deployment's default): probe photos
//    older than that, with their searches, candidates and decisions
//    (Cases::ExpireProbes). The cases and the audit trail stay.
// Every deletion has one audit record (action "retention", the actor
// given), written with it: neither or both.
//  - a case's probes go in one governance transaction with their record;
//  - a collection's images go through Erase, whose journal carries the
//    record until it is written (exactly once, gallery/erasure.h).
// A dry run deletes and audits nothing.
// `lineup retention run` and the maintenance job of `lineup serve` call it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gallery/erasure.h"
#include "gallery/gallery.h"
#include "governance/audit_log.h"
#include "governance/cases.h"

namespace lineup {

struct CollectionExpiry {
  std::string collection;
  int64_t retention_days = 0;
  std::string cutoff;   // images ingested before this UTC time
  int64_t images = 0;
  int64_t faces = 0;
};

struct RetentionReport {
  std::vector<CollectionExpiry> collections;  // only those with something to delete
  std::vector<CaseExpiry> cases;
  bool dry_run = false;
};

struct RetentionOptions {
  int64_t default_case_days = 0;  // for cases without their own; 0 = keep
  bool dry_run = false;
};

// Fault injection for tests: a crash at a stage.
struct RetentionHooks {
  // "case_expired": inside a case's transaction, its probes deleted, its
  // record not yet appended; "case_recorded": the record appended, not
  // yet committed. Throwing rolls the case's transaction back.
  std::function<void(const std::string& stage, const CaseExpiry& expiry)> in_case_transaction;
  ErasureHooks erasure;  // for the collections' erasures
};

// `gallery` may be null (no gallery yet) and must be writable unless dry;
// `now` is Unix seconds. `actor` is who the records name (its action,
// case number and details are filled in); `audit` writes to the trail of
// cases.db().
RetentionReport RunRetention(Gallery* gallery, Cases& cases, int64_t now, const RetentionOptions& options,
                             AuditLog& audit, const AuditEvent& actor, const RetentionHooks& hooks = {});

nlohmann::json RetentionJson(const RetentionReport& report);

}  // namespace lineup

// Retention: what Lineup holds only for a while is deleted when the while is
// over. Two kinds:
//  - a collection's retention_days: its images (with faces, crops and
//    copies) ingested more than that many days ago are erased, through
//    gallery/erasure.h (journalled, compacted, crash-safe);
//  - a case's retention_days (else the deployment's default): probe photos
//    older than that, with their searches, candidates and decisions
//    (Cases::ExpireProbes). The cases and the audit trail stay.
// Every deletion is reported to `audit` (action "retention") before
// RunRetention returns; a dry run deletes and audits nothing.
// `lineup retention run` and the maintenance job of `lineup serve` call it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gallery/gallery.h"
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

// (action, case number, details): appends one audit record.
using AuditSink = std::function<void(const std::string& action, const std::string& case_number,
                                     const nlohmann::json& details)>;

// `gallery` may be null (no gallery yet) and must be writable unless dry;
// `now` is Unix seconds.
RetentionReport RunRetention(Gallery* gallery, Cases& cases, int64_t now, const RetentionOptions& options,
                             const AuditSink& audit);

nlohmann::json RetentionJson(const RetentionReport& report);

}  // namespace lineup

// Decisions checked against the audit trail. The decisions table is what
// the case pages and the oversight report read; the trail is what is
// signed. Every decision is written with a "decision" audit record in the
// same transaction (Service::RecordDecision), so the table must agree with
// the newest such record of each (search, face, user):
//  - a row without a record was written behind Lineup's back;
//  - a row whose verdict or note differs from its record was altered;
//  - a record whose search still exists but whose row is gone was deleted
//    behind Lineup's back (deleting a case or its searches removes their
//    decisions, and those searches then no longer exist).
// The decision's time is not compared: the record's time is the commit's.
#pragma once

#include <cstdint>
#include <string>

#include "governance/governance_db.h"

namespace lineup {

struct DecisionTrailCheck {
  bool ok = true;
  int64_t decisions = 0;  // rows of the decisions table checked
  int64_t records = 0;    // "decision" audit records read
  std::string problem;    // the first disagreement, "" when ok
};

// Reads both in one read transaction. Memory grows with the number of
// distinct (search, face, user) decisions in the trail.
DecisionTrailCheck CheckDecisionsAgainstTrail(GovernanceDb& db);

}  // namespace lineup

// Verifying the audit trail as oversight relies on it: the hash chain, the
// anchors a verifier kept, the signed checkpoints published outside the
// database, and the decisions table against the trail. Shared by
// `lineup audit verify` and GET /api/v1/audit/verify.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "governance/audit_checkpoints.h"
#include "governance/audit_log.h"
#include "governance/decision_trail.h"

namespace lineup {

struct TrailVerifyRequest {
  std::vector<AuditAnchor> anchors;           // kept by the verifier (lineup audit head)
  std::filesystem::path checkpoint_file;      // "" = no checkpoints
  std::string public_key_hex;                 // the key the checkpoints must be signed with
};

struct TrailVerification {
  AuditVerification chain;                    // checked with the anchors and the checkpoints
  int64_t anchors = 0;                        // anchors given
  int64_t checkpoints = 0;                    // good checkpoints read (each checked as an anchor)
  std::optional<AuditCheckpoint> newest_checkpoint;  // the one with the highest seq
  std::string checkpoint_problem;             // a bad checkpoint line, "" when none
  DecisionTrailCheck decisions;

  bool ok() const { return chain.ok && checkpoint_problem.empty() && decisions.ok; }
  // Records after the newest checkpoint: only the chain vouches for them.
  int64_t records_after_newest_checkpoint() const;
  std::string problem() const;                // the first problem, "" when ok
};

// Throws NotFound when checkpoint_file is given but does not exist, and
// InvalidArgument when the public key is not one.
TrailVerification VerifyTrail(GovernanceDb& db, AuditLog& log, const TrailVerifyRequest& request);

}  // namespace lineup

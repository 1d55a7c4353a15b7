#include "governance/trail_verification.h"

namespace lineup {

int64_t TrailVerification::records_after_newest_checkpoint() const {
  const int64_t covered = newest_checkpoint ? newest_checkpoint->anchor.seq : 0;
  return chain.head.seq > covered ? chain.head.seq - covered : 0;
}

std::string TrailVerification::problem() const {
  if (!checkpoint_problem.empty()) return checkpoint_problem;
  if (!chain.ok) return chain.problem;
  if (!decisions.ok) return decisions.problem;
  return "";
}

TrailVerification VerifyTrail(GovernanceDb& db, AuditLog& log, const TrailVerifyRequest& request) {
  TrailVerification v;
  v.anchors = static_cast<int64_t>(request.anchors.size());
  std::vector<AuditAnchor> anchors = request.anchors;
  if (!request.checkpoint_file.empty()) {
    CheckpointReading reading = ReadCheckpoints(request.checkpoint_file, request.public_key_hex);
    v.checkpoint_problem = reading.problem;
    v.checkpoints = static_cast<int64_t>(reading.checkpoints.size());
    for (const AuditCheckpoint& cp : reading.checkpoints) {
      anchors.push_back(cp.anchor);
      if (!v.newest_checkpoint || cp.anchor.seq >= v.newest_checkpoint->anchor.seq) v.newest_checkpoint = cp;
    }
  }
  v.chain = log.Verify(anchors);
  v.decisions = CheckDecisionsAgainstTrail(db);
  return v;
}

}  // namespace lineup

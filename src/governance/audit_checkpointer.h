// AuditCheckpointer: publishes signed checkpoints of the audit chain's head
// (audit_checkpoints.h) to its sinks, now and then.
//
// Invariants:
//  - A checkpoint is published only for a committed head (it reads Head()
//    after the transaction), so a rolled-back record is never checkpointed.
//  - The head is published when it moved since the last checkpoint this
//    object published; the first call always publishes. Records appended
//    after the newest checkpoint are covered by the chain only: with the
//    background loop, that window is at most one interval (and Stop()
//    publishes once more).
//  - A sink that fails does not stop the others; the error is kept
//    (last_error) and reported to stderr, and the next round tries again.
//
// Thread safety: PublishIfMoved may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "governance/audit_checkpoints.h"
#include "governance/audit_log.h"
#include "governance/governance_db.h"

namespace lineup {

class AuditCheckpointer {
 public:
  AuditCheckpointer(GovernanceDb& db, AuditLog& log, AuditSigningKey key,
                    std::vector<std::unique_ptr<CheckpointSink>> sinks);
  ~AuditCheckpointer();  // Stop()
  AuditCheckpointer(const AuditCheckpointer&) = delete;
  AuditCheckpointer& operator=(const AuditCheckpointer&) = delete;

  // Returns true when it published; throws Error when every sink failed.
  bool PublishIfMoved();
  // Calls PublishIfMoved every `interval` on a background thread.
  void Start(std::chrono::duration<double> interval);
  // Stops the thread after one last PublishIfMoved. Idempotent.
  void Stop();

  const AuditSigningKey& key() const { return key_; }
  std::vector<std::string> sink_names() const;
  int64_t published() const;
  std::string last_error() const;  // "" after a round where every sink succeeded

 private:
  void Loop(std::chrono::duration<double> interval);
  bool PublishQuietly();  // PublishIfMoved, errors to stderr

  GovernanceDb& db_;
  AuditLog& log_;
  const AuditSigningKey key_;
  const std::vector<std::unique_ptr<CheckpointSink>> sinks_;

  std::mutex publish_mu_;   // one round at a time
  mutable std::mutex mu_;   // guards the members below
  std::condition_variable wake_;
  bool stopping_ = false;
  bool has_published_ = false;
  AuditAnchor last_;        // the head of the last checkpoint published
  int64_t published_ = 0;
  std::string last_error_;
  std::thread thread_;
};

}  // namespace lineup

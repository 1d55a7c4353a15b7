#include "governance/audit_checkpointer.h"

#include <cstdio>
#include <exception>

#include "common/error.h"

namespace lineup {

AuditCheckpointer::AuditCheckpointer(GovernanceDb& db, AuditLog& log, AuditSigningKey key,
                                     std::vector<std::unique_ptr<CheckpointSink>> sinks)
    : db_(db), log_(log), key_(std::move(key)), sinks_(std::move(sinks)) {
  if (sinks_.empty()) throw Error("audit checkpoints: no place to publish them");
}

AuditCheckpointer::~AuditCheckpointer() { Stop(); }

bool AuditCheckpointer::PublishIfMoved() {
  std::lock_guard round(publish_mu_);
  const AuditAnchor head = log_.Head();
  {
    std::lock_guard lock(mu_);
    if (has_published_ && head.seq == last_.seq && head.hash == last_.hash) return false;
  }
  const std::string line = CheckpointLine(SignCheckpoint(key_, head, db_.Now()));
  std::string errors;
  size_t failed = 0;
  for (const auto& sink : sinks_) {
    try {
      sink->Publish(line);
    } catch (const std::exception& e) {
      ++failed;
      errors += (errors.empty() ? "" : "; ") + sink->Describe() + ": " + e.what();
    }
  }
  std::lock_guard lock(mu_);
  last_error_ = errors;
  if (failed == sinks_.size()) throw Error("audit checkpoint not published: " + errors);
  has_published_ = true;
  last_ = head;
  ++published_;
  return true;
}

bool AuditCheckpointer::PublishQuietly() {
  try {
    bool published = PublishIfMoved();
    if (std::string error = last_error(); !error.empty()) {
      std::fprintf(stderr, "audit checkpoint: %s\n", error.c_str());
    }
    return published;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return false;
  }
}

void AuditCheckpointer::Start(std::chrono::duration<double> interval) {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, interval] { Loop(interval); });
}

void AuditCheckpointer::Loop(std::chrono::duration<double> interval) {
  for (;;) {
    PublishQuietly();
    std::unique_lock lock(mu_);
    if (wake_.wait_for(lock, interval, [&] { return stopping_; })) break;
  }
  PublishQuietly();
}

void AuditCheckpointer::Stop() {
  std::thread thread;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    thread = std::move(thread_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

std::vector<std::string> AuditCheckpointer::sink_names() const {
  std::vector<std::string> names;
  for (const auto& sink : sinks_) names.push_back(sink->Describe());
  return names;
}

int64_t AuditCheckpointer::published() const {
  std::lock_guard lock(mu_);
  return published_;
}

std::string AuditCheckpointer::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

}  // namespace lineup

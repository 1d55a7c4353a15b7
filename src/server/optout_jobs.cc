#include "server/optout_jobs.h"

#include <cstdio>
#include <exception>

namespace lineup {

std::string ToString(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kDone: return "done";
    case JobState::kDeferred: return "deferred";
    case JobState::kStopped: return "stopped";
    case JobState::kFailed: return "failed";
  }
  return "?";
}

void OptOutJobs::Control::Progress(const std::string& phase, int64_t total, int64_t scanned, int64_t removed,
                                   int64_t images) {
  jobs_.Update(id_, [&](OptOutJob& j) {
    j.phase = phase;
    j.faces_total = total;
    j.faces_scanned = scanned;
    j.faces_removed = removed;
    j.images_removed = images;
  });
}

bool OptOutJobs::Control::StopRequested() const {
  std::lock_guard lock(jobs_.mu_);
  return jobs_.stopping_;
}

void OptOutJobs::Control::Finish(JobState state, const std::string& message) {
  finished_ = true;
  const int64_t now = jobs_.clock_();
  jobs_.Update(id_, [&](OptOutJob& j) {
    j.state = state;
    j.message = message;
    j.finished_at = now;
  });
}

OptOutJobs::OptOutJobs(std::function<int64_t()> clock) : clock_(std::move(clock)) {}

OptOutJobs::~OptOutJobs() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

OptOutJob OptOutJobs::Submit(int64_t optout_id, const std::string& created_by, Work work) {
  std::lock_guard lock(mu_);
  OptOutJob job;
  job.id = next_id_++;
  job.optout_id = optout_id;
  job.created_by = created_by;
  job.created_at = clock_();
  jobs_[job.id] = job;
  while (jobs_.size() > kKeptJobs) {
    auto oldest = jobs_.begin();
    if (oldest->second.state == JobState::kQueued || oldest->second.state == JobState::kRunning) break;
    jobs_.erase(oldest);
  }
  queue_.emplace_back(job.id, std::move(work));
  if (!worker_.joinable()) worker_ = std::thread([this] { WorkerLoop(); });
  cv_.notify_all();
  return job;
}

std::optional<OptOutJob> OptOutJobs::Get(int64_t id) const {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  return it->second;
}

void OptOutJobs::WaitIdle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void OptOutJobs::Update(int64_t id, const std::function<void(OptOutJob&)>& change) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it != jobs_.end()) change(it->second);
}

void OptOutJobs::WorkerLoop() {
  while (true) {
    std::pair<int64_t, Work> next;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        // Queued jobs never start: their opt-outs stay pending for the maintenance job.
        for (auto& [id, work] : queue_) jobs_[id].state = JobState::kStopped;
        queue_.clear();
        busy_ = false;
        cv_.notify_all();
        return;
      }
      next = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      jobs_[next.first].state = JobState::kRunning;
      jobs_[next.first].started_at = clock_();
    }
    Control control(*this, next.first);
    try {
      next.second(control);
      if (!control.finished_) control.Finish(JobState::kDone);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "opt-out job %lld failed (the maintenance job retries the removal): %s\n",
                   static_cast<long long>(next.first), e.what());
      control.Finish(JobState::kFailed, "the removal failed; the opt-out stays pending and the maintenance job "
                                        "retries it (the server log has the cause)");
    }
    std::lock_guard lock(mu_);
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace lineup

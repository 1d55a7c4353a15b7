// Background opt-out removals of `lineup serve`: POST /api/v1/optouts
// answers as soon as the entry is in the blocklist (the face is hidden from
// searches from then on) and the scan and compaction of the gallery run
// here, one job at a time, reported by GET /api/v1/jobs/{id}.
//
// Invariants:
//  - One worker thread, started with the first job; jobs run in the order
//    submitted. The destructor asks the running job to stop (it ends at its
//    next step, the opt-out left pending) and joins the worker: nothing
//    outlives the Service.
//  - A job that stops, fails or cannot get the gallery leaves its opt-out
//    pending; the maintenance job (and `lineup optout process`) finish it.
//    Job states live in memory only: after a restart the opt-out list, not
//    the job, says what is left.
//  - Work runs without this class's lock; progress updates take it briefly.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace lineup {

enum class JobState { kQueued, kRunning, kDone, kDeferred, kStopped, kFailed };
std::string ToString(JobState state);

struct OptOutJob {
  int64_t id = 0;
  int64_t optout_id = 0;
  std::string created_by;
  JobState state = JobState::kQueued;
  std::string phase;          // RemovalProgress's, "" before it starts
  int64_t faces_total = 0;
  int64_t faces_scanned = 0;
  int64_t faces_removed = 0;
  int64_t images_removed = 0;
  std::string message;        // why deferred, stopped or failed (never internal error text)
  int64_t created_at = 0, started_at = 0, finished_at = 0;  // Unix seconds, 0 = not yet
};

class OptOutJobs {
 public:
  // What a job's work reports through.
  class Control {
   public:
    void Progress(const std::string& phase, int64_t total, int64_t scanned, int64_t removed, int64_t images);
    bool StopRequested() const;
    // Ends the job in `state` (kDone by default when the work returns).
    void Finish(JobState state, const std::string& message = "");

   private:
    friend class OptOutJobs;
    Control(OptOutJobs& jobs, int64_t id) : jobs_(jobs), id_(id) {}
    OptOutJobs& jobs_;
    int64_t id_;
    bool finished_ = false;
  };
  using Work = std::function<void(Control&)>;

  explicit OptOutJobs(std::function<int64_t()> clock);
  ~OptOutJobs();
  OptOutJobs(const OptOutJobs&) = delete;
  OptOutJobs& operator=(const OptOutJobs&) = delete;

  // Queues `work` for opt-out `optout_id`; returns the job as queued.
  OptOutJob Submit(int64_t optout_id, const std::string& created_by, Work work);
  std::optional<OptOutJob> Get(int64_t id) const;
  // Blocks until no job is queued or running (tests; the server never waits).
  void WaitIdle();

 private:
  void WorkerLoop();
  void Update(int64_t id, const std::function<void(OptOutJob&)>& change);

  static constexpr size_t kKeptJobs = 1000;  // finished jobs kept for GET, the oldest dropped

  std::function<int64_t()> clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, OptOutJob> jobs_;
  std::deque<std::pair<int64_t, Work>> queue_;
  int64_t next_id_ = 1;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace lineup

// GalleryReloader: the read-only gallery a server searches, reopened in the
// background when another process (an ingest, a compaction) changed its
// vector store, so that searches see new faces without a restart and never
// wait for a reopen.
//
// Invariants:
//  - Current() never waits for a reopen: it returns the gallery in use and,
//    when the store's size changed and min_interval has passed since the last
//    attempt, starts one background reopen. Only the very first open (there is
//    nothing to search yet) happens in the caller, one caller at a time.
//  - At most one open runs at any moment (first or background).
//  - The new gallery replaces the old one under a short lock; searches in
//    flight keep the gallery they started with (shared ownership).
//  - A failed background open keeps the gallery in use; it is tried again
//    after min_interval.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gallery/gallery.h"

namespace lineup {

class GalleryReloader {
 public:
  // Opens the gallery (read-only); may throw Error.
  using Opener = std::function<std::shared_ptr<Gallery>()>;

  // `store` is the vector store file whose size signals a change.
  GalleryReloader(std::filesystem::path store, std::chrono::duration<double> min_interval, Opener open);
  ~GalleryReloader();  // waits for a background open in flight
  GalleryReloader(const GalleryReloader&) = delete;
  GalleryReloader& operator=(const GalleryReloader&) = delete;

  // The gallery to search, or nullptr while there is no vector store yet.
  // Throws what the opener throws only on the first open.
  std::shared_ptr<Gallery> Current();

  // Blocks until no background open is running (tests, shutdown).
  void WaitForReopen();
  // Background opens finished (successful or not) since construction.
  int64_t reopens_finished() const;
  // The message of the last failed background open; "" if it succeeded.
  std::string last_reopen_error() const;

 private:
  std::shared_ptr<Gallery> OpenFirst(uintmax_t store_bytes);
  bool ShouldReopen(uintmax_t store_bytes, std::chrono::steady_clock::time_point now) const;
  void StartReopen(uintmax_t store_bytes, std::chrono::steady_clock::time_point now);
  void Reopen(uintmax_t store_bytes);

  const std::filesystem::path store_;
  const std::chrono::duration<double> min_interval_;
  const Opener open_;

  std::mutex opener_mu_;  // held by whoever runs open_: one open at a time

  mutable std::mutex mu_;  // guards the members below; never held across open_
  std::condition_variable reopen_done_;
  std::shared_ptr<Gallery> current_;
  uintmax_t opened_bytes_ = 0;  // store size measured just before the current gallery opened
  std::chrono::steady_clock::time_point attempted_at_;
  bool reopening_ = false;
  int64_t reopens_finished_ = 0;
  std::string last_error_;
  std::thread worker_;  // the latest background open; joined by the next start or the destructor
};

}  // namespace lineup

#include "server/gallery_reloader.h"

#include <exception>
#include <utility>

namespace lineup {

namespace fs = std::filesystem;

GalleryReloader::GalleryReloader(fs::path store, std::chrono::duration<double> min_interval, Opener open)
    : store_(std::move(store)), min_interval_(min_interval), open_(std::move(open)) {}

GalleryReloader::~GalleryReloader() {
  std::thread last;
  {
    std::lock_guard lock(mu_);
    last = std::move(worker_);
  }
  if (last.joinable()) last.join();
}

std::shared_ptr<Gallery> GalleryReloader::Current() {
  std::error_code ec;
  const uintmax_t bytes = fs::file_size(store_, ec);
  const auto now = std::chrono::steady_clock::now();
  std::thread finished;
  std::shared_ptr<Gallery> current;
  {
    std::lock_guard lock(mu_);
    if (current_ && !ec && ShouldReopen(bytes, now)) {
      finished = std::move(worker_);
      StartReopen(bytes, now);
    }
    current = current_;
  }
  // The previous worker cleared reopening_ as its last locked step, so this
  // join does not wait for an open.
  if (finished.joinable()) finished.join();
  if (current) return current;
  if (ec) return nullptr;
  return OpenFirst(bytes);
}

bool GalleryReloader::ShouldReopen(uintmax_t store_bytes, std::chrono::steady_clock::time_point now) const {
  return !reopening_ && store_bytes != opened_bytes_ && now - attempted_at_ >= min_interval_;
}

// Called with mu_ held and worker_ moved out.
void GalleryReloader::StartReopen(uintmax_t store_bytes, std::chrono::steady_clock::time_point now) {
  reopening_ = true;
  attempted_at_ = now;
  worker_ = std::thread([this, store_bytes] { Reopen(store_bytes); });
}

void GalleryReloader::Reopen(uintmax_t store_bytes) {
  std::shared_ptr<Gallery> fresh;
  std::string error;
  try {
    std::lock_guard opening(opener_mu_);
    // The size the new gallery is known to cover is the one measured just
    // before it opens, not the one that triggered the reopen: the store may
    // have grown meanwhile (while another open held opener_mu_, say), and a
    // gallery that saw that growth must not look stale and be reopened again.
    std::error_code ec;
    const uintmax_t bytes_now = fs::file_size(store_, ec);
    if (!ec) store_bytes = bytes_now;
    fresh = open_();
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::shared_ptr<Gallery> replaced;  // released outside the lock (and freed by its last search)
  {
    std::lock_guard lock(mu_);
    if (fresh) {
      replaced = std::move(current_);
      current_ = std::move(fresh);
      opened_bytes_ = store_bytes;
    }
    last_error_ = std::move(error);
    reopening_ = false;
    ++reopens_finished_;
  }
  reopen_done_.notify_all();
}

std::shared_ptr<Gallery> GalleryReloader::OpenFirst(uintmax_t store_bytes) {
  std::lock_guard opening(opener_mu_);
  {
    std::lock_guard lock(mu_);
    if (current_) return current_;  // another caller opened it while this one waited
  }
  std::shared_ptr<Gallery> opened = open_();
  std::lock_guard lock(mu_);
  current_ = std::move(opened);
  opened_bytes_ = store_bytes;
  attempted_at_ = std::chrono::steady_clock::now();
  return current_;
}

void GalleryReloader::WaitForReopen() {
  std::unique_lock lock(mu_);
  reopen_done_.wait(lock, [&] { return !reopening_; });
}

int64_t GalleryReloader::reopens_finished() const {
  std::lock_guard lock(mu_);
  return reopens_finished_;
}

std::string GalleryReloader::last_reopen_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

}  // namespace lineup

#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace lineup {

namespace {
std::string FormatSeconds(double s) {
  if (s < 0 || s > 360000) return "--:--";
  int total = static_cast<int>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60);
  return buf;
}
}  // namespace

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && total > 0),
      tty_(::isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { Finish(); }

void Progress::Advance(int64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  int decile = total_ ? static_cast<int>(done_ * 10 / total_) : 10;
  if (tty_ ? now - last_draw_ > std::chrono::milliseconds(100) : decile != last_decile_) {
    last_decile_ = decile;
    last_draw_ = now;
    Draw(false);
  }
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) Draw(true);
}

void Progress::Draw(bool final_line) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0;
  double eta = rate > 0 ? (total_ - done_) / rate : -1;
  const int width = 24;
  int filled = total_ ? static_cast<int>(width * done_ / total_) : width;
  std::string bar(filled, '#');
  bar.resize(width, '-');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld  %.1f/s  %s %s%s", tty_ ? "\r" : "", label_.c_str(),
               bar.c_str(), static_cast<long long>(done_), static_cast<long long>(total_), rate,
               final_line ? "took" : "ETA", FormatSeconds(final_line ? elapsed : eta).c_str(),
               (final_line || !tty_) ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace lineup

// A progress bar on stderr for long jobs: count, rate and ETA. On a terminal
// it redraws one line; otherwise (CI logs, pipes) it prints a line every 10%.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lineup {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled = true);
  ~Progress();
  void Advance(int64_t n = 1);
  void Finish();

 private:
  void Draw(bool final_line);

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace lineup

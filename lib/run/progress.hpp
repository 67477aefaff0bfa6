#pragma once
// The progress line of `train` and `search` on a terminal, tqdm-like:
//
//    37% |█████▉          | 370/1000 steps [00:12<00:20, 30.1 steps/s] val_loss 0.2206  outer_loss 0.231  q 0.31
//
// The bar and the done/total follow the budget that ends the run first (steps, cost or seconds); elapsed is
// the wall time of the run (earlier sessions of a resumed run included), the rate is outer steps per second of
// this session, the ETA extrapolates the budget fraction. Redrawn at most 10 times a second, cut to the
// terminal's width (100 columns when unknown).
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "run/run_state.hpp"

namespace bilevel {

// "00:12", "1:02:03" (hours when needed); "?" for a negative or non-finite time.
std::string clock_text(double seconds);
// 950 → "950", 148000 → "148k", 2.5e6 → "2.5M": short counts for the progress line.
std::string short_count(double v);

class ProgressLine {
 public:
  // `earlier_wall`: wall seconds of earlier sessions (a resumed run); `unit`: "steps" or "candidates".
  ProgressLine(const Budget& budget, double earlier_wall, std::string unit = "steps");

  // Redraws the line (throttled unless `force`): counters, then named values shown after the bar.
  void update(const RunCounters& c, const std::vector<std::pair<std::string, double>>& values, bool force = false);
  // Clears the line (before a final message), if one was drawn.
  void clear();
  // The line for counters `c` at `elapsed` wall seconds and `rate` steps per second (for tests).
  std::string text(const RunCounters& c, const std::vector<std::pair<std::string, double>>& values, double elapsed,
                   double rate) const;

 private:
  Budget budget_;
  double earlier_wall_;
  std::string unit_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t start_step_ = -1;
  bool drawn_ = false;
};

}  // namespace bilevel

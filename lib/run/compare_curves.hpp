#pragma once
// `compare`, curves: one metric's learning curves, aligned on a common x grid (step, cost, or seconds) and
// aggregated per group as the median with an interquartile band. x = cost reads each row's `cost` — the
// counter --budget-cost limits and result.json totals (grad_evals + hvps for runs written before it existed).
//
// Alignment is last-value carry (an as-of join, pandas' merge_asof direction="backward"): at grid point x a
// run's value is its most recent logged value at or before x. Evaluation metrics logged every eval_every
// steps therefore read as "the last evaluation so far", never as a value interpolated between evaluations.
// A run counts at x only between its first logged value and its last row (a run that stopped early is not
// extended), and a group's band is drawn where at least half its runs count.
#include <cstddef>
#include <string>
#include <vector>

#include "run/compare_stats.hpp"

namespace bilevel {

// Curves of one metric, aggregated per group on a common grid of `points` x values in [0, max x].
struct CurveBand {
  std::string label;
  size_t runs = 0;  // ok runs in the group
  std::vector<double> x, median, q25, q75;  // q25, q75: the band's quantiles (band_lo, band_hi of the curves)
  std::vector<size_t> n;  // runs counted at each x
};
struct CompareCurves {
  std::string problem, metric, x;  // x: step | cost | seconds
  std::vector<CurveBand> bands;
  double band_lo = 0.25, band_hi = 0.75;  // the band's quantiles: interquartile, 20–80% for value_subopt
  std::string note;                       // how a derived metric was computed (value_subopt's h*), or ""
  std::vector<std::string> warnings;      // e.g. a value below the recorded h*
};

// Reads curve.jsonl of every ok run. metric = value_subopt (compare_stats.hpp) is derived: each run's `value` rows
// minus its h*, banded 20–80%. Throws option_error for an unknown x (--x grad_evals: with its new
// name), or when some runs do not log `metric` (naming them and the metrics every run logs).
CompareCurves compare_curves(const Comparison& c, const std::string& metric, const std::string& x, int points);

// The band's name: "interquartile" (25–75%) or "20–80%", and the CSV columns' suffixes ("q25", "q20" …).
std::string compare_band_text(const CompareCurves& curves);
std::string compare_band_column(double q);

// The x axes compare accepts; throws option_error for another one (a renamed one says its new name).
void compare_check_x(const std::string& x);

// Every metric the runs log: their final metrics and the numeric fields of the last curve row of the first run
// of each group (so the check reads one curve per group, not every run's).
std::vector<std::string> compare_logged_metrics(const Comparison& c);

}  // namespace bilevel

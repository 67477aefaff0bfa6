#pragma once
// `compare`, statistics: runs grouped by the values of the --by keys, and per group the summaries of the
// final metrics, time and cost counters of its ok runs. Statistics use the runs with status ok only; status
// counts show the others (diverged, interrupted, error, incomplete = no result.json yet).
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "run/compare_runs.hpp"

namespace bilevel {

// Summary of the finite values among `values` (quantiles by linear interpolation, numpy's default; std is
// the sample standard deviation, 0 for one value; se = std/√n the standard error of the mean; ci95 the 95%
// confidence interval of the mean, mean ± t(0.975, n−1)·se, NaN for one value). n = 0: every statistic NaN.
struct CompareSummary {
  size_t n = 0;
  double mean = 0, std = 0, median = 0, q25 = 0, q75 = 0;
  double se = 0, ci95_lo = 0, ci95_hi = 0;
};
CompareSummary compare_summarize(std::vector<double> values);
// Quantile p ∈ [0, 1] of the finite values (linear interpolation); NaN when there are none.
double compare_quantile(std::vector<double> values, double p);

// The derived curve metric value_subopt = h(λ) − h*, the optimisation metric of the stochastic-bilevel literature:
// h(λ) is the `value` a run logs on its evaluation rows (run option value_steps > 0: L_V at an accurate inner
// solution), and h* per run is the `value_star` its rows record (a problem's own h*, e.g. quadratic's, computed
// from its closed forms), else the lowest `value` any of the compared ok runs logged.
inline constexpr const char* kValueSubopt = "value_subopt";
// `values[i]`: run i's logged h; `recorded[i]`: its value_star (NaN when it records none). Returns h* per run and
// sets `source` to how it was found ("recorded by the runs", "best h over the N compared runs", or both).
std::vector<double> compare_value_stars(const std::vector<std::vector<double>>& values,
                                        const std::vector<double>& recorded, std::string& source);

// Student's t quantile t(0.975, df) (the 95% two-sided interval); df ≥ 1.
double student_t975(size_t df);

struct CompareGroup {
  std::string label;                                       // "fo", or "method=ufo, q=0.1"
  std::vector<std::pair<std::string, std::string>> keys;   // --by key → value ("" when a run lacks it)
  std::vector<size_t> runs;                                // indices into Comparison::runs
  std::map<std::string, size_t> status_counts;
  std::map<std::string, CompareSummary> final_metrics;     // result.json "final", ok runs
  CompareSummary seconds, wall_seconds, grad_evals, hvps;  // ok runs
  CompareSummary steps, cost;                              // ok runs: outer steps, and cost (grads + HVPs)
};

struct Comparison {
  std::string problem;              // the problem (or problems, when `problem` is a --by key)
  std::vector<std::string> by;
  std::vector<CompareRun> runs;
  std::vector<CompareGroup> groups;
  std::vector<std::string> metric_names;  // final metrics in display order (outer_loss first)
  std::vector<std::string> warnings;      // groups that mix runs differing in options other than seed and --by
};

// Groups the runs, in natural order of their --by values (numbers by value, then text). Throws option_error
// when the runs come from different problems (unless `problem` is a --by key: then they are kept apart,
// never averaged), `by` is empty, or a --by key is in no run's config (with a "did you mean").
Comparison compare_build(std::vector<CompareRun> runs, const std::vector<std::string>& by);

// The last component of a dotted key ("method_options.q" → "q").
std::string compare_short_key(const std::string& key);

}  // namespace bilevel

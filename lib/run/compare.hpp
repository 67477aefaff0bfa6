#pragma once
// `bilevel-opt compare`: reads run directories (found recursively), groups them by options (`--by`), and
// summarises each group — a table of final metrics, time, cost counters and status counts, and learning
// curves aligned on a common x grid (step, grad_evals + hvps, or seconds), aggregated as the median with an
// interquartile band.
//
// Alignment is last-value carry (an as-of join, pandas' merge_asof direction="backward"): at grid point x a
// run's value is its most recent logged value at or before x. Evaluation metrics logged every eval_every
// steps therefore read as "the last evaluation so far", never as a value interpolated between evaluations.
// A run counts at x only between its first logged value and its last row (a run that stopped early is not
// extended), and a group's band is drawn where at least half its runs count.
//
// Statistics use the runs with status ok only; status counts show the others (diverged, interrupted, error,
// incomplete = no result.json yet).
#include <cstddef>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace bilevel {

struct CompareRun {
  std::filesystem::path dir;
  nlohmann::json config;
  nlohmann::json result;  // null without result.json
  std::string status;     // result.json's status, or "incomplete"
};

// Every directory holding a run's config.json under the given roots (a root may itself be a run), sorted by
// path. Throws option_error for a root that does not exist or when no run is found.
std::vector<CompareRun> compare_find_runs(const std::vector<std::string>& roots);

// Value of a --by key in a run's config.json as text ("" when absent): a dotted path ("method_options.q"),
// a top-level key ("method", "seed", "steps"), or an option name looked up in problem_options,
// method_options and run_options ("q", "inner_steps").
std::string compare_config_value(const nlohmann::json& config, const std::string& key);

// Summary of the finite values among `values` (quantiles by linear interpolation, numpy's default; std is
// the sample standard deviation, 0 for one value). n = 0: every statistic NaN.
struct CompareSummary {
  size_t n = 0;
  double mean = 0, std = 0, median = 0, q25 = 0, q75 = 0;
};
CompareSummary compare_summarize(std::vector<double> values);

struct CompareGroup {
  std::string label;                                       // "fo", or "method=ufo, q=0.1"
  std::vector<std::pair<std::string, std::string>> keys;   // --by key → value ("" when a run lacks it)
  std::vector<size_t> runs;                                // indices into Comparison::runs
  std::map<std::string, size_t> status_counts;
  std::map<std::string, CompareSummary> final_metrics;     // result.json "final", ok runs
  CompareSummary seconds, wall_seconds, grad_evals, hvps;  // ok runs
};

struct Comparison {
  std::string problem;              // the problem (or problems, when `problem` is a --by key)
  std::vector<std::string> by;
  std::vector<CompareRun> runs;
  std::vector<CompareGroup> groups;
  std::vector<std::string> metric_names;  // final metrics in display order (outer_loss first)
  std::vector<std::string> warnings;      // groups that mix runs differing in options other than seed and --by
};

// Groups the runs. Throws option_error when the runs come from different problems (unless `problem` is a
// --by key: then they are kept apart, never averaged) or `by` is empty.
Comparison compare_build(std::vector<CompareRun> runs, const std::vector<std::string>& by);

// The table: format md | csv | json; `robust`: median [q25, q75] instead of mean ± std (json holds both).
std::string compare_table(const Comparison& c, const std::string& format, bool robust);

// Curves of one metric, aggregated per group on a common grid of `points` x values in [0, max x].
struct CurveBand {
  std::string label;
  size_t runs = 0;  // ok runs in the group
  std::vector<double> x, median, q25, q75;
  std::vector<size_t> n;  // runs counted at each x
};
struct CompareCurves {
  std::string problem, metric, x;  // x: step | grad_evals | seconds
  std::vector<CurveBand> bands;
};

// Reads curve.jsonl of every ok run. x = grad_evals means grad_evals + hvps (the count --budget-grad-evals
// limits). Throws option_error for an unknown x, or when some runs do not log `metric` (naming them and the
// metrics every run logs).
CompareCurves compare_curves(const Comparison& c, const std::string& metric, const std::string& x, int points);

// Long format for pandas: group,<x>,<metric>_median,<metric>_q25,<metric>_q75,n.
std::string compare_curves_csv(const CompareCurves& curves);

}  // namespace bilevel

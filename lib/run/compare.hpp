#pragma once
// `bilevel-opt compare`: reads run directories (found recursively), groups them by options (`--by`), and
// summarises each group — a table of final metrics, outer steps, cost, time and status counts, and learning
// curves aligned on a common x grid (step, cost, or seconds), aggregated as the median with an interquartile
// band. Nothing is substituted silently: a --by key no run has, a metric no run logs, an x axis or a plot
// extension compare does not draw are refused (exit 2) with what would be valid. In four parts:
//
//   compare_runs    discovery: the run directories and their option values
//   compare_stats   grouping and statistics of the final metrics, time and cost
//   compare_curves  learning curves resampled on a common grid and aggregated per group
//   compare_table   formats: the table as md | csv | json, the curves as CSV
//
// and plot.hpp draws the curves with gnuplot.
#include <ostream>
#include <string>
#include <vector>

#include "run/compare_curves.hpp"
#include "run/compare_runs.hpp"
#include "run/compare_stats.hpp"
#include "run/compare_table.hpp"

namespace bilevel {

struct CompareParams {
  std::vector<std::string> dirs;
  std::string by = "method";        // comma-separated --by keys
  std::string metric = "outer_loss";
  std::string x = "step";
  std::string format = "md";
  std::string plot;                 // FILE.svg or FILE.png (both are drawn, with .csv and .gp), or "" for no plot
  std::string curves_csv;           // aggregated curves as CSV, or ""
  bool robust = false;
  bool ci = false;                  // the 95% confidence interval of the mean beside mean ± std
  bool per_run = false;             // one row per run instead of per group
  bool logy = false;
  int points = 200;
};

// Runs `compare`: the table to `out`; warnings and the files written to `err`. Curves are computed first, so
// an unusable metric is refused before anything is printed. Throws option_error for bad input, and
// tool_missing (plot.hpp) when gnuplot is not installed — after printing the table and writing the CSV and
// the script.
void run_compare(const CompareParams& params, std::ostream& out, std::ostream& err);

}  // namespace bilevel

// bilevel-opt compare: summarise run directories per group — a table of final metrics, time, cost and status
// counts, and learning curves (median and interquartile band) as CSV and a gnuplot SVG/PNG.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "run/compare.hpp"
#include "run/plot.hpp"

namespace bilevel::app {

void setup_compare(CLI::App& app) {
  auto opts = std::make_shared<CompareParams>();
  auto* sub = app.add_subcommand(
      "compare",
      "Compare run directories (searched recursively): a table per group of final metrics, time, gradient "
      "evaluations and status counts, and learning curves aligned by last-value carry on a common x grid, as "
      "median with an interquartile band");
  sub->add_option("dirs", opts->dirs, "Run directories, or folders holding them (e.g. a sweep's --out)")
      ->required();
  sub->add_option("--by", opts->by,
                  "Group by these config keys, comma-separated: method, seed, a dotted path (method_options.q) or an "
                  "option name (q, inner_steps)")
                  ->capture_default_str();
  sub->add_option("--metric", opts->metric,
                  "Curve metric: outer_loss, hypergrad_norm or a problem metric (test_mse, abs_dM, theta_dist, …)")
                  ->capture_default_str();
  sub->add_option("--x", opts->x,
                  "Curve x axis: step, grad_evals (gradient evaluations + HVPs: the equal-compute view) or seconds "
                  "(estimator time)")
                  ->capture_default_str()
      ->check(CLI::IsMember({"step", "grad_evals", "seconds"}));
  sub->add_flag("--robust", opts->robust, "Median [q25, q75] in the table instead of mean ± std");
  sub->add_option("--format", opts->format, "Table format")->capture_default_str()->check(CLI::IsMember({"md", "csv", "json"}));
  sub->add_option("--plot", opts->plot,
                  "Draw the curves with gnuplot to FILE.svg and FILE.png (with FILE.csv, the data, and FILE.gp, the "
                  "script)");
  sub->add_option("--curves", opts->curves_csv, "Write the aggregated curves as CSV (no gnuplot needed)");
  sub->add_flag("--logy", opts->logy, "Logarithmic y axis in the plot");
  sub->add_option("--points", opts->points, "Points of the x grid the curves are aligned on")
      ->capture_default_str()
      ->check(CLI::Range(2, 100000));
  sub->callback([opts] {
    try {
      run_compare(*opts, std::cout, std::cerr);
    } catch (const tool_missing& e) {
      throw not_available(e.what());
    }
  });
}

}  // namespace bilevel::app

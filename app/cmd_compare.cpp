// bilevel-opt compare: summarise run directories per group — a table of final metrics, outer steps, cost, time
// and status counts, and learning curves (median and interquartile band) as CSV and a gnuplot SVG/PNG.
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
      "Tables and learning curves of run directories, grouped by options. Per group (runs found recursively): "
      "final metrics, outer steps, cost and estimator seconds as mean ± std over seeds (or median [q25, q75]), "
      "and learning curves aligned on a common x grid by last-value carry, as the median with an interquartile "
      "band.");
  sub->add_option("DIR", opts->dirs, "Run directories, or folders holding them (e.g. a sweep's --out)")->required();
  sub->add_option("--by", opts->by,
                  "Group by these config keys, comma-separated: method, seed, an option name (q, inner_steps) or a "
                  "dotted path (method_options.q)")
      ->type_name("KEY,…")
      ->capture_default_str();
  sub->add_option("--metric", opts->metric,
                  "Curve metric: outer_loss, hypergrad_norm or a problem metric (test_mse, abs_dM, …)")
      ->type_name("NAME")
      ->capture_default_str();
  sub->add_option("--x", opts->x,
                  "Curve x axis: step, cost (gradient evaluations + HVPs: the equal-compute view) or seconds")
      ->type_name("AXIS")
      ->capture_default_str();
  sub->add_flag("--robust", opts->robust, "Median [q25, q75] in the table instead of mean ± std");
  sub->add_flag("--ci", opts->ci, "Add the 95% confidence interval of the mean (Student t) beside mean ± std");
  sub->add_flag("--per-run", opts->per_run, "One row per run instead of per group (for pandas)");
  sub->add_option("--format", opts->format, "Table format: md, csv or json")
      ->type_name("FORMAT")
      ->capture_default_str()
      ->check(one_of({"md", "csv", "json"}));
  sub->add_option("--plot", opts->plot,
                  "Draw the curves with gnuplot to FILE.svg and FILE.png (with FILE.csv, the data, and FILE.gp, "
                  "the script)")
      ->type_name("FILE.svg");
  sub->add_option("--curves", opts->curves_csv, "Write the aggregated curves as CSV (no gnuplot needed; - for standard output, the table then goes to standard error)")
      ->type_name("FILE.csv");
  sub->add_flag("--logy", opts->logy, "Logarithmic y axis in the plot");
  sub->add_option("--points", opts->points, "Points of the x grid the curves are aligned on")
      ->type_name("N")
      ->capture_default_str()
      ->check(integer_at_least(2));
  sub->footer(examples_footer({
      "bilevel-opt compare runs/cx                            # table by method, mean ± std over seeds",
      "bilevel-opt compare runs/cx --by method,q --metric abs_dM --x cost --logy --plot runs/cx/dM.svg",
      "bilevel-opt compare runs/cx --ci                       # with the 95% CI of each mean",
      "bilevel-opt compare runs/cx --per-run --format csv > runs.csv",
  }));
  sub->callback([opts] {
    try {
      run_compare(*opts, std::cout, std::cerr);
    } catch (const tool_missing& e) {
      throw not_available(e.what());
    }
  });
}

}  // namespace bilevel::app

// bilevel-opt compare: summarise run directories per group — a table of final metrics, time, cost and status
// counts, and learning curves (median and interquartile band) as CSV and a gnuplot SVG/PNG.
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "run/compare.hpp"
#include "run/files.hpp"
#include "run/plot.hpp"

namespace bilevel::app {

namespace {
struct CompareOptions {
  std::vector<std::string> dirs;
  std::string by = "method";
  std::string metric = "outer_loss";
  std::string x = "step";
  std::string format = "md";
  std::string plot;
  std::string curves_csv;
  bool robust = false;
  bool logy = false;
  int points = 200;
};

std::vector<std::string> split_keys(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string k;
  while (std::getline(ss, k, ','))
    if (!k.empty()) out.push_back(k);
  return out;
}
}  // namespace

void setup_compare(CLI::App& app) {
  auto opts = std::make_shared<CompareOptions>();
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
    const std::vector<std::string> by = split_keys(opts->by);
    if (by.empty()) throw usage_error("--by needs at least one key, e.g. --by method");
    Comparison c = compare_build(compare_find_runs(opts->dirs), by);
    // Curves first: an incompatible metric is refused before anything is printed.
    const bool want_curves = !opts->plot.empty() || !opts->curves_csv.empty();
    CompareCurves curves;
    if (want_curves) curves = compare_curves(c, opts->metric, opts->x, opts->points);
    for (const auto& w : c.warnings) std::cerr << "bilevel-opt compare: warning: " << w << "\n";
    std::cout << compare_table(c, opts->format, opts->robust) << std::flush;
    if (!opts->curves_csv.empty()) {
      write_file_atomic(opts->curves_csv, compare_curves_csv(curves));
      std::cerr << "bilevel-opt compare: curves of " << opts->metric << " written to " << opts->curves_csv << "\n";
    }
    if (!opts->plot.empty()) {
      try {
        const PlotFiles f = plot_curves(curves, opts->plot, opts->logy);
        std::cerr << "bilevel-opt compare: plot of " << opts->metric << " against " << opts->x << " written to "
                  << f.svg.string() << " and " << f.png.string() << " (data " << f.csv.string() << ", script "
                  << f.script.string() << ")\n";
      } catch (const tool_missing& e) {
        throw not_available(e.what());
      }
    }
  });
}

}  // namespace bilevel::app

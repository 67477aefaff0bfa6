#include "run/compare.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "base/errors.hpp"
#include "base/names.hpp"
#include "run/plot.hpp"
#include "sys/files.hpp"

namespace bilevel {

namespace {

std::vector<std::string> split_keys(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string k;
  while (std::getline(ss, k, ','))
    if (!k.empty()) out.push_back(k);
  return out;
}

// compare draws SVG and PNG; any other extension is refused rather than silently replaced.
void check_plot_file(const std::string& plot) {
  if (plot.empty()) return;
  const std::string ext = std::filesystem::path(plot).extension().string();
  if (ext.empty() || ext == ".svg" || ext == ".png") return;
  throw option_error("--plot '" + plot + "': compare draws SVG and PNG (FILE.svg and FILE.png, with FILE.csv and " +
                     "FILE.gp), not " + ext + "; give FILE.svg (for a PDF: rsvg-convert -f pdf FILE.svg > FILE.pdf)");
}

// The curve metric must be one the runs log, whether or not curves are drawn: a typo is an error, not an
// unused flag.
void check_metric(const Comparison& c, const std::string& metric) {
  const std::vector<std::string> logged = compare_logged_metrics(c);
  if (metric == kValueSubopt) {
    // Derived from the `value` rows (compare_curves.hpp).
    if (logged.empty() || std::find(logged.begin(), logged.end(), "value") != logged.end()) return;
    throw option_error("compare --metric value_subopt: the runs log no value function h(λ) (`value`); run them with "
                       "--set value_steps=N (N inner steps for θ*(λ), e.g. 1000)");
  }
  if (logged.empty() || std::find(logged.begin(), logged.end(), metric) != logged.end()) return;  // nothing to check yet
  throw option_error("compare --metric: " + unknown_name_message("metric", metric, logged) + " (what these runs log)");
}

}  // namespace

void run_compare(const CompareParams& p, std::ostream& out, std::ostream& err) {
  const std::vector<std::string> by = split_keys(p.by);
  if (by.empty()) throw usage_error("--by needs at least one key, e.g. --by method");
  compare_check_x(p.x);
  check_plot_file(p.plot);
  if (!p.curves_csv.empty()) sys::check_output_target(p.curves_csv, "--curves");
  if (!p.plot.empty()) {
    const PlotFiles f = plot_files(p.plot);
    for (const auto& file : {f.svg, f.png, f.csv, f.script}) {
      try {
        sys::refuse_non_regular(file);
      } catch (const usage_error& e) {
        throw option_error("--plot '" + p.plot + "': " + e.what());
      }
    }
  }
  std::vector<std::string> damaged;  // run files compare could not use, named in warnings before the table
  const Comparison c = compare_build(compare_find_runs(p.dirs, &damaged), by);
  for (const auto& w : damaged) err << "bilevel-opt compare: warning: " << w << "\n";
  check_metric(c, p.metric);
  const bool want_curves = !p.plot.empty() || !p.curves_csv.empty();
  CompareCurves curves;
  if (want_curves) curves = compare_curves(c, p.metric, p.x, p.points);
  for (const auto& w : c.warnings) err << "bilevel-opt compare: warning: " << w << "\n";
  for (const auto& w : curves.warnings) err << "bilevel-opt compare: warning: " << w << "\n";
  if (!curves.note.empty()) err << "bilevel-opt compare: " << curves.metric << ": " << curves.note << "\n";
  // --curves -: the CSV is standard output, the table goes to standard error.
  std::ostream& table_out = p.curves_csv == "-" ? err : out;
  table_out << (p.per_run ? compare_per_run(c, p.format) : compare_table(c, p.format, p.robust, p.ci)) << std::flush;
  if (!p.curves_csv.empty()) {
    sys::write_output(p.curves_csv, compare_curves_csv(curves));
    if (p.curves_csv != "-") err << "bilevel-opt compare: curves of " << p.metric << " written to " << p.curves_csv << "\n";
  }
  if (!p.plot.empty()) {
    const PlotFiles f = plot_curves(curves, p.plot, p.logy);
    err << "bilevel-opt compare: plot of " << p.metric << " against " << p.x << " written to " << f.svg.string()
        << " and " << f.png.string() << " (data " << f.csv.string() << ", script " << f.script.string() << ")\n";
  }
}

}  // namespace bilevel

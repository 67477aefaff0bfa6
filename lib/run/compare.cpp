#include "run/compare.hpp"

#include <sstream>

#include "base/errors.hpp"
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

}  // namespace

void run_compare(const CompareParams& p, std::ostream& out, std::ostream& err) {
  const std::vector<std::string> by = split_keys(p.by);
  if (by.empty()) throw usage_error("--by needs at least one key, e.g. --by method");
  const Comparison c = compare_build(compare_find_runs(p.dirs), by);
  const bool want_curves = !p.plot.empty() || !p.curves_csv.empty();
  CompareCurves curves;
  if (want_curves) curves = compare_curves(c, p.metric, p.x, p.points);
  for (const auto& w : c.warnings) err << "bilevel-opt compare: warning: " << w << "\n";
  out << compare_table(c, p.format, p.robust) << std::flush;
  if (!p.curves_csv.empty()) {
    sys::write_file_atomic(p.curves_csv, compare_curves_csv(curves));
    err << "bilevel-opt compare: curves of " << p.metric << " written to " << p.curves_csv << "\n";
  }
  if (!p.plot.empty()) {
    const PlotFiles f = plot_curves(curves, p.plot, p.logy);
    err << "bilevel-opt compare: plot of " << p.metric << " against " << p.x << " written to " << f.svg.string()
        << " and " << f.png.string() << " (data " << f.csv.string() << ", script " << f.script.string() << ")\n";
  }
}

}  // namespace bilevel

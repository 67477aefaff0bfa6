#include "run/plot.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "base/errors.hpp"
#include "run/compare_table.hpp"
#include "sys/files.hpp"
#include "sys/process.hpp"

namespace bilevel {

namespace fs = std::filesystem;

namespace {

// Text from run data (labels, option values, names) as it may appear in the script: every control character
// (a newline would end the string, and the next line would run as a command) becomes '?'.
std::string gp_text(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  return out;
}

// A gnuplot single-quoted string: inside one, gnuplot expands nothing (no `command`, no @macro, no \ escape);
// only '' stands for a quote, and only a line end could end it, so control characters are replaced.
std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : gp_text(s)) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string x_label(const std::string& x) {
  if (x == "step") return "outer step";
  if (x == "cost") return "cost: gradient evaluations + Hessian-vector products (full-batch units)";
  if (x == "seconds") return "estimator seconds (evaluation excluded)";
  return x;
}

const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

}  // namespace

std::string plot_gnuplot_script(const CompareCurves& curves, const std::string& svg_name, const std::string& png_name,
                                bool logy) {
  std::ostringstream s;
  s << "# bilevel-opt compare: " << gp_text(curves.metric) << " against " << gp_text(curves.x) << " ("
    << gp_text(curves.problem) << "); per group the median (line) and the " << compare_band_text(curves)
    << " range (band) over its runs,\n"
    << "# aligned on the x grid by last-value carry. Rerun in this folder with: gnuplot <this file>\n";
  char buf[128];
  size_t drawn = 0;
  for (size_t b = 0; b < curves.bands.size(); ++b) {
    const auto& band = curves.bands[b];
    if (band.x.empty()) continue;
    s << "$band" << b << " << EOD\n";
    for (size_t k = 0; k < band.x.size(); ++k) {
      std::snprintf(buf, sizeof buf, "%.10g %.9g %.9g %.9g\n", band.x[k], band.median[k], band.q25[k], band.q75[k]);
      s << buf;
    }
    s << "EOD\n";
    ++drawn;
  }
  s << "set encoding utf8\n";
  s << "set title " << gp_quote(curves.problem + ": " + curves.metric + " (median and " + compare_band_text(curves) + " band per group)")
    << " noenhanced\n";
  s << "set xlabel " << gp_quote(x_label(curves.x)) << " noenhanced\n";
  s << "set ylabel " << gp_quote(curves.metric + (logy ? " (log scale)" : "")) << " noenhanced\n";
  // Short labels: the legend to the right of the plot; long ones (several --by keys) or many groups: below it,
  // in as many columns as fit, with the canvas grown to keep the plot's own height.
  size_t longest = 0;
  for (const auto& band : curves.bands) longest = std::max(longest, band.label.size() + 5);
  const bool below = longest > 24 || drawn > 10;
  int width = 960, height = 540;
  if (below) {
    const size_t cols = std::max<size_t>(1, 900 / (longest * 10 + 90));
    const size_t rows = (drawn + cols - 1) / cols;
    height += static_cast<int>(rows) * 22 + 20;
    s << "set key below center horizontal noenhanced maxcols " << cols << " spacing 1.2\n";
    s << "set rmargin 6\n";
  } else {
    s << "set key outside right top vertical noenhanced spacing 1.3 title 'group (runs)'\n";
  }
  s << "set grid lc rgb '#d0d0d0' lw 1\n";
  s << "set border lc rgb '#404040'\n";
  s << "set style fill transparent solid 0.22 noborder\n";
  s << "set xrange [0:*]\nset autoscale xfixmax\n";
  if (logy) s << "set logscale y 10\nset format y '%g'\n";
  s << "set terminal svg size " << width << "," << height << " dynamic font 'sans,13' background rgb 'white'\n";
  s << "set output " << gp_quote(svg_name) << "\n";
  s << "plot ";
  bool first = true;
  for (size_t b = 0; b < curves.bands.size(); ++b) {
    const auto& band = curves.bands[b];
    if (band.x.empty()) continue;
    const char* colour = palette[b % (sizeof palette / sizeof palette[0])];
    if (!first) s << ", \\\n     ";
    first = false;
    s << "$band" << b << " using 1:3:4 with filledcurves lc rgb '" << colour << "' notitle, \\\n     ";
    s << "$band" << b << " using 1:2 with lines lw 2.5 lc rgb '" << colour << "' title "
      << gp_quote(band.label + " (" + std::to_string(band.runs) + ")");
  }
  if (drawn == 0) s << "NaN notitle";
  s << "\nset output\n";
  s << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
    << "  set terminal pngcairo size " << width * 5 / 4 << "," << height * 5 / 4
    << " font 'sans,12' background rgb 'white'\n"
    << "} else {\n"
    << "  set terminal png size " << width * 5 / 4 << "," << height * 5 / 4 << " truecolor background rgb 'white'\n"
    << "}\n";
  s << "set output " << gp_quote(png_name) << "\nreplot\nset output\n";
  return s.str();
}

PlotFiles plot_files(const std::string& plot_file) {
  fs::path base(plot_file);
  const std::string ext = base.extension().string();
  if (ext == ".svg" || ext == ".png" || ext == ".gp" || ext == ".csv") base.replace_extension();
  PlotFiles f;
  f.svg = base.string() + ".svg";
  f.png = base.string() + ".png";
  f.csv = base.string() + ".csv";
  f.script = base.string() + ".gp";
  return f;
}

PlotFiles plot_curves(const CompareCurves& curves, const std::string& plot_file, bool logy) {
  const PlotFiles f = plot_files(plot_file);
  const fs::path dir = f.svg.parent_path().empty() ? fs::path(".") : f.svg.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  sys::write_file_atomic(f.csv, compare_curves_csv(curves));
  sys::write_file_atomic(f.script, plot_gnuplot_script(curves, f.svg.filename().string(), f.png.filename().string(), logy));
  const std::string gnuplot = sys::find_on_path("gnuplot");
  if (gnuplot.empty()) {
    throw tool_missing("gnuplot is not installed, so no plot was drawn (the curves are in " + f.csv.string() +
                       " and the script in " + f.script.string() +
                       "). Install it with: sudo apt-get install gnuplot-nox   (Debian/Ubuntu), then rerun, "
                       "or run: cd " + dir.string() + " && gnuplot " + f.script.filename().string());
  }
  sys::SpawnOptions opts;
  opts.cwd = dir;
  const sys::ExitStatus st = sys::wait_exit(sys::spawn_process(gnuplot, {"gnuplot", f.script.filename().string()}, opts));
  if (!st.success()) throw io_error("gnuplot failed on " + f.script.string() + " (" + st.text() + ")");
  return f;
}

}  // namespace bilevel

#pragma once
// Learning-curve plots through gnuplot (Debian package gnuplot-nox): one median line and interquartile
// band per group, axes labelled, a legend with each group's run count.
#include <filesystem>
#include <stdexcept>
#include <string>

#include "run/compare_curves.hpp"

namespace bilevel {

// A helper program is not installed; the message says how to install it.
struct tool_missing : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The gnuplot script (data inline) that draws `curves` to `svg_name` and `png_name` (file names relative to
// the directory gnuplot runs in). `logy`: logarithmic y axis.
std::string plot_gnuplot_script(const CompareCurves& curves, const std::string& svg_name, const std::string& png_name,
                                bool logy);

struct PlotFiles {
  std::filesystem::path svg, png, csv, script;
};
// The files a --plot FILE.svg request produces: FILE.svg, FILE.png, FILE.csv (the aggregated curves) and
// FILE.gp (the script, to restyle and rerun with `gnuplot FILE.gp` in that folder).
PlotFiles plot_files(const std::string& plot_file);

// Writes the CSV and the script, then runs gnuplot in the plot's folder. Throws tool_missing (after writing
// the CSV and the script) when gnuplot is not installed, io_error when it fails.
PlotFiles plot_curves(const CompareCurves& curves, const std::string& plot_file, bool logy);

}  // namespace bilevel

#include "run/compare_curves.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include "base/errors.hpp"
#include "base/names.hpp"
#include "sys/files.hpp"

namespace bilevel {

namespace fs = std::filesystem;

namespace {

// One run's logged values of the metric, and what else it logs.
struct Series {
  std::vector<double> x, v;  // logged values of the metric
  double x_end = 0;          // x of the run's last row
  std::set<std::string> metrics;  // every metric the run's rows carry
};

const std::set<std::string> not_metrics = {"step", "seconds", "cost", "grad_evals", "hvps", "eval_seconds"};

double row_x(const nlohmann::json& row, const std::string& x) {
  if (x != "cost") return json_number_or_nan(row, x.c_str());
  const double cost = json_number_or_nan(row, "cost");
  if (std::isfinite(cost)) return cost;
  const double hvps = json_number_or_nan(row, "hvps");  // a run written before rows carried `cost`
  return json_number_or_nan(row, "grad_evals") + (std::isfinite(hvps) ? hvps : 0.0);
}

Series read_series(const fs::path& dir, const std::string& metric, const std::string& x) {
  const fs::path file = dir / "curve.jsonl";
  std::string text;
  try {
    text = sys::read_file(file);
  } catch (const usage_error&) {
    throw option_error("compare: cannot read " + file.string());
  }
  std::istringstream in(text);
  Series s;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
      throw option_error("compare: corrupt " + file.string() + " line " + std::to_string(lineno) + ": " + e.what());
    }
    const double xv = row_x(row, x);
    if (!std::isfinite(xv)) continue;
    s.x_end = std::max(s.x_end, xv);
    for (auto it = row.begin(); it != row.end(); ++it)
      if (it->is_number() && !not_metrics.count(it.key())) s.metrics.insert(it.key());
    const double v = json_number_or_nan(row, metric.c_str());
    if (std::isfinite(v)) {
      s.x.push_back(xv);
      s.v.push_back(v);
    }
  }
  return s;
}

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& m : items) out += (out.empty() ? "" : ", ") + m;
  return out;
}

// Refuses when some runs do not log the metric: curves of different metrics cannot be aggregated. `order`:
// the runs in group order, so the example named is the first such run of the table.
void check_metric_logged(const Comparison& c, const std::map<size_t, Series>& series,
                         const std::vector<size_t>& order, const std::string& metric) {
  std::vector<size_t> missing;
  std::set<std::string> common;  // metrics every run logs
  bool first = true;
  for (size_t i : order) {
    const Series& s = series.at(i);
    if (s.v.empty()) missing.push_back(i);
    if (first) common = s.metrics;
    else {
      std::set<std::string> both;
      std::set_intersection(common.begin(), common.end(), s.metrics.begin(), s.metrics.end(),
                            std::inserter(both, both.end()));
      common = both;
    }
    first = false;
  }
  if (missing.empty()) return;
  const std::string avail = join(common);
  throw option_error("compare: metric '" + metric + "' is not in the curves of " + std::to_string(missing.size()) +
                     " of " + std::to_string(series.size()) + " runs (e.g. " + c.runs[missing.front()].dir.string() +
                     ", which logs: " + join(series.at(missing.front()).metrics) +
                     "); curves of different metrics cannot be aggregated. Metrics every run logs: " +
                     (avail.empty() ? "none" : avail));
}

// `points` equally spaced x values in [0, x_max] (rounded to integers for step; duplicates
// dropped).
std::vector<double> x_grid(double x_max, int points, bool integer_x) {
  std::vector<double> grid;
  for (int k = 0; k < points; ++k) {
    double g = x_max * static_cast<double>(k) / static_cast<double>(points - 1);
    if (integer_x) g = std::round(g);
    if (grid.empty() || g > grid.back()) grid.push_back(g);
  }
  return grid;
}

CurveBand aggregate(const std::string& label, const std::vector<const Series*>& members,
                    const std::vector<double>& grid, double lo, double hi) {
  CurveBand band;
  band.label = label;
  band.runs = members.size();
  const size_t need = (members.size() + 1) / 2;
  std::vector<size_t> cursor(members.size(), 0);
  for (double gx : grid) {
    std::vector<double> vals;
    for (size_t m = 0; m < members.size(); ++m) {
      const Series& s = *members[m];
      size_t& cur = cursor[m];
      while (cur < s.x.size() && s.x[cur] <= gx) ++cur;
      if (cur == 0 || gx > s.x_end) continue;  // nothing logged yet, or the run has ended
      vals.push_back(s.v[cur - 1]);
    }
    if (vals.size() < need || vals.empty()) continue;
    const CompareSummary sm = compare_summarize(vals);
    band.x.push_back(gx);
    band.median.push_back(sm.median);
    band.q25.push_back(lo == 0.25 ? sm.q25 : compare_quantile(vals, lo));
    band.q75.push_back(hi == 0.75 ? sm.q75 : compare_quantile(vals, hi));
    band.n.push_back(sm.n);
  }
  return band;
}

// value_subopt: each series' h values minus its run's h* (compare_value_stars), banded 20–80%.
void value_subopt_series(const Comparison& c, std::map<size_t, Series>& series, const std::vector<size_t>& order,
                         const std::string& x, CompareCurves& out) {
  std::vector<std::vector<double>> values;
  std::vector<double> recorded;
  for (size_t i : order) {
    values.push_back(series.at(i).v);
    const Series stars = read_series(c.runs[i].dir, "value_star", x);
    recorded.push_back(stars.v.empty() ? NAN : stars.v.back());
  }
  const std::vector<double> h_star = compare_value_stars(values, recorded, out.note);
  size_t below = 0;
  double worst = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    for (double& v : series.at(order[k]).v) {
      v -= h_star[k];
      if (v < -1e-12 * std::max(1.0, std::abs(h_star[k]))) ++below, worst = std::min(worst, v);
    }
  }
  if (below > 0) {
    out.warnings.push_back("value_subopt: " + std::to_string(below) + " logged values lie below their recorded h* (by up to " +
                           std::to_string(-worst) + "): the recorded h* is not the optimum");
  }
  out.band_lo = 0.2;
  out.band_hi = 0.8;
}

}  // namespace

std::string compare_band_text(const CompareCurves& curves) {
  if (curves.band_lo == 0.25 && curves.band_hi == 0.75) return "interquartile";
  return std::to_string(static_cast<int>(std::lround(100 * curves.band_lo))) + "–" +
         std::to_string(static_cast<int>(std::lround(100 * curves.band_hi))) + "%";
}

std::string compare_band_column(double q) { return "q" + std::to_string(static_cast<int>(std::lround(100 * q))); }

void compare_check_x(const std::string& x) {
  if (x == "grad_evals") {
    throw option_error("--x grad_evals was renamed --x cost: gradient evaluations + Hessian-vector products in "
                       "full-batch units, the rows' `cost` (what --budget-cost limits)");
  }
  if (x != "step" && x != "cost" && x != "seconds") {
    throw option_error(unknown_name_message("x axis", x, {"step", "cost", "seconds"}));
  }
}

std::vector<std::string> compare_logged_metrics(const Comparison& c) {
  std::set<std::string> all(c.metric_names.begin(), c.metric_names.end());
  for (const auto& g : c.groups) {
    for (size_t i : g.runs) {
      std::string text;
      try {
        text = sys::read_file(c.runs[i].dir / "curve.jsonl");
      } catch (const usage_error&) {
        break;
      }
      const auto end = text.find_last_not_of('\n');
      const auto begin = end == std::string::npos ? std::string::npos : text.rfind('\n', end);
      const std::string last = end == std::string::npos ? "" : text.substr(begin == std::string::npos ? 0 : begin + 1);
      const nlohmann::json row = nlohmann::json::parse(last, nullptr, false);
      if (row.is_object())
        for (auto it = row.begin(); it != row.end(); ++it)
          if (it->is_number() && !not_metrics.count(it.key())) all.insert(it.key());
      break;
    }
  }
  return {all.begin(), all.end()};
}

CompareCurves compare_curves(const Comparison& c, const std::string& metric, const std::string& x, int points) {
  compare_check_x(x);
  if (points < 2) throw option_error("--points must be ≥ 2, got " + std::to_string(points));
  CompareCurves out;
  out.problem = c.problem;
  out.metric = metric;
  out.x = x;
  const bool subopt = metric == kValueSubopt;
  std::map<size_t, Series> series;
  std::vector<size_t> order;
  for (const auto& g : c.groups) {
    for (size_t i : g.runs) {
      if (c.runs[i].status != "ok") continue;
      series[i] = read_series(c.runs[i].dir, subopt ? "value" : metric, x);
      order.push_back(i);
    }
  }
  if (series.empty()) throw option_error("compare: no run with status ok, so no curves to draw");
  check_metric_logged(c, series, order, subopt ? "value" : metric);
  if (subopt) value_subopt_series(c, series, order, x, out);

  double x_max = 0;
  for (const auto& [i, s] : series) x_max = std::max(x_max, s.x_end);
  const std::vector<double> grid = x_grid(x_max, points, x == "step");  // cost may be fractional (minibatches)
  for (const auto& g : c.groups) {
    std::vector<const Series*> members;
    for (size_t i : g.runs)
      if (series.count(i)) members.push_back(&series.at(i));
    if (members.empty()) continue;
    out.bands.push_back(aggregate(g.label, members, grid, out.band_lo, out.band_hi));
  }
  return out;
}

}  // namespace bilevel

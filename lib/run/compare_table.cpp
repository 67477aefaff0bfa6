#include "run/compare_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "base/errors.hpp"
#include "base/number_text.hpp"

namespace bilevel {

namespace {

// A CSV field: quoted (with "" for ") when it holds a comma, a quote or a newline.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// printf-formatted number; "" for NaN and ±inf.
std::string fmt(double v, const char* f = "%.4g") {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string fmt_count(double v) { return std::fabs(v) < 1e15 && v == std::round(v) ? fmt(v, "%.0f") : fmt(v, "%.4g"); }

// A Markdown cell: "mean ± std" or "median [q25, q75]"; one value alone when there is no spread.
std::string cell(const CompareSummary& s, bool robust, bool count = false) {
  if (s.n == 0) return "—";
  auto f = [&](double v) { return count ? fmt_count(v) : fmt(v); };
  if (robust) {
    if (s.n == 1 || (s.q25 == s.median && s.q75 == s.median)) return f(s.median);
    return f(s.median) + " [" + f(s.q25) + ", " + f(s.q75) + "]";
  }
  if (s.n == 1 || s.std == 0) return f(s.mean);
  return f(s.mean) + " ± " + fmt(s.std, "%.2g");
}

// "ok 3, diverged 1": ok first, then the rest alphabetically.
std::string status_text(const std::map<std::string, size_t>& counts) {
  std::string s;
  if (counts.count("ok")) s = "ok " + std::to_string(counts.at("ok"));
  for (const auto& [k, n] : counts) {
    if (k == "ok") continue;
    s += (s.empty() ? "" : ", ") + k + " " + std::to_string(n);
  }
  return s;
}

nlohmann::json summary_json(const CompareSummary& s) {
  nlohmann::json j;
  j["n"] = s.n;
  if (s.n == 0) return j;
  j["mean"] = json_number(s.mean);
  j["std"] = json_number(s.std);
  j["median"] = json_number(s.median);
  j["q25"] = json_number(s.q25);
  j["q75"] = json_number(s.q75);
  return j;
}

std::string table_json(const Comparison& c, bool robust) {
  nlohmann::json j;
  j["problem"] = c.problem;
  j["by"] = c.by;
  j["runs"] = c.runs.size();
  j["statistic"] = robust ? "median_iqr" : "mean_std";
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : c.groups) {
    nlohmann::json gj;
    gj["label"] = g.label;
    nlohmann::json keys = nlohmann::json::object();
    for (const auto& [k, v] : g.keys) keys[k] = v;
    gj["keys"] = keys;
    gj["n"] = g.runs.size();
    gj["status"] = g.status_counts;
    nlohmann::json fin = nlohmann::json::object();
    for (const auto& [m, s] : g.final_metrics) fin[m] = summary_json(s);
    gj["final"] = fin;
    gj["seconds"] = summary_json(g.seconds);
    gj["wall_seconds"] = summary_json(g.wall_seconds);
    gj["grad_evals"] = summary_json(g.grad_evals);
    gj["hvps"] = summary_json(g.hvps);
    nlohmann::json dirs = nlohmann::json::array();
    for (size_t i : g.runs) dirs.push_back(c.runs[i].dir.string());
    gj["dirs"] = dirs;
    groups.push_back(gj);
  }
  j["groups"] = groups;
  j["warnings"] = c.warnings;
  return j.dump(2) + "\n";
}

// The summary a column shows for group g: a final metric, or one of the time and cost totals.
CompareSummary column_summary(const CompareGroup& g, const std::string& m) {
  if (m == "seconds") return g.seconds;
  if (m == "wall_seconds") return g.wall_seconds;
  if (m == "grad_evals") return g.grad_evals;
  if (m == "hvps") return g.hvps;
  return g.final_metrics.count(m) ? g.final_metrics.at(m) : CompareSummary{};
}

void csv_line(std::ostringstream& out, const std::vector<std::string>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << csv_field(fields[i]);
  out << "\n";
}

std::string table_csv(const Comparison& c, bool robust) {
  std::set<std::string> statuses;
  for (const auto& g : c.groups)
    for (const auto& [s, n] : g.status_counts) statuses.insert(s);
  std::vector<std::string> head;
  for (const auto& k : c.by) head.push_back(compare_short_key(k));
  head.insert(head.end(), {"group", "n"});
  for (const auto& s : statuses) head.push_back("n_" + s);
  std::vector<std::string> cols = c.metric_names;
  cols.insert(cols.end(), {"seconds", "wall_seconds", "grad_evals", "hvps"});
  for (const auto& m : cols) {
    if (robust) head.insert(head.end(), {m + "_median", m + "_q25", m + "_q75"});
    else head.insert(head.end(), {m + "_mean", m + "_std"});
  }
  std::ostringstream out;
  csv_line(out, head);
  for (const auto& g : c.groups) {
    std::vector<std::string> row;
    for (const auto& [k, v] : g.keys) row.push_back(v);
    row.push_back(g.label);
    row.push_back(std::to_string(g.runs.size()));
    for (const auto& s : statuses) row.push_back(std::to_string(g.status_counts.count(s) ? g.status_counts.at(s) : 0));
    for (const auto& m : cols) {
      const CompareSummary s = column_summary(g, m);
      auto v = [&](double x) { return s.n ? fmt(x, "%.9g") : std::string(); };
      if (robust) row.insert(row.end(), {v(s.median), v(s.q25), v(s.q75)});
      else row.insert(row.end(), {v(s.mean), v(s.n ? s.std : NAN)});
    }
    csv_line(out, row);
  }
  return out.str();
}

std::string table_md(const Comparison& c, bool robust) {
  bool any_hvps = false;
  for (const auto& g : c.groups) any_hvps = any_hvps || (g.hvps.n > 0 && g.hvps.q75 + g.hvps.mean > 0);
  size_t n_ok = 0;
  for (const auto& r : c.runs) n_ok += r.status == "ok";
  std::ostringstream out;
  out << c.problem << ": " << c.runs.size() << " runs (" << n_ok << " ok) in " << c.groups.size() << " group"
      << (c.groups.size() == 1 ? "" : "s") << " by ";
  for (size_t i = 0; i < c.by.size(); ++i) out << (i ? "," : "") << c.by[i];
  out << "; final metrics, estimator seconds and cost counters of the ok runs as "
      << (robust ? "median [q25, q75]" : "mean ± std") << "\n\n";
  std::vector<std::string> head = {c.by.size() == 1 ? compare_short_key(c.by.front()) : "group", "n", "status"};
  for (const auto& m : c.metric_names) head.push_back(m);
  head.insert(head.end(), {"seconds", "grad_evals"});
  if (any_hvps) head.push_back("hvps");
  out << "|";
  for (const auto& h : head) out << " " << h << " |";
  out << "\n|";
  for (size_t i = 0; i < head.size(); ++i) out << (i < 1 ? "---|" : (i == 2 ? "---|" : "--:|"));
  out << "\n";
  for (const auto& g : c.groups) {
    std::vector<std::string> row = {g.label, std::to_string(g.runs.size()), status_text(g.status_counts)};
    for (const auto& m : c.metric_names) row.push_back(g.final_metrics.count(m) ? cell(g.final_metrics.at(m), robust) : "—");
    row.push_back(cell(g.seconds, robust));
    row.push_back(cell(g.grad_evals, robust, true));
    if (any_hvps) row.push_back(cell(g.hvps, robust, true));
    out << "|";
    for (auto s : row) {
      std::replace(s.begin(), s.end(), '|', '/');
      out << " " << s << " |";
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace

std::string compare_table(const Comparison& c, const std::string& format, bool robust) {
  if (format == "json") return table_json(c, robust);
  if (format == "csv") return table_csv(c, robust);
  if (format != "md") throw option_error("--format '" + format + "': expected md, csv or json");
  return table_md(c, robust);
}

std::string compare_curves_csv(const CompareCurves& curves) {
  std::ostringstream out;
  out << "group," << curves.x << "," << csv_field(curves.metric + "_median") << ","
      << csv_field(curves.metric + "_q25") << "," << csv_field(curves.metric + "_q75") << ",n\n";
  for (const auto& b : curves.bands) {
    for (size_t k = 0; k < b.x.size(); ++k) {
      out << csv_field(b.label) << "," << fmt(b.x[k], "%.10g") << "," << fmt(b.median[k], "%.9g") << ","
          << fmt(b.q25[k], "%.9g") << "," << fmt(b.q75[k], "%.9g") << "," << b.n[k] << "\n";
    }
  }
  return out.str();
}

}  // namespace bilevel

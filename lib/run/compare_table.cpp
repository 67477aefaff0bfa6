#include "run/compare_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "base/errors.hpp"
#include "base/number_text.hpp"
#include "run/number_format.hpp"

namespace bilevel {

namespace {

// A CSV field: quoted (with "" for ") when it holds a comma, a quote or a newline.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Full precision for machines (CSV): "" for NaN and ±inf.
std::string fmt(double v, const char* f = "%.9g") {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A Markdown cell (run/number_format.hpp): "mean ± std" (with " [lo, hi]", the 95% CI of the mean, when `ci`),
// or "median [q25, q75]"; one value alone when there is no spread (`count`: an integer as an integer).
std::string cell(const CompareSummary& s, bool robust, bool ci, bool count = false) {
  if (s.n == 0) return "—";
  if (robust) return format_median_range(s.median, s.q25, s.q75);
  if (s.n == 1 || s.std == 0) return count ? format_count(s.mean) : format_value(s.mean);
  std::string out = format_mean_spread(s.mean, s.std, count);
  if (ci && std::isfinite(s.ci95_lo)) out += " [" + format_value(s.ci95_lo) + ", " + format_value(s.ci95_hi) + "]";
  return out;
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
  j["se"] = json_number(s.se);
  j["ci95"] = {json_number(s.ci95_lo), json_number(s.ci95_hi)};
  j["median"] = json_number(s.median);
  j["q25"] = json_number(s.q25);
  j["q75"] = json_number(s.q75);
  return j;
}

const std::set<std::string> count_columns = {"steps", "cost", "grad_evals", "hvps"};

// The time and cost columns after the final metrics.
const std::vector<std::string> total_columns = {"steps", "cost", "seconds", "wall_seconds", "grad_evals", "hvps"};

// The summary a column shows for group g: a final metric, or one of the totals.
CompareSummary column_summary(const CompareGroup& g, const std::string& m) {
  if (m == "steps") return g.steps;
  if (m == "cost") return g.cost;
  if (m == "seconds") return g.seconds;
  if (m == "wall_seconds") return g.wall_seconds;
  if (m == "grad_evals") return g.grad_evals;
  if (m == "hvps") return g.hvps;
  return g.final_metrics.count(m) ? g.final_metrics.at(m) : CompareSummary{};
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
    for (const auto& col : total_columns) gj[col] = summary_json(column_summary(g, col));
    nlohmann::json dirs = nlohmann::json::array();
    for (size_t i : g.runs) dirs.push_back(c.runs[i].dir.string());
    gj["dirs"] = dirs;
    groups.push_back(gj);
  }
  j["groups"] = groups;
  j["warnings"] = c.warnings;
  return j.dump(2) + "\n";
}

// A Markdown table's head: the names, then the alignment row (the first `left` columns left, the rest right).
void md_head(std::ostringstream& out, const std::vector<std::string>& head, size_t left) {
  out << "|";
  for (const auto& h : head) out << " " << h << " |";
  out << "\n|";
  for (size_t i = 0; i < head.size(); ++i) out << (i < left ? "---|" : "--:|");
  out << "\n";
}

// A Markdown table row; a '|' inside a cell becomes '/'.
void md_row(std::ostringstream& out, const std::vector<std::string>& cells) {
  out << "|";
  for (auto s : cells) {
    std::replace(s.begin(), s.end(), '|', '/');
    out << " " << s << " |";
  }
  out << "\n";
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
  cols.insert(cols.end(), total_columns.begin(), total_columns.end());
  for (const auto& m : cols) {
    if (robust) head.insert(head.end(), {m + "_median", m + "_q25", m + "_q75"});
    else head.insert(head.end(), {m + "_mean", m + "_std", m + "_se", m + "_ci95_lo", m + "_ci95_hi"});
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
      auto v = [&](double x) { return s.n ? fmt(x) : std::string(); };
      if (robust) row.insert(row.end(), {v(s.median), v(s.q25), v(s.q75)});
      else row.insert(row.end(), {v(s.mean), v(s.n ? s.std : NAN), v(s.se), v(s.ci95_lo), v(s.ci95_hi)});
    }
    csv_line(out, row);
  }
  return out.str();
}

std::string table_md(const Comparison& c, bool robust, bool ci) {
  size_t n_ok = 0;
  for (const auto& r : c.runs) n_ok += r.status == "ok";
  std::ostringstream out;
  out << c.problem << ": " << c.runs.size() << " runs (" << n_ok << " ok) in " << c.groups.size() << " group"
      << (c.groups.size() == 1 ? "" : "s") << " by ";
  for (size_t i = 0; i < c.by.size(); ++i) out << (i ? "," : "") << c.by[i];
  out << "; final metrics, outer steps, cost (gradient evaluations + HVPs) and estimator seconds of the ok runs as "
      << (robust ? "median [q25, q75]" : ci ? "mean ± std [95% CI of the mean]" : "mean ± std") << "\n\n";
  std::vector<std::string> head = {c.by.size() == 1 ? compare_short_key(c.by.front()) : "group", "n", "status"};
  for (const auto& m : c.metric_names) head.push_back(m);
  head.insert(head.end(), {"steps", "cost", "seconds"});
  md_head(out, head, 3);
  for (const auto& g : c.groups) {
    std::vector<std::string> row = {g.label, std::to_string(g.runs.size()), status_text(g.status_counts)};
    for (const auto& m : c.metric_names) row.push_back(g.final_metrics.count(m) ? cell(g.final_metrics.at(m), robust, ci) : "—");
    row.push_back(cell(g.steps, robust, false, true));
    row.push_back(cell(g.cost, robust, false, true));
    row.push_back(cell(g.seconds, robust, false));
    md_row(out, row);
  }
  return out.str();
}

}  // namespace

std::string compare_table(const Comparison& c, const std::string& format, bool robust, bool ci) {
  if (format == "json") return table_json(c, robust);
  if (format == "csv") return table_csv(c, robust);
  if (format != "md") throw option_error("--format '" + format + "': expected md, csv or json");
  return table_md(c, robust, ci);
}

std::string compare_per_run(const Comparison& c, const std::string& format) {
  if (format != "md" && format != "csv" && format != "json") {
    throw option_error("--format '" + format + "': expected md, csv or json");
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& g : c.groups) {
    for (size_t i : g.runs) {
      const CompareRun& r = c.runs[i];
      nlohmann::json row = {{"dir", r.dir.string()}, {"group", g.label}};
      for (const auto& k : c.by) row[compare_short_key(k)] = compare_config_value(r.config, k);
      row["status"] = r.status;
      for (const char* k : {"steps", "cost", "grad_evals", "hvps", "seconds", "wall_seconds"})
        row[k] = json_number(json_number_or_nan(r.result, k));
      for (const auto& m : c.metric_names) {
        const bool has = r.result.is_object() && r.result.contains("final") && r.result["final"].is_object();
        row[m] = has ? json_number(json_number_or_nan(r.result["final"], m.c_str())) : nlohmann::json();
      }
      rows.push_back(row);
    }
  }
  if (format == "json") return rows.dump(2) + "\n";
  std::vector<std::string> head = {"dir", "group"};
  for (const auto& k : c.by) head.push_back(compare_short_key(k));
  head.insert(head.end(), {"status", "steps", "cost", "grad_evals", "hvps", "seconds", "wall_seconds"});
  head.insert(head.end(), c.metric_names.begin(), c.metric_names.end());
  std::ostringstream out;
  if (format == "csv") csv_line(out, head);
  else md_head(out, head, 3 + c.by.size());
  for (const auto& row : rows) {
    std::vector<std::string> f;
    for (const auto& h : head) {
      const nlohmann::json& v = row[h];
      if (v.is_string()) f.push_back(v.get<std::string>());
      else if (v.is_number() && format == "csv") f.push_back(fmt(v.get<double>(), "%.17g"));
      else if (v.is_number()) f.push_back(count_columns.count(h) ? format_count(v.get<double>()) : format_value(v.get<double>()));
      else f.push_back("");
    }
    if (format == "csv") csv_line(out, f);
    else md_row(out, f);
  }
  return out.str();
}

std::string compare_curves_csv(const CompareCurves& curves) {
  std::ostringstream out;
  out << "group," << curves.x << "," << csv_field(curves.metric + "_median") << ","
      << csv_field(curves.metric + "_" + compare_band_column(curves.band_lo)) << ","
      << csv_field(curves.metric + "_" + compare_band_column(curves.band_hi)) << ",n\n";
  for (const auto& b : curves.bands) {
    for (size_t k = 0; k < b.x.size(); ++k) {
      out << csv_field(b.label) << "," << fmt(b.x[k], "%.10g") << "," << fmt(b.median[k], "%.9g") << ","
          << fmt(b.q25[k], "%.9g") << "," << fmt(b.q75[k], "%.9g") << "," << b.n[k] << "\n";
    }
  }
  return out.str();
}

}  // namespace bilevel

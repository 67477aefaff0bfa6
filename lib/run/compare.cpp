#include "run/compare.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "run/files.hpp"
#include "base/options.hpp"

namespace bilevel {

namespace fs = std::filesystem;

namespace {

bool is_run_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "config.json", ec);
}

void collect_runs(const fs::path& dir, std::vector<fs::path>& out) {
  if (is_run_dir(dir)) {
    out.push_back(dir);
    return;
  }
  std::vector<fs::path> children;
  std::error_code ec;
  for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code ec2;
    if (it->is_directory(ec2) && !it->is_symlink(ec2)) children.push_back(it->path());
  }
  std::sort(children.begin(), children.end());
  for (const auto& c : children) collect_runs(c, out);
}

std::string json_text(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number_float()) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, j.get<double>());  // shortest exact text: 10.0 → "10"
    return std::string(buf, res.ptr);
  }
  return j.dump();
}

bool parse_number(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// Natural order of option values: numbers by value, then text; a missing value first.
bool value_less(const std::string& a, const std::string& b) {
  if (a.empty() != b.empty()) return a.empty();
  double x, y;
  const bool na = parse_number(a, x), nb = parse_number(b, y);
  if (na && nb && x != y) return x < y;
  if (na != nb) return na;
  return a < b;
}

std::string short_key(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

double number_or_nan(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return NAN;
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

// Flattened config ("problem_options.inner_steps" → "10") for spotting groups that mix different runs.
void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) flatten(*it, key, out);
    else out[key] = json_text(*it);
  }
}

const std::set<std::string> identity_free_keys = {"seed", "threads", "version", "git_revision", "build_type",
                                                  "config_file"};

std::string fmt(double v, const char* f = "%.4g") {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string fmt_count(double v) { return std::fabs(v) < 1e15 && v == std::round(v) ? fmt(v, "%.0f") : fmt(v, "%.4g"); }

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

std::string status_text(const std::map<std::string, size_t>& counts) {
  std::string s;
  // ok first, then the rest alphabetically
  if (counts.count("ok")) s = "ok " + std::to_string(counts.at("ok"));
  for (const auto& [k, n] : counts) {
    if (k == "ok") continue;
    s += (s.empty() ? "" : ", ") + k + " " + std::to_string(n);
  }
  return s;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
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

double quantile_sorted(const std::vector<double>& s, double p) {
  const double h = static_cast<double>(s.size() - 1) * p;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (h - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

}  // namespace

std::vector<CompareRun> compare_find_runs(const std::vector<std::string>& roots) {
  if (roots.empty()) throw option_error("compare: no directories given");
  std::vector<fs::path> dirs;
  for (const auto& r : roots) {
    std::error_code ec;
    if (!fs::is_directory(r, ec)) throw option_error("compare: '" + r + "' is not a directory");
    collect_runs(r, dirs);
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::vector<CompareRun> runs;
  for (const auto& d : dirs) {
    CompareRun run;
    run.dir = d;
    try {
      run.config = read_json(d / "config.json");
    } catch (const std::exception& e) {
      throw option_error(std::string("compare: ") + e.what());
    }
    if (!run.config.is_object() || !run.config.contains("problem") || !run.config.contains("method")) continue;
    run.status = "incomplete";
    std::error_code ec;
    if (fs::exists(d / "result.json", ec)) {
      try {
        run.result = read_json(d / "result.json");
        if (run.result.is_object() && run.result.contains("status") && run.result["status"].is_string())
          run.status = run.result["status"].get<std::string>();
      } catch (const std::exception&) {
        run.result = nullptr;  // written atomically, so unreadable means damaged afterwards: count it incomplete
      }
    }
    runs.push_back(std::move(run));
  }
  if (runs.empty()) {
    std::string list;
    for (const auto& r : roots) list += (list.empty() ? "" : ", ") + r;
    throw option_error("compare: no run directories (with a config.json from `bilevel-opt train`) under " + list);
  }
  return runs;
}

std::string compare_config_value(const nlohmann::json& config, const std::string& key) {
  if (!config.is_object()) return "";
  if (key.find('.') != std::string::npos) {
    const nlohmann::json* j = &config;
    std::stringstream ss(key);
    std::string part;
    while (std::getline(ss, part, '.')) {
      if (!j->is_object() || !j->contains(part)) return "";
      j = &(*j)[part];
    }
    return j->is_object() ? "" : json_text(*j);
  }
  if (config.contains(key) && !config[key].is_object()) return json_text(config[key]);
  for (const char* table : {"problem_options", "method_options", "run_options"}) {
    if (config.contains(table) && config[table].is_object() && config[table].contains(key))
      return json_text(config[table][key]);
  }
  return "";
}

CompareSummary compare_summarize(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }),
               values.end());
  CompareSummary s;
  s.n = values.size();
  if (s.n == 0) {
    s.mean = s.std = s.median = s.q25 = s.q75 = NAN;
    return s;
  }
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(s.n);
  double ss = 0;
  for (double v : values) ss += (v - s.mean) * (v - s.mean);
  s.std = s.n > 1 ? std::sqrt(ss / static_cast<double>(s.n - 1)) : 0.0;
  if (s.std <= 1e-12 * std::fabs(s.mean)) s.std = 0;  // rounding noise of identical values
  s.median = quantile_sorted(values, 0.5);
  s.q25 = quantile_sorted(values, 0.25);
  s.q75 = quantile_sorted(values, 0.75);
  return s;
}

Comparison compare_build(std::vector<CompareRun> runs, const std::vector<std::string>& by) {
  if (by.empty()) throw option_error("compare: --by needs at least one key (e.g. --by method)");
  Comparison c;
  c.by = by;
  c.runs = std::move(runs);

  std::map<std::string, std::vector<size_t>> by_problem;
  for (size_t i = 0; i < c.runs.size(); ++i) by_problem[json_text(c.runs[i].config["problem"])].push_back(i);
  const bool problem_is_key = std::find(by.begin(), by.end(), "problem") != by.end();
  if (by_problem.size() > 1 && !problem_is_key) {
    std::string list;
    for (const auto& [p, idx] : by_problem) {
      list += (list.empty() ? "" : "; ") + p + " (" + std::to_string(idx.size()) + " runs, e.g. " +
              c.runs[idx.front()].dir.string() + ")";
    }
    throw option_error("compare: the runs come from different problems, whose metrics cannot be averaged: " + list +
                       ". Compare one problem at a time, or add --by problem to keep them apart");
  }
  for (const auto& [p, idx] : by_problem) c.problem += (c.problem.empty() ? "" : ", ") + p;

  // Group by the values of the --by keys.
  std::map<std::vector<std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < c.runs.size(); ++i) {
    std::vector<std::string> vals;
    for (const auto& k : by) vals.push_back(compare_config_value(c.runs[i].config, k));
    groups[vals].push_back(i);
  }
  std::vector<std::vector<std::string>> order;
  for (const auto& [vals, idx] : groups) order.push_back(vals);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] == b[i]) continue;
      return value_less(a[i], b[i]);
    }
    return false;
  });

  std::set<std::string> metric_set;
  struct MixedKey {
    size_t groups = 0;
    std::string example;
    std::set<std::string> values;
  };
  std::map<std::string, MixedKey> mixed;  // options that differ inside a group, over all groups
  for (const auto& vals : order) {
    CompareGroup g;
    g.runs = groups[vals];
    for (size_t k = 0; k < by.size(); ++k) {
      g.keys.push_back({by[k], vals[k]});
      if (vals[k].empty()) continue;
      if (by.size() == 1) g.label = vals[k];
      else g.label += (g.label.empty() ? "" : ", ") + short_key(by[k]) + "=" + vals[k];
    }
    if (g.label.empty()) g.label = "(no " + short_key(by.front()) + ")";
    std::map<std::string, std::vector<double>> finals;
    std::vector<double> secs, wall, ge, hv;
    for (size_t i : g.runs) {
      const CompareRun& r = c.runs[i];
      ++g.status_counts[r.status];
      if (r.status != "ok") continue;
      if (r.result.contains("final") && r.result["final"].is_object()) {
        for (auto it = r.result["final"].begin(); it != r.result["final"].end(); ++it) {
          if (it->is_number()) {
            finals[it.key()].push_back(it->get<double>());
            metric_set.insert(it.key());
          }
        }
      }
      secs.push_back(number_or_nan(r.result, "seconds"));
      wall.push_back(number_or_nan(r.result, "wall_seconds"));
      ge.push_back(number_or_nan(r.result, "grad_evals"));
      hv.push_back(number_or_nan(r.result, "hvps"));
    }
    for (auto& [m, v] : finals) g.final_metrics[m] = compare_summarize(v);
    g.seconds = compare_summarize(secs);
    g.wall_seconds = compare_summarize(wall);
    g.grad_evals = compare_summarize(ge);
    g.hvps = compare_summarize(hv);

    // Options that differ inside the group (other than seeds and the --by keys) are worth a warning.
    std::map<std::string, std::set<std::string>> seen;
    for (size_t i : g.runs) {
      std::map<std::string, std::string> flat;
      flatten(c.runs[i].config, "", flat);
      for (const auto& [k, v] : flat) seen[k].insert(v);
    }
    for (const auto& [k, vals2] : seen) {
      if (vals2.size() < 2 || identity_free_keys.count(k)) continue;
      bool is_by = false;
      for (const auto& b : by) is_by = is_by || b == k || b == short_key(k);
      if (is_by) continue;
      MixedKey& m = mixed[k];
      if (m.groups++ == 0) {
        m.example = g.label;
        m.values = vals2;
      }
    }
    c.groups.push_back(std::move(g));
  }
  for (const auto& [k, m] : mixed) {
    std::string list;
    size_t shown = 0;
    for (const auto& v : m.values) {
      if (shown++ == 4) {
        list += ", …";
        break;
      }
      list += (list.empty() ? "" : ", ") + (v.empty() ? std::string("(none)") : v);
    }
    c.warnings.push_back((m.groups == 1 ? "group '" + m.example + "' mixes"
                                        : std::to_string(m.groups) + " groups (e.g. '" + m.example + "') mix") +
                         " runs with different " + k + " (" + list + "); add --by " + short_key(k) +
                         " to keep them apart");
  }
  if (metric_set.count("outer_loss")) c.metric_names.push_back("outer_loss");
  for (const auto& m : metric_set)
    if (m != "outer_loss") c.metric_names.push_back(m);
  return c;
}

std::string compare_table(const Comparison& c, const std::string& format, bool robust) {
  std::ostringstream out;
  if (format == "json") {
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
    out << j.dump(2) << "\n";
    return out.str();
  }

  std::set<std::string> statuses;
  for (const auto& g : c.groups)
    for (const auto& [s, n] : g.status_counts) statuses.insert(s);
  bool any_hvps = false;
  for (const auto& g : c.groups) any_hvps = any_hvps || (g.hvps.n > 0 && g.hvps.q75 + g.hvps.mean > 0);

  if (format == "csv") {
    std::vector<std::string> head;
    for (const auto& k : c.by) head.push_back(short_key(k));
    head.insert(head.end(), {"group", "n"});
    for (const auto& s : statuses) head.push_back("n_" + s);
    std::vector<std::string> cols = c.metric_names;
    cols.insert(cols.end(), {"seconds", "wall_seconds", "grad_evals", "hvps"});
    for (const auto& m : cols) {
      if (robust) head.insert(head.end(), {m + "_median", m + "_q25", m + "_q75"});
      else head.insert(head.end(), {m + "_mean", m + "_std"});
    }
    for (size_t i = 0; i < head.size(); ++i) out << (i ? "," : "") << csv_field(head[i]);
    out << "\n";
    for (const auto& g : c.groups) {
      std::vector<std::string> row;
      for (const auto& [k, v] : g.keys) row.push_back(v);
      row.push_back(g.label);
      row.push_back(std::to_string(g.runs.size()));
      for (const auto& s : statuses) row.push_back(std::to_string(g.status_counts.count(s) ? g.status_counts.at(s) : 0));
      for (const auto& m : cols) {
        CompareSummary s;
        if (m == "seconds") s = g.seconds;
        else if (m == "wall_seconds") s = g.wall_seconds;
        else if (m == "grad_evals") s = g.grad_evals;
        else if (m == "hvps") s = g.hvps;
        else if (g.final_metrics.count(m)) s = g.final_metrics.at(m);
        auto v = [&](double x) { return s.n ? fmt(x, "%.9g") : std::string(); };
        if (robust) row.insert(row.end(), {v(s.median), v(s.q25), v(s.q75)});
        else row.insert(row.end(), {v(s.mean), v(s.n ? s.std : NAN)});
      }
      for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_field(row[i]);
      out << "\n";
    }
    return out.str();
  }

  if (format != "md") throw option_error("--format '" + format + "': expected md, csv or json");
  size_t n_ok = 0;
  for (const auto& r : c.runs) n_ok += r.status == "ok";
  out << c.problem << ": " << c.runs.size() << " runs (" << n_ok << " ok) in " << c.groups.size() << " group"
      << (c.groups.size() == 1 ? "" : "s") << " by ";
  for (size_t i = 0; i < c.by.size(); ++i) out << (i ? "," : "") << c.by[i];
  out << "; final metrics, estimator seconds and cost counters of the ok runs as "
      << (robust ? "median [q25, q75]" : "mean ± std") << "\n\n";
  std::vector<std::string> head = {c.by.size() == 1 ? short_key(c.by.front()) : "group", "n", "status"};
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

CompareCurves compare_curves(const Comparison& c, const std::string& metric, const std::string& x, int points) {
  if (x != "step" && x != "grad_evals" && x != "seconds") {
    throw option_error("--x '" + x + "': expected step, grad_evals or seconds");
  }
  if (points < 2) throw option_error("--points must be ≥ 2, got " + std::to_string(points));
  CompareCurves out;
  out.problem = c.problem;
  out.metric = metric;
  out.x = x;

  struct Series {
    std::vector<double> x, v;  // logged values of the metric
    double x_end = 0;          // x of the run's last row
  };
  static const std::set<std::string> not_metrics = {"step", "seconds", "grad_evals", "hvps", "eval_seconds"};
  std::map<size_t, Series> series;
  std::set<std::string> common;  // metrics every run logs
  bool first = true;
  std::vector<size_t> missing;
  std::map<size_t, std::set<std::string>> has;
  for (const auto& g : c.groups) {
    for (size_t i : g.runs) {
      const CompareRun& r = c.runs[i];
      if (r.status != "ok") continue;
      std::ifstream in(r.dir / "curve.jsonl");
      if (!in) throw option_error("compare: cannot read " + (r.dir / "curve.jsonl").string());
      Series s;
      std::set<std::string> keys;
      std::string line;
      size_t lineno = 0;
      while (std::getline(in, line)) {
        ++lineno;
        if (line.empty()) continue;
        nlohmann::json row;
        try {
          row = nlohmann::json::parse(line);
        } catch (const nlohmann::json::parse_error& e) {
          throw option_error("compare: corrupt " + (r.dir / "curve.jsonl").string() + " line " +
                             std::to_string(lineno) + ": " + e.what());
        }
        double xv = x == "grad_evals" ? number_or_nan(row, "grad_evals") + (std::isfinite(number_or_nan(row, "hvps"))
                                                                                ? number_or_nan(row, "hvps")
                                                                                : 0.0)
                                      : number_or_nan(row, x.c_str());
        if (!std::isfinite(xv)) continue;
        s.x_end = std::max(s.x_end, xv);
        for (auto it = row.begin(); it != row.end(); ++it)
          if (it->is_number() && !not_metrics.count(it.key())) keys.insert(it.key());
        const double v = number_or_nan(row, metric.c_str());
        if (std::isfinite(v)) {
          s.x.push_back(xv);
          s.v.push_back(v);
        }
      }
      if (s.v.empty()) missing.push_back(i);
      has[i] = keys;
      if (first) common = keys;
      else {
        std::set<std::string> both;
        std::set_intersection(common.begin(), common.end(), keys.begin(), keys.end(), std::inserter(both, both.end()));
        common = both;
      }
      first = false;
      series[i] = std::move(s);
    }
  }
  if (series.empty()) throw option_error("compare: no run with status ok, so no curves to draw");
  if (!missing.empty()) {
    std::string avail;
    for (const auto& m : common) avail += (avail.empty() ? "" : ", ") + m;
    std::string theirs;
    for (const auto& m : has[missing.front()]) theirs += (theirs.empty() ? "" : ", ") + m;
    throw option_error("compare: metric '" + metric + "' is not in the curves of " + std::to_string(missing.size()) +
                       " of " + std::to_string(series.size()) + " runs (e.g. " +
                       c.runs[missing.front()].dir.string() + ", which logs: " + theirs +
                       "); curves of different metrics cannot be aggregated. Metrics every run logs: " +
                       (avail.empty() ? "none" : avail));
  }

  double x_max = 0;
  for (const auto& [i, s] : series) x_max = std::max(x_max, s.x_end);
  std::vector<double> grid;
  const bool integer_x = x != "seconds";
  for (int k = 0; k < points; ++k) {
    double g = x_max * static_cast<double>(k) / static_cast<double>(points - 1);
    if (integer_x) g = std::round(g);
    if (grid.empty() || g > grid.back()) grid.push_back(g);
  }
  for (const auto& g : c.groups) {
    CurveBand band;
    band.label = g.label;
    std::vector<const Series*> members;
    for (size_t i : g.runs)
      if (series.count(i)) members.push_back(&series.at(i));
    band.runs = members.size();
    if (members.empty()) continue;
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
      band.q25.push_back(sm.q25);
      band.q75.push_back(sm.q75);
      band.n.push_back(sm.n);
    }
    out.bands.push_back(std::move(band));
  }
  return out;
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

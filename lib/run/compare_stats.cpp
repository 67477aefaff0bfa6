#include "run/compare_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "base/errors.hpp"
#include "base/names.hpp"

namespace bilevel {

namespace {

// A run's cost: result.json's `cost`, or grad_evals + hvps for runs written before it was recorded (the same
// quantity for full-batch estimators).
double run_cost(const nlohmann::json& result) {
  const double c = json_number_or_nan(result, "cost");
  if (std::isfinite(c)) return c;
  const double hv = json_number_or_nan(result, "hvps");
  return json_number_or_nan(result, "grad_evals") + (std::isfinite(hv) ? hv : 0.0);
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

double quantile_sorted(const std::vector<double>& s, double p) {
  const double h = static_cast<double>(s.size() - 1) * p;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (h - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

}  // namespace

double compare_quantile(std::vector<double> values, double p) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }), values.end());
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  return quantile_sorted(values, p);
}

std::vector<double> compare_value_stars(const std::vector<std::vector<double>>& values,
                                        const std::vector<double>& recorded, std::string& source) {
  double best = INFINITY;
  for (const auto& v : values)
    for (double x : v)
      if (std::isfinite(x)) best = std::min(best, x);
  std::vector<double> out(values.size());
  size_t own = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const bool has = i < recorded.size() && std::isfinite(recorded[i]);
    own += has ? 1 : 0;
    out[i] = has ? recorded[i] : best;
  }
  const std::string best_text = "the best h over the " + std::to_string(values.size()) + " compared runs";
  source = own == values.size() ? std::string("h* recorded by the runs (their value_star metric)")
           : own == 0           ? "h* = " + best_text
                                : "h* recorded by " + std::to_string(own) + " runs, " + best_text + " for the others";
  return out;
}

namespace {

// Flattened config ("problem_options.inner_steps" → "10") for spotting groups that mix different runs.
void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) flatten(*it, key, out);
    else out[key] = config_value_text(*it);
  }
}

// Config keys that may differ inside a group without a warning.
const std::set<std::string> identity_free_keys = {"seed",       "threads",    "version", "git_revision", "build_type",
                                                  "config_file", "command_line", "start_time", "host", "from",
                                                  "resumed"};

// An option that differs inside some groups: how many, and the first one's label and values.
struct MixedKey {
  size_t groups = 0;
  std::string example;
  std::set<std::string> values;
};

// Sets c.problem; refuses runs of several problems unless `problem` is a --by key.
void check_one_problem(Comparison& c) {
  std::map<std::string, std::vector<size_t>> by_problem;
  for (size_t i = 0; i < c.runs.size(); ++i) by_problem[config_value_text(c.runs[i].config["problem"])].push_back(i);
  const bool problem_is_key = std::find(c.by.begin(), c.by.end(), "problem") != c.by.end();
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
}

// Every --by key must name something in at least one run's config: a mistyped key would put every run in
// one group "(no mehtod)" and compare nothing.
void check_by_keys(const Comparison& c) {
  for (const auto& key : c.by) {
    bool found = false;
    for (const auto& r : c.runs) found = found || !compare_config_value(r.config, key).empty();
    if (found) continue;
    std::set<std::string> keys;
    for (const auto& r : c.runs) {
      std::map<std::string, std::string> flat;
      flatten(r.config, "", flat);
      for (const auto& [k, v] : flat) {
        if (k.rfind("command_line", 0) == 0 || k.rfind("resumed", 0) == 0) continue;
        keys.insert(compare_short_key(k));
      }
    }
    const std::vector<std::string> valid(keys.begin(), keys.end());
    throw option_error("compare --by: " + unknown_name_message("key", key, valid) +
                       " (any config key: top-level, an option name, or a dotted path)");
  }
}

// The groups' --by values and runs, in natural order of the values.
std::vector<std::pair<std::vector<std::string>, std::vector<size_t>>> ordered_groups(const Comparison& c) {
  std::map<std::vector<std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < c.runs.size(); ++i) {
    std::vector<std::string> vals;
    for (const auto& k : c.by) vals.push_back(compare_config_value(c.runs[i].config, k));
    groups[vals].push_back(i);
  }
  std::vector<std::pair<std::vector<std::string>, std::vector<size_t>>> out(groups.begin(), groups.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    for (size_t i = 0; i < a.first.size(); ++i) {
      if (a.first[i] == b.first[i]) continue;
      return value_less(a.first[i], b.first[i]);
    }
    return false;
  });
  return out;
}

// One group's label, status counts and summaries; adds the final metrics it saw to `metric_set`.
CompareGroup summarize_group(const Comparison& c, const std::vector<std::string>& vals, std::vector<size_t> runs,
                             std::set<std::string>& metric_set) {
  CompareGroup g;
  g.runs = std::move(runs);
  for (size_t k = 0; k < c.by.size(); ++k) {
    g.keys.push_back({c.by[k], vals[k]});
    if (vals[k].empty()) continue;
    if (c.by.size() == 1) g.label = vals[k];
    else g.label += (g.label.empty() ? "" : ", ") + compare_short_key(c.by[k]) + "=" + vals[k];
  }
  if (g.label.empty()) g.label = "(no " + compare_short_key(c.by.front()) + ")";
  std::map<std::string, std::vector<double>> finals;
  std::vector<double> secs, wall, ge, hv, steps, cost;
  for (size_t i : g.runs) {
    const CompareRun& r = c.runs[i];
    ++g.status_counts[r.status];
    if (r.status != "ok") continue;
    if (r.result.contains("final") && r.result["final"].is_object()) {
      for (auto it = r.result["final"].begin(); it != r.result["final"].end(); ++it) {
        if (!it->is_number()) continue;
        finals[it.key()].push_back(it->get<double>());
        metric_set.insert(it.key());
      }
    }
    secs.push_back(json_number_or_nan(r.result, "seconds"));
    wall.push_back(json_number_or_nan(r.result, "wall_seconds"));
    ge.push_back(json_number_or_nan(r.result, "grad_evals"));
    hv.push_back(json_number_or_nan(r.result, "hvps"));
    steps.push_back(json_number_or_nan(r.result, "steps"));
    cost.push_back(run_cost(r.result));
  }
  for (auto& [m, v] : finals) g.final_metrics[m] = compare_summarize(v);
  g.seconds = compare_summarize(secs);
  g.wall_seconds = compare_summarize(wall);
  g.grad_evals = compare_summarize(ge);
  g.hvps = compare_summarize(hv);
  g.steps = compare_summarize(steps);
  g.cost = compare_summarize(cost);
  return g;
}

// Options that differ inside the group (other than seeds and the --by keys) are worth a warning.
void note_mixed_options(const Comparison& c, const CompareGroup& g, std::map<std::string, MixedKey>& mixed) {
  std::map<std::string, std::set<std::string>> seen;
  for (size_t i : g.runs) {
    std::map<std::string, std::string> flat;
    flatten(c.runs[i].config, "", flat);
    for (const auto& [k, v] : flat) seen[k].insert(v);
  }
  for (const auto& [k, vals] : seen) {
    if (vals.size() < 2 || identity_free_keys.count(k)) continue;
    bool is_by = false;
    for (const auto& b : c.by) is_by = is_by || b == k || b == compare_short_key(k);
    if (is_by) continue;
    MixedKey& m = mixed[k];
    if (m.groups++ == 0) {
      m.example = g.label;
      m.values = vals;
    }
  }
}

std::string mixed_warning(const std::string& key, const MixedKey& m) {
  std::string list;
  size_t shown = 0;
  for (const auto& v : m.values) {
    if (shown++ == 4) {
      list += ", …";
      break;
    }
    list += (list.empty() ? "" : ", ") + (v.empty() ? std::string("(none)") : v);
  }
  return (m.groups == 1 ? "group '" + m.example + "' mixes"
                        : std::to_string(m.groups) + " groups (e.g. '" + m.example + "') mix") +
         " runs with different " + key + " (" + list + "); add --by " + compare_short_key(key) +
         " to keep them apart";
}

}  // namespace

std::string compare_short_key(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
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
  s.se = s.std / std::sqrt(static_cast<double>(s.n));
  const double half = s.n > 1 ? student_t975(s.n - 1) * s.se : NAN;
  s.ci95_lo = s.mean - half;
  s.ci95_hi = s.mean + half;
  return s;
}

double student_t975(size_t df) {
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                 2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df == 0) return NAN;
  if (df <= 30) return table[df - 1];
  return 1.95996 + 2.4 / static_cast<double>(df);  // within 0.002 of the exact quantile above 30
}

Comparison compare_build(std::vector<CompareRun> runs, const std::vector<std::string>& by) {
  if (by.empty()) throw option_error("compare: --by needs at least one key (e.g. --by method)");
  Comparison c;
  c.by = by;
  c.runs = std::move(runs);
  check_by_keys(c);
  check_one_problem(c);
  std::set<std::string> metric_set;
  std::map<std::string, MixedKey> mixed;  // options that differ inside a group, over all groups
  for (auto& [vals, idx] : ordered_groups(c)) {
    CompareGroup g = summarize_group(c, vals, std::move(idx), metric_set);
    note_mixed_options(c, g, mixed);
    c.groups.push_back(std::move(g));
  }
  for (const auto& [k, m] : mixed) c.warnings.push_back(mixed_warning(k, m));
  if (metric_set.count("outer_loss")) c.metric_names.push_back("outer_loss");
  for (const auto& m : metric_set)
    if (m != "outer_loss") c.metric_names.push_back(m);
  return c;
}

}  // namespace bilevel

#include "run/sweep_spec.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <set>

#include "base/config.hpp"
#include "sys/files.hpp"

namespace bilevel {

namespace fs = std::filesystem;

namespace {

// Where a key sits in the spec: axes and names follow the order of the file (toml++ tables are sorted maps).
struct SourcePos {
  uint32_t line = 0, column = 0;
  bool operator<(const SourcePos& o) const { return line != o.line ? line < o.line : column < o.column; }
};

// A key with one value: the same for every run.
struct Entry {
  std::string key;
  SourcePos pos;
  std::string value;
};

// An axis: one key, or a zip group of keys that vary together (values[position][key]).
struct Axis {
  std::vector<std::string> keys;
  std::vector<SourcePos> key_pos;
  std::vector<std::vector<std::string>> values;
  SourcePos pos;
  bool zipped = false;
};

const std::set<std::string> option_tables = {"set", "problem_options", "method_options", "run"};
// At most this many runs in one sweep: each run's options are expanded and checked (and listed in the index)
// up front, so a larger grid is split over several specs or --out directories.
constexpr size_t max_runs = 100000;

std::string spec_error_prefix(const std::string& path) { return "sweep spec '" + path + "': "; }

std::string spec_scalar_text(const toml::node& n, const std::string& key, const std::string& path) {
  return toml_scalar_text(n, spec_error_prefix(path) + "key '" + key + "'",
                          "use a string, number or boolean, or a list of them for an axis");
}

std::vector<std::string> toml_values(const toml::node& n, const std::string& key, const std::string& path) {
  std::vector<std::string> out;
  if (auto arr = n.as_array()) {
    if (arr->empty()) throw option_error(spec_error_prefix(path) + "key '" + key + "': empty list (an axis needs ≥ 1 value)");
    for (const auto& el : *arr) {
      if (el.is_array() || el.is_table()) {
        throw option_error(spec_error_prefix(path) + "key '" + key + "': a list of lists or tables is not an axis");
      }
      out.push_back(spec_scalar_text(el, key, path));
    }
  } else {
    out.push_back(spec_scalar_text(n, key, path));
  }
  return out;
}

SourcePos key_pos(const toml::key& k) { return {k.source().begin.line, k.source().begin.column}; }

// `seeds = N` means seeds 1..N; `seed`/`seeds` lists are the seeds themselves. Returns the canonical key.
std::string canonical_key(const std::string& key) { return key == "seeds" ? "seed" : key; }

std::vector<std::string> seeds_values(const toml::node& n, const std::string& path) {
  if (auto v = n.as_integer()) {
    if (v->get() < 1 || v->get() > static_cast<int64_t>(max_runs)) {
      throw option_error(spec_error_prefix(path) + "key 'seeds': a count must be in [1, " + std::to_string(max_runs) + "], got " +
                         std::to_string(v->get()) + " (or give the list of seeds)");
    }
    std::vector<std::string> out;
    for (int64_t s = 1; s <= v->get(); ++s) out.push_back(std::to_string(s));
    return out;
  }
  return toml_values(n, "seeds", path);
}

bool is_array_of_tables(const toml::node& n) {
  auto arr = n.as_array();
  if (!arr || arr->empty()) return false;
  for (const auto& el : *arr)
    if (!el.is_table()) return false;
  return true;
}

Axis zip_axis(const toml::table& t, const std::string& path, size_t group) {
  Axis ax;
  ax.zipped = true;
  const std::string what = "[zip] group " + std::to_string(group + 1);
  if (t.empty()) throw option_error(spec_error_prefix(path) + what + " is empty");
  std::vector<std::pair<SourcePos, std::pair<std::string, std::vector<std::string>>>> cols;
  for (auto&& [k, v] : t) {
    std::string key = canonical_key(std::string(k.str()));
    if (!v.is_array()) {
      throw option_error(spec_error_prefix(path) + what + ", key '" + key +
                         "': zipped values must be lists (of equal length)");
    }
    if (key == "threads" || key == "description") {
      throw option_error(spec_error_prefix(path) + what + ": '" + key + "' cannot vary");
    }
    cols.push_back({key_pos(k), {key, toml_values(v, key, path)}});
  }
  std::sort(cols.begin(), cols.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t len = 0;
  for (const auto& c : cols) len = std::max(len, c.second.second.size());
  for (const auto& c : cols) {
    if (c.second.second.size() != len) {
      throw option_error(spec_error_prefix(path) + what + ": lists of different lengths (" +
                         std::to_string(len) + " and " + std::to_string(c.second.second.size()) + " for '" +
                         c.second.first + "'); zipped lists vary together and must have equal length");
    }
  }
  ax.pos = cols[0].first;
  for (const auto& c : cols) {
    ax.keys.push_back(c.second.first);
    ax.key_pos.push_back(c.first);
  }
  ax.values.assign(len, {});
  for (size_t i = 0; i < len; ++i)
    for (const auto& c : cols) ax.values[i].push_back(c.second.second[i]);
  return ax;
}

// Reads a spec's keys into base options (one value each) and axes (lists, seeds, [zip] groups), and the
// keys that are not options (threads, description) into the spec. A key may be given in one place only.
class SpecReader {
 public:
  explicit SpecReader(SweepSpec& spec) : spec_(spec), path_(spec.path) {}

  void read(const toml::table& tbl) {
    for (auto&& [k, v] : tbl) {
      const std::string key(k.str());
      if (key == "zip") {
        read_zip(v);
      } else if (auto sub = v.as_table()) {
        read_table(key, *sub);
      } else if (is_array_of_tables(v)) {
        throw option_error(spec_error_prefix(path_) + "unknown table list [[" + key + "]] (only [[zip]] may repeat)");
      } else {
        add_option(key, v, key_pos(k));
      }
    }
    // Zip keys are claimed last: a key may sit in one place only (a value, a list, or one [zip] group).
    for (const auto& ax : axes)
      if (ax.zipped)
        for (size_t i = 0; i < ax.keys.size(); ++i) claim(ax.keys[i], ax.key_pos[i]);
  }

  std::vector<Entry> base;
  std::vector<Axis> axes;

 private:
  void claim(const std::string& key, SourcePos pos) {
    if (seen_.count(key)) {
      throw option_error(spec_error_prefix(path_) + "key '" + key + "' is given twice (line " +
                         std::to_string(seen_[key].line) + " and line " + std::to_string(pos.line) + ")");
    }
    seen_[key] = pos;
  }

  void read_zip(const toml::node& v) {
    if (auto t = v.as_table()) {
      axes.push_back(zip_axis(*t, path_, 0));
    } else if (is_array_of_tables(v)) {
      size_t g = 0;
      for (const auto& el : *v.as_array()) axes.push_back(zip_axis(*el.as_table(), path_, g++));
    } else {
      throw option_error(spec_error_prefix(path_) +
                         "'zip' must be a table of equal-length lists ([zip]) or several such tables ([[zip]])");
    }
  }

  void read_table(const std::string& key, const toml::table& sub) {
    if (!option_tables.count(key)) {
      throw option_error(spec_error_prefix(path_) + "unknown table [" + key +
                         "] (tables: [set], [problem_options], [method_options], [run], [zip])");
    }
    for (auto&& [k2, v2] : sub) {
      if (v2.is_table()) {
        throw option_error(spec_error_prefix(path_) + "[" + key + "] " + std::string(k2.str()) +
                           ": nested tables are not options");
      }
      add_option(std::string(k2.str()), v2, key_pos(k2));
    }
  }

  void add_option(const std::string& raw_key, const toml::node& v, SourcePos pos) {
    const std::string key = canonical_key(raw_key);
    claim(key, pos);
    if (key == "threads") {
      auto i = v.as_integer();
      if (!i || i->get() < 1 || i->get() > 4096) {
        throw option_error(spec_error_prefix(path_) + "key 'threads': per-run threads must be an integer in [1, 4096]");
      }
      spec_.threads = static_cast<int>(i->get());
      return;
    }
    if (key == "description") {
      auto s = v.as_string();
      if (!s) throw option_error(spec_error_prefix(path_) + "key 'description' must be a string");
      spec_.description = s->get();
      return;
    }
    std::vector<std::string> values = raw_key == "seeds" ? seeds_values(v, path_) : toml_values(v, key, path_);
    if (v.is_array() || raw_key == "seeds") {
      Axis ax;
      ax.keys = {key};
      ax.key_pos = {pos};
      ax.pos = pos;
      for (auto& val : values) ax.values.push_back({val});
      axes.push_back(std::move(ax));
    } else {
      base.push_back({key, pos, values.front()});
    }
  }

  SweepSpec& spec_;
  const std::string& path_;
  std::map<std::string, SourcePos> seen_;
};

// Axes in file order, except that a plain seed list comes last: seeds are replicates, so they vary fastest
// and end the name ("method=fo,seed=1").
void order_axes(std::vector<Axis>& axes) {
  auto seed_axis = [](const Axis& a) { return !a.zipped && a.keys.front() == "seed"; };
  std::stable_sort(axes.begin(), axes.end(), [&](const Axis& a, const Axis& b) {
    if (seed_axis(a) != seed_axis(b)) return seed_axis(b);
    return a.pos < b.pos;
  });
}

// Every combination of the axes' values (key → value per run), the first axis varying slowest.
std::vector<std::map<std::string, std::string>> expand_axes(const std::vector<Axis>& axes, const std::string& path) {
  size_t total = 1;
  std::string sizes;
  for (const auto& ax : axes) sizes += (sizes.empty() ? "" : " × ") + std::to_string(ax.values.size());
  for (const auto& ax : axes) {
    total *= ax.values.size();  // no overflow: each factor is checked against the limit first
    if (total > max_runs) {
      throw option_error(spec_error_prefix(path) + "the axes give more than " + std::to_string(max_runs) + " runs (" +
                         sizes + "); a sweep holds at most " + std::to_string(max_runs) +
                         ": split it over several specs or --out directories");
    }
  }
  std::vector<size_t> pos(axes.size(), 0);  // an odometer over the axes
  std::vector<std::map<std::string, std::string>> chosen;
  for (size_t r = 0; r < total; ++r) {
    std::map<std::string, std::string> c;
    for (size_t a = 0; a < axes.size(); ++a)
      for (size_t i = 0; i < axes[a].keys.size(); ++i) c[axes[a].keys[i]] = axes[a].values[pos[a]][i];
    chosen.push_back(std::move(c));
    for (size_t a = axes.size(); a-- > 0;) {
      if (++pos[a] < axes[a].values.size()) break;
      pos[a] = 0;
    }
  }
  return chosen;
}

// Directory-name text of a value: letters, digits and . _ + - are kept, anything else becomes '_'.
std::string name_safe(const std::string& v) {
  std::string out;
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '+' || c == '-';
    out += ok ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

std::string fnv1a_hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf, 8);
}

// "key=value,…" over the keys that vary ("" values left out); "run" for a one-run sweep, "default" for the
// run where every varying key is unset. Long names are cut and made unique by a hash.
std::string run_name(const std::vector<std::pair<std::string, std::string>>& varying, size_t total) {
  std::string name;
  for (const auto& [key, v] : varying) {
    if (v.empty()) continue;
    name += (name.empty() ? "" : ",") + key + "=" + name_safe(v);
  }
  if (name.empty()) name = total == 1 ? "run" : "default";
  if (name.size() > 200) name = name.substr(0, 180) + "~" + fnv1a_hex(name);
  return name;
}

// The runs of the expansion, with their assignments in spec order and their names.
std::vector<SweepRun> make_runs(const std::vector<Entry>& base, const std::vector<Axis>& axes,
                                const std::vector<std::map<std::string, std::string>>& chosen,
                                const std::vector<std::string>& name_keys, const std::string& path) {
  std::vector<std::pair<SourcePos, std::string>> axis_keys;  // axis order; within a zip group, file order
  for (const auto& ax : axes)
    for (size_t i = 0; i < ax.keys.size(); ++i) axis_keys.push_back({ax.key_pos[i], ax.keys[i]});
  std::vector<SweepRun> runs;
  std::map<std::string, size_t> names;
  for (size_t r = 0; r < chosen.size(); ++r) {
    SweepRun run;
    run.index = r;
    std::vector<std::pair<SourcePos, std::pair<std::string, std::string>>> all;
    for (const auto& e : base) all.push_back({e.pos, {e.key, e.value}});
    for (const auto& [p, key] : axis_keys) all.push_back({p, {key, chosen[r].at(key)}});
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [p, kv] : all)
      if (!kv.second.empty()) run.assignments.push_back(kv);
    for (const auto& key : name_keys) run.varying.push_back({key, chosen[r].at(key)});
    run.name = run_name(run.varying, chosen.size());
    auto [it, inserted] = names.emplace(run.name, r);
    if (!inserted) {
      throw option_error(spec_error_prefix(path) + "runs " + std::to_string(it->second + 1) + " and " +
                         std::to_string(r + 1) + " get the same directory name '" + run.name +
                         "' (identical options, or values that differ only in characters a name cannot hold)");
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

// The axis keys whose value differs between runs ("" — not given — counts as a value), in axis order.
std::vector<std::string> varying_keys(const std::vector<Axis>& axes,
                                      const std::vector<std::map<std::string, std::string>>& chosen) {
  std::vector<std::string> keys;
  for (const auto& ax : axes) {
    for (const auto& key : ax.keys) {
      for (const auto& c : chosen) {
        if (c.at(key) != chosen.front().at(key)) {
          keys.push_back(key);
          break;
        }
      }
    }
  }
  return keys;
}

}  // namespace

SweepSpec sweep_spec_parse(const std::string& toml_text, const std::string& path) {
  const toml::table tbl = parse_toml_text(toml_text, path, "sweep spec '" + path + "'");
  SweepSpec spec;
  spec.path = path;
  spec.text = toml_text;
  SpecReader reader(spec);
  reader.read(tbl);
  order_axes(reader.axes);
  std::sort(reader.base.begin(), reader.base.end(), [](const Entry& a, const Entry& b) { return a.pos < b.pos; });
  const auto chosen = expand_axes(reader.axes, path);
  spec.axes = varying_keys(reader.axes, chosen);
  spec.runs = make_runs(reader.base, reader.axes, chosen, spec.axes, path);
  return spec;
}

SweepSpec sweep_spec_read(const std::string& path) {
  std::string text;
  try {
    text = sys::read_file(path);
  } catch (const usage_error& e) {
    throw option_error("sweep spec '" + path + "': " + e.what());
  }
  return sweep_spec_parse(text, path);
}

SweepShard sweep_shard_parse(const std::string& text) {
  const auto slash = text.find('/');
  auto bad = [&]() {
    return option_error("--shard '" + text + "': expected I/N with 1 ≤ I ≤ N (e.g. --shard 2/8)");
  };
  if (slash == std::string::npos) throw bad();
  SweepShard s;
  const std::string a = text.substr(0, slash), b = text.substr(slash + 1);
  auto parse = [&](const std::string& t, int& out) {
    auto res = std::from_chars(t.data(), t.data() + t.size(), out);
    if (t.empty() || res.ec != std::errc() || res.ptr != t.data() + t.size()) throw bad();
  };
  parse(a, s.index);
  parse(b, s.count);
  if (s.count < 1 || s.index < 1 || s.index > s.count) throw bad();
  return s;
}

bool sweep_shard_has(const SweepShard& shard, size_t run_index) {
  return run_index % static_cast<size_t>(shard.count) == static_cast<size_t>(shard.index - 1);
}

}  // namespace bilevel

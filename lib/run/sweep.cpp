#include "run/sweep.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>
#include <toml++/toml.h>

#include "run/files.hpp"
#include "base/options.hpp"

namespace bilevel {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------------------
// Spec parsing and expansion

// Where a key sits in the spec: axes and names follow the order of the file (toml++ tables are sorted maps).
struct SourcePos {
  uint32_t line = 0, column = 0;
  bool operator<(const SourcePos& o) const { return line != o.line ? line < o.line : column < o.column; }
};

struct Entry {
  std::string key;
  SourcePos pos;
  std::vector<std::string> values;  // one value for a base option, several for an axis
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

std::string spec_error_prefix(const std::string& path) { return "sweep spec '" + path + "': "; }

std::string toml_scalar_text(const toml::node& n, const std::string& key, const std::string& path) {
  if (auto v = n.as_string()) return v->get();
  if (auto v = n.as_integer()) return std::to_string(v->get());
  if (auto v = n.as_floating_point()) {
    const double d = v->get();
    if (!std::isfinite(d)) throw option_error(spec_error_prefix(path) + "key '" + key + "': values must be finite");
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, d);  // shortest text that reads back exactly
    return std::string(buf, res.ptr);
  }
  if (auto v = n.as_boolean()) return v->get() ? "true" : "false";
  throw option_error(spec_error_prefix(path) + "key '" + key +
                     "': unsupported value type (use a string, number or boolean, or a list of them for an axis)");
}

std::vector<std::string> toml_values(const toml::node& n, const std::string& key, const std::string& path) {
  std::vector<std::string> out;
  if (auto arr = n.as_array()) {
    if (arr->empty()) throw option_error(spec_error_prefix(path) + "key '" + key + "': empty list (an axis needs ≥ 1 value)");
    for (const auto& el : *arr) {
      if (el.is_array() || el.is_table()) {
        throw option_error(spec_error_prefix(path) + "key '" + key + "': a list of lists or tables is not an axis");
      }
      out.push_back(toml_scalar_text(el, key, path));
    }
  } else {
    out.push_back(toml_scalar_text(n, key, path));
  }
  return out;
}

SourcePos key_pos(const toml::key& k) { return {k.source().begin.line, k.source().begin.column}; }

// `seeds = N` means seeds 1..N; `seed`/`seeds` lists are the seeds themselves. Returns the canonical key.
std::string canonical_key(const std::string& key) { return key == "seeds" ? "seed" : key; }

std::vector<std::string> seeds_values(const toml::node& n, const std::string& path) {
  if (auto v = n.as_integer()) {
    if (v->get() < 1 || v->get() > 1000000) {
      throw option_error(spec_error_prefix(path) + "key 'seeds': a count must be in [1, 1000000], got " +
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

}  // namespace

SweepSpec sweep_spec_parse(const std::string& toml_text, const std::string& path) {
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, path);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << spec_error_prefix(path) << "invalid TOML at line " << e.source().begin.line << ": " << e.description();
    throw option_error(s.str());
  }
  SweepSpec spec;
  spec.path = path;
  spec.text = toml_text;

  std::vector<Entry> base;
  std::vector<Axis> axes;
  std::map<std::string, SourcePos> seen;
  auto claim = [&](const std::string& key, SourcePos pos) {
    if (seen.count(key)) {
      throw option_error(spec_error_prefix(path) + "key '" + key + "' is given twice (line " +
                         std::to_string(seen[key].line) + " and line " + std::to_string(pos.line) + ")");
    }
    seen[key] = pos;
  };
  auto add_option = [&](const std::string& raw_key, const toml::node& v, SourcePos pos) {
    const std::string key = canonical_key(raw_key);
    claim(key, pos);
    if (key == "threads") {
      auto i = v.as_integer();
      if (!i || i->get() < 1 || i->get() > 4096) {
        throw option_error(spec_error_prefix(path) + "key 'threads': per-run threads must be an integer in [1, 4096]");
      }
      spec.threads = static_cast<int>(i->get());
      return;
    }
    if (key == "description") {
      auto s = v.as_string();
      if (!s) throw option_error(spec_error_prefix(path) + "key 'description' must be a string");
      spec.description = s->get();
      return;
    }
    Entry e{key, pos, raw_key == "seeds" ? seeds_values(v, path) : toml_values(v, key, path)};
    if (v.is_array() || raw_key == "seeds") {
      Axis ax;
      ax.keys = {key};
      ax.key_pos = {pos};
      ax.pos = pos;
      for (auto& val : e.values) ax.values.push_back({val});
      axes.push_back(std::move(ax));
    } else {
      base.push_back(std::move(e));
    }
  };

  for (auto&& [k, v] : tbl) {
    const std::string key(k.str());
    if (key == "zip") {
      if (auto t = v.as_table()) {
        axes.push_back(zip_axis(*t, path, 0));
      } else if (is_array_of_tables(v)) {
        size_t g = 0;
        for (const auto& el : *v.as_array()) axes.push_back(zip_axis(*el.as_table(), path, g++));
      } else {
        throw option_error(spec_error_prefix(path) +
                           "'zip' must be a table of equal-length lists ([zip]) or several such tables ([[zip]])");
      }
      continue;
    }
    if (auto sub = v.as_table()) {
      if (!option_tables.count(key)) {
        throw option_error(spec_error_prefix(path) + "unknown table [" + key +
                           "] (tables: [set], [problem_options], [method_options], [run], [zip])");
      }
      for (auto&& [k2, v2] : *sub) {
        if (v2.is_table()) {
          throw option_error(spec_error_prefix(path) + "[" + key + "] " + std::string(k2.str()) +
                             ": nested tables are not options");
        }
        add_option(std::string(k2.str()), v2, key_pos(k2));
      }
      continue;
    }
    if (is_array_of_tables(v)) {
      throw option_error(spec_error_prefix(path) + "unknown table list [[" + key + "]] (only [[zip]] may repeat)");
    }
    add_option(key, v, key_pos(k));
  }
  // Zip keys are claimed last: a key may sit in one place only (a value, a list, or one [zip] group).
  for (const auto& ax : axes) {
    if (!ax.zipped) continue;
    for (size_t i = 0; i < ax.keys.size(); ++i) claim(ax.keys[i], ax.key_pos[i]);
  }
  // Axes in file order, except that a plain seed list comes last: seeds are replicates, so they vary fastest
  // and end the name ("method=fo,seed=1").
  auto seed_axis = [](const Axis& a) { return !a.zipped && a.keys.front() == "seed"; };
  std::stable_sort(axes.begin(), axes.end(), [&](const Axis& a, const Axis& b) {
    if (seed_axis(a) != seed_axis(b)) return seed_axis(b);
    return a.pos < b.pos;
  });
  std::sort(base.begin(), base.end(), [](const Entry& a, const Entry& b) { return a.pos < b.pos; });

  size_t total = 1;
  for (const auto& ax : axes) {
    total *= ax.values.size();
    if (total > 1000000) throw option_error(spec_error_prefix(path) + "more than 1000000 runs; split the sweep");
  }

  // Keys in axis order (within a zip group, file order), for assignments and names.
  std::vector<std::pair<SourcePos, std::string>> axis_keys;
  for (const auto& ax : axes)
    for (size_t i = 0; i < ax.keys.size(); ++i) axis_keys.push_back({ax.key_pos[i], ax.keys[i]});

  // Odometer over the axes, the first axis varying slowest.
  std::vector<size_t> pos(axes.size(), 0);
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
  // A key is part of the name iff its value differs between runs ("" — not given — counts as a value).
  std::vector<std::string> name_keys;
  for (const auto& [p, key] : axis_keys) {
    for (const auto& c : chosen) {
      if (c.at(key) != chosen.front().at(key)) {
        name_keys.push_back(key);
        break;
      }
    }
  }
  spec.axes = name_keys;

  std::map<std::string, size_t> names;
  for (size_t r = 0; r < total; ++r) {
    SweepRun run;
    run.index = r;
    std::vector<std::pair<SourcePos, std::pair<std::string, std::string>>> all;
    for (const auto& e : base) all.push_back({e.pos, {e.key, e.values.front()}});
    for (const auto& [p, key] : axis_keys) all.push_back({p, {key, chosen[r].at(key)}});
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [p, kv] : all)
      if (!kv.second.empty()) run.assignments.push_back(kv);
    std::string name;
    for (const auto& key : name_keys) {
      const std::string& v = chosen[r].at(key);
      run.varying.push_back({key, v});
      if (v.empty()) continue;
      name += (name.empty() ? "" : ",") + key + "=" + name_safe(v);
    }
    if (name.empty()) name = total == 1 ? "run" : "default";
    if (name.size() > 200) name = name.substr(0, 180) + "~" + fnv1a_hex(name);
    auto [it, inserted] = names.emplace(name, r);
    if (!inserted) {
      throw option_error(spec_error_prefix(path) + "runs " + std::to_string(it->second + 1) + " and " +
                         std::to_string(r + 1) + " get the same directory name '" + name +
                         "' (identical options, or values that differ only in characters a name cannot hold)");
    }
    run.name = name;
    spec.runs.push_back(std::move(run));
  }
  return spec;
}

SweepSpec sweep_spec_read(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw option_error("sweep spec '" + path + "': cannot read (" + std::strerror(errno) + ")");
  std::stringstream ss;
  ss << in.rdbuf();
  return sweep_spec_parse(ss.str(), path);
}

TrainParams sweep_run_params(const SweepSpec& spec, const SweepRun& run) {
  TrainParams p;
  for (const auto& [k, v] : run.assignments) {
    if (k == "problem") p.problem = v;
    else if (k == "method") p.method = v;
    else if (k == "config") {
      fs::path cfg(v);
      if (cfg.is_relative()) cfg = fs::absolute(fs::path(spec.path).parent_path() / cfg).lexically_normal();
      p.config_file = cfg.string();
    } else if (k == "seed") {
      const int64_t s = parse_int("seed", v);
      if (s < 0) throw option_error("sweep spec '" + spec.path + "': seed must be ≥ 0, got " + v);
      p.seed = static_cast<uint64_t>(s);
    } else if (k == "steps") p.steps = parse_int("steps", v);
    else if (k == "budget_grad_evals") p.budget_grad_evals = parse_int("budget_grad_evals", v);
    else if (k == "budget_seconds") p.budget_seconds = parse_real("budget_seconds", v);
    else p.sets.push_back(k + "=" + v);
  }
  p.threads = 1;
  p.quiet = true;
  p.force = true;
  return p;
}

namespace {

std::vector<nlohmann::json> validate_runs(const SweepSpec& spec) {
  if (spec.runs.empty()) throw option_error("sweep spec '" + spec.path + "': no runs");
  std::vector<nlohmann::json> configs;
  for (const auto& run : spec.runs) {
    try {
      TrainParams p = sweep_run_params(spec, run);
      p.out_dir = "unused";
      configs.push_back(resolve_run(p).config);
    } catch (const option_error& e) {
      throw option_error("sweep spec '" + spec.path + "', run '" + run.name + "': " + e.what());
    }
  }
  return configs;
}

}  // namespace

void sweep_spec_validate(const SweepSpec& spec) { validate_runs(spec); }

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

std::vector<std::string> sweep_train_argv(const SweepSpec& spec, const SweepRun& run, const std::string& exe,
                                          const fs::path& run_dir, int threads) {
  const TrainParams p = sweep_run_params(spec, run);
  std::vector<std::string> a = {exe, "train"};
  if (!p.problem.empty()) a.insert(a.end(), {"--problem", p.problem});
  if (!p.method.empty()) a.insert(a.end(), {"--method", p.method});
  if (!p.config_file.empty()) a.insert(a.end(), {"--config", p.config_file});
  for (const auto& s : p.sets) a.insert(a.end(), {"--set", s});
  for (const auto& [k, v] : run.assignments) {
    if (k == "seed") a.insert(a.end(), {"--seed", v});
    else if (k == "steps") a.insert(a.end(), {"--steps", v});
    else if (k == "budget_grad_evals") a.insert(a.end(), {"--budget-grad-evals", v});
    else if (k == "budget_seconds") a.insert(a.end(), {"--budget-seconds", v});
  }
  a.insert(a.end(), {"--threads", std::to_string(threads), "--out", run_dir.string(), "--quiet", "--force"});
  return a;
}

namespace {
std::string json_text(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return "";
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get_ref<const std::string&>();
}
}  // namespace

std::string sweep_run_state(const fs::path& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) return "pending";
  if (!fs::exists(run_dir / "result.json", ec)) return "incomplete";
  try {
    const auto j = read_json(run_dir / "result.json");
    const std::string s = json_text(j, "status");
    return s.empty() ? "incomplete" : s;
  } catch (const std::exception&) {
    return "incomplete";
  }
}

// ---------------------------------------------------------------------------------------------------------
// Running

namespace {

// Self-pipe: the handlers write a byte so the wait loop's poll() wakes for a finished child or a stop signal
// whichever thread the signal lands on, and without the race of checking a flag before blocking.
int g_wake_pipe[2] = {-1, -1};
volatile sig_atomic_t g_stop_signals = 0;

extern "C" void sweep_on_signal(int sig) {
  const int saved = errno;
  if (sig != SIGCHLD) g_stop_signals = g_stop_signals + 1;
  const char c = 0;
  if (g_wake_pipe[1] >= 0) (void)!::write(g_wake_pipe[1], &c, 1);
  errno = saved;
}

class SignalScope {
 public:
  SignalScope() {
    if (::pipe2(g_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw io_error(std::string("sweep: cannot create a pipe: ") + std::strerror(errno));
    }
    g_stop_signals = 0;
    struct sigaction sa {};
    sa.sa_handler = sweep_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    ::sigaction(SIGCHLD, &sa, &old_chld_);
  }
  ~SignalScope() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGCHLD, &old_chld_, nullptr);
    ::close(g_wake_pipe[0]);
    ::close(g_wake_pipe[1]);
    g_wake_pipe[0] = g_wake_pipe[1] = -1;
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;

  // Waits until a signal arrives or `ms` pass; drains the pipe.
  static void wait(int ms) {
    struct pollfd pfd {g_wake_pipe[0], POLLIN, 0};
    ::poll(&pfd, 1, ms);
    char buf[64];
    while (::read(g_wake_pipe[0], buf, sizeof buf) > 0) {
    }
  }

 private:
  struct sigaction old_int_ {}, old_term_ {}, old_chld_ {};
};

// Starts argv[0] with stdout and stderr to `log_path`, stdin from /dev/null; the child is SIGKILLed if the
// sweep dies (so a killed sweep leaves no run writing into a directory a resumed sweep will reuse).
pid_t spawn_child(const std::vector<std::string>& argv, const fs::path& log_path) {
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw io_error("cannot write " + log_path.string() + ": " + std::strerror(errno));
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<char*> cargv;
  for (const auto& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
  cargv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGINT, &dfl, nullptr);
    ::sigaction(SIGTERM, &dfl, nullptr);
    ::sigaction(SIGCHLD, &dfl, nullptr);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(cargv[0], cargv.data());
    const char msg[] = "sweep: cannot execute the train binary\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  if (pid < 0) throw io_error(std::string("sweep: fork failed: ") + std::strerror(fork_errno));
  return pid;
}

std::string wait_status_text(int st) {
  if (WIFEXITED(st)) return "exit code " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    const char* name = ::strsignal(WTERMSIG(st));
    return "killed by signal " + std::to_string(WTERMSIG(st)) + (name ? std::string(" (") + name + ")" : "");
  }
  return "ended (status " + std::to_string(st) + ")";
}

std::string last_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  if (last.size() > 300) last = last.substr(0, 300) + "…";
  return last;
}

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string shell_quote(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._+-=/,:@%", c);
    plain = plain && ok;
  }
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The options that decide a run's result: a finished run is reused only if these match what the spec gives.
const std::vector<std::string> config_identity_keys = {"problem", "method", "seed", "steps", "budget_grad_evals",
                                                       "budget_seconds", "problem_options", "method_options",
                                                       "run_options", "real"};

// "" if equal, else the first difference as text.
std::string config_difference(const nlohmann::json& want, const nlohmann::json& have) {
  for (const auto& key : config_identity_keys) {
    const nlohmann::json a = want.contains(key) ? want[key] : nlohmann::json(), b = have.contains(key) ? have[key] : nlohmann::json();
    if (a.is_object() && b.is_object()) {
      std::set<std::string> ks;
      for (auto it = a.begin(); it != a.end(); ++it) ks.insert(it.key());
      for (auto it = b.begin(); it != b.end(); ++it) ks.insert(it.key());
      for (const auto& k : ks) {
        const auto va = a.contains(k) ? a[k].dump() : "(none)", vb = b.contains(k) ? b[k].dump() : "(none)";
        if (va != vb) return key + "." + k + ": the spec gives " + va + ", the run has " + vb;
      }
    } else if (a != b) {
      return key + ": the spec gives " + a.dump() + ", the run has " + b.dump();
    }
  }
  return "";
}

// The sweep's own files (index.json, index.md, spec.toml) are written to a temporary file and renamed, like
// result files, but named .NAME.tmp.HOST.PID so that a sweep SIGKILLed while writing one can tell, when it is
// resumed, which leftovers belong to dead processes of this machine (shards on other machines may be writing
// theirs). No fsync: the index is rebuilt from the run directories whenever a sweep starts.
std::string host_name() {
  char buf[256] = "";
  if (::gethostname(buf, sizeof buf - 1) != 0) return "host";
  std::string h(buf);
  for (char& c : h)
    if (c == '/' || c == '.') c = '_';
  return h.empty() ? "host" : h;
}

void write_sweep_file(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.parent_path() /
                       ("." + path.filename().string() + ".tmp." + host_name() + "." + std::to_string(::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw io_error("cannot write " + tmp.string());
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw io_error("cannot rename " + tmp.string() + " to " + path.string());
  }
}

void remove_stale_sweep_temps(const fs::path& out) {
  const std::string mine = ".tmp." + host_name() + ".";
  std::error_code ec;
  for (fs::directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto at = name.find(mine);
    if (name.empty() || name[0] != '.' || at == std::string::npos) continue;
    const std::string pid_text = name.substr(at + mine.size());
    char* endp = nullptr;
    const long pid = std::strtol(pid_text.c_str(), &endp, 10);
    if (pid_text.empty() || *endp != '\0' || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code ec2;
      fs::remove(it->path(), ec2);
    }
  }
}

struct IndexEntry {
  std::string status = "pending";  // pending | running | ok | diverged | interrupted | error | failed | incomplete
  double seconds = -1;             // wall seconds of the run, if known
  std::string note;                // message, exit status
  bool in_shard = false;
};

void read_entry_from_disk(const fs::path& dir, IndexEntry& e) {
  e.status = sweep_run_state(dir);
  e.seconds = -1;
  e.note.clear();
  if (e.status == "pending" || e.status == "incomplete") return;
  try {
    const auto j = read_json(dir / "result.json");
    if (j.contains("wall_seconds") && j["wall_seconds"].is_number()) e.seconds = j["wall_seconds"].get<double>();
    e.note = json_text(j, "message");
  } catch (const std::exception&) {
  }
}

class SweepIndex {
 public:
  SweepIndex(const SweepSpec& spec, const fs::path& out) : spec_(spec), out_(out), entries_(spec.runs.size()) {}

  IndexEntry& at(size_t i) { return entries_[i]; }

  void load_from_disk() {
    for (size_t i = 0; i < spec_.runs.size(); ++i) read_entry_from_disk(out_ / "runs" / spec_.runs[i].name, entries_[i]);
  }

  // Rewrites index.json and index.md (atomically). Runs of other shards are re-read from disk, so any
  // shard's index shows every run as far as it can tell. A failure to write is a warning, not the end.
  void write() {
    for (size_t i = 0; i < spec_.runs.size(); ++i) {
      if (!entries_[i].in_shard && entries_[i].status != "ok") read_entry_from_disk(out_ / "runs" / spec_.runs[i].name, entries_[i]);
    }
    std::map<std::string, size_t> counts;
    nlohmann::json runs = nlohmann::json::array();
    std::ostringstream md;
    for (size_t i = 0; i < spec_.runs.size(); ++i) {
      const auto& r = spec_.runs[i];
      const auto& e = entries_[i];
      ++counts[e.status];
      nlohmann::json j;
      j["index"] = r.index;
      j["name"] = r.name;
      j["dir"] = "runs/" + r.name;
      nlohmann::json opts = nlohmann::json::object();
      for (const auto& [k, v] : r.varying) opts[k] = v;
      j["varying"] = opts;
      nlohmann::json all = nlohmann::json::object();
      for (const auto& [k, v] : r.assignments) all[k] = v;
      j["options"] = all;
      j["status"] = e.status;
      if (e.seconds >= 0) j["seconds"] = e.seconds;
      if (!e.note.empty()) j["note"] = e.note;
      runs.push_back(j);
    }
    nlohmann::json idx;
    idx["spec"] = spec_.path;
    if (!spec_.description.empty()) idx["description"] = spec_.description;
    idx["updated"] = utc_now();
    idx["axes"] = spec_.axes;
    idx["total_runs"] = spec_.runs.size();
    idx["counts"] = counts;
    idx["runs"] = runs;

    md << "# Sweep " << spec_.path << "\n\n";
    if (!spec_.description.empty()) md << spec_.description << "\n\n";
    md << spec_.runs.size() << " runs:";
    bool first = true;
    for (const auto& [s, n] : counts) md << (first ? " " : ", ") << n << " " << s, first = false;
    md << ". Updated " << idx["updated"].get<std::string>() << ".\n\n";
    md << "| # | run | status | seconds | note |\n|--:|---|---|--:|---|\n";
    for (size_t i = 0; i < spec_.runs.size(); ++i) {
      const auto& e = entries_[i];
      char secs[32] = "";
      if (e.seconds >= 0) std::snprintf(secs, sizeof secs, "%.2f", e.seconds);
      std::string note = e.note;
      std::replace(note.begin(), note.end(), '|', '/');
      std::replace(note.begin(), note.end(), '\n', ' ');
      md << "| " << i << " | " << spec_.runs[i].name << " | " << e.status << " | " << secs << " | " << note << " |\n";
    }
    try {
      write_sweep_file(out_ / "index.json", idx.dump(2) + "\n");
      write_sweep_file(out_ / "index.md", md.str());
    } catch (const std::exception& ex) {
      std::cerr << "bilevel-opt sweep: warning: cannot write the index: " << ex.what() << "\n";
    }
  }

 private:
  const SweepSpec& spec_;
  fs::path out_;
  std::vector<IndexEntry> entries_;
};

struct Running {
  size_t run;  // index into spec.runs
  std::chrono::steady_clock::time_point start;
};

}  // namespace

SweepOutcome run_sweep(const SweepParams& params, const std::atomic<bool>* stop) {
  if (params.jobs < 1) throw option_error("--jobs must be ≥ 1, got " + std::to_string(params.jobs));
  if (params.threads < 0) throw option_error("--threads must be ≥ 1, got " + std::to_string(params.threads));
  if (params.out_dir.empty()) throw option_error("sweep: no --out directory given");
  const SweepSpec spec = sweep_spec_read(params.spec_file);
  const std::vector<nlohmann::json> configs = validate_runs(spec);
  const fs::path out(params.out_dir), runs_dir = out / "runs";

  SweepOutcome res;
  res.runs_total = spec.runs.size();
  if (params.threads > 0) res.threads_per_run = std::max(1, params.threads / params.jobs);
  else if (spec.threads > 0) res.threads_per_run = spec.threads;
  else res.threads_per_run = std::max(1, available_cpus() / params.jobs);

  std::vector<size_t> mine, todo;
  std::vector<std::string> state(spec.runs.size());
  for (size_t i = 0; i < spec.runs.size(); ++i) {
    if (!sweep_shard_has(params.shard, i)) continue;
    mine.push_back(i);
    state[i] = sweep_run_state(runs_dir / spec.runs[i].name);
  }
  res.runs_in_shard = mine.size();
  for (size_t i : mine) {
    const fs::path dir = runs_dir / spec.runs[i].name;
    if (!params.resume && !params.dry_run && state[i] != "pending") {
      throw option_error("--out '" + params.out_dir + "' already holds runs of this sweep (e.g. runs/" +
                         spec.runs[i].name + ", " + state[i] +
                         "); pass --resume to continue it, or choose another directory");
    }
    if (state[i] == "ok" && params.resume) {
      nlohmann::json have;
      try {
        have = read_json(dir / "config.json");
      } catch (const std::exception& e) {
        throw option_error("--resume: " + std::string(e.what()));
      }
      const std::string diff = config_difference(configs[i], have);
      if (!diff.empty()) {
        throw option_error("--resume: " + dir.string() + " holds a finished run made with other options (" + diff +
                           "); the spec changed since: use another --out, or delete that directory to rerun it");
      }
      ++res.skipped;
      continue;
    }
    todo.push_back(i);
  }

  if (params.dry_run) {
    std::ostringstream s;
    s << "# " << spec.runs.size() << " runs in " << spec.path;
    if (params.shard.count > 1) s << "; shard " << params.shard.index << "/" << params.shard.count << ": " << mine.size();
    s << "; " << todo.size() << " to run, " << res.skipped << " already ok; " << params.jobs << " at a time × "
      << res.threads_per_run << " thread" << (res.threads_per_run > 1 ? "s" : "");
    const size_t existing = static_cast<size_t>(
        std::count_if(mine.begin(), mine.end(), [&](size_t i) { return state[i] != "pending"; }));
    if (!params.resume && existing > 0) s << "; " << existing << " already in the directory (to continue: --resume)";
    s << "\n";
    for (size_t i : mine) {
      const auto& run = spec.runs[i];
      const bool skip = state[i] == "ok" && params.resume;
      s << i << "\t" << run.name << "\t" << (skip ? "ok (skip)" : state[i]) << "\t";
      auto argv = sweep_train_argv(spec, run, "bilevel-opt", runs_dir / run.name, res.threads_per_run);
      for (size_t a = 0; a < argv.size(); ++a) s << (a ? " " : "") << shell_quote(argv[a]);
      s << "\n";
    }
    res.listing = s.str();
    return res;
  }

  ensure_writable_dir(runs_dir);
  remove_stale_sweep_temps(out);
  {
    const fs::path copy = out / "spec.toml";
    std::error_code ec;
    if (!fs::exists(copy, ec)) {
      write_sweep_file(copy, spec.text);
    } else {
      std::ifstream in(copy);
      std::stringstream ss;
      ss << in.rdbuf();
      if (ss.str() != spec.text && params.progress) {
        std::cerr << "bilevel-opt sweep: warning: " << params.spec_file << " differs from " << copy.string()
                  << " (the spec this sweep started with); runs already finished were checked against the new one\n";
      }
    }
  }
  SweepIndex index(spec, out);
  index.load_from_disk();
  for (size_t i : mine) index.at(i).in_shard = true;
  index.write();

  if (params.progress) {
    std::cerr << "bilevel-opt sweep: " << todo.size() << " runs to do";
    if (params.shard.count > 1) std::cerr << " (shard " << params.shard.index << "/" << params.shard.count << ")";
    if (res.skipped) std::cerr << ", " << res.skipped << " already ok";
    std::cerr << "; " << params.jobs << " at a time × " << res.threads_per_run << " thread"
              << (res.threads_per_run > 1 ? "s" : "") << "; index in " << (out / "index.json").string() << "\n";
  }

  // One line per finished run: "[3/6] ok          method=fo,seed=3 (0.41 s)", with the note and log if not ok.
  auto report = [&](size_t n, const std::string& name, const IndexEntry& e, double secs) {
    if (!params.progress) return;
    char head[96], tail[32];
    const int width = static_cast<int>(std::to_string(todo.size()).size());
    std::snprintf(head, sizeof head, "[%*zu/%zu] %-11s ", width, n, todo.size(), e.status.c_str());
    std::snprintf(tail, sizeof tail, " (%.2f s)", secs);
    std::ostringstream line;
    line << "bilevel-opt sweep: " << head << name << tail;
    if (e.status != "ok" && !e.note.empty()) line << ": " << e.note;
    if (e.status != "ok") line << "  [" << (runs_dir / name / "train.log").string() << "]";
    std::cerr << line.str() << "\n" << std::flush;
  };
  SignalScope signals;
  std::map<pid_t, Running> running;
  size_t next = 0, done = 0;
  bool stopping = false, killed = false;
  while (true) {
    const bool stop_asked = (stop && stop->load()) || g_stop_signals > 0;
    if (stop_asked && !stopping) {
      stopping = true;
      if (params.progress) {
        std::cerr << "bilevel-opt sweep: stopping: no new runs; " << running.size()
                  << " in flight asked to stop (a second signal kills them)\n";
      }
      for (const auto& [pid, r] : running) ::kill(pid, SIGTERM);
    }
    if (stopping && g_stop_signals >= 2 && !killed) {
      killed = true;
      for (const auto& [pid, r] : running) ::kill(pid, SIGKILL);
    }
    while (!stopping && running.size() < static_cast<size_t>(params.jobs) && next < todo.size()) {
      const size_t i = todo[next++];
      const auto& run = spec.runs[i];
      const fs::path dir = runs_dir / run.name;
      ++res.launched;
      try {
        std::error_code ec;
        fs::remove_all(dir, ec);  // a half-written run from an earlier attempt starts afresh
        if (ec) throw io_error("cannot remove " + dir.string() + ": " + ec.message());
        fs::create_directories(dir, ec);
        if (ec) throw io_error("cannot create " + dir.string() + ": " + ec.message());
        const pid_t pid = spawn_child(sweep_train_argv(spec, run, params.train_exe, dir, res.threads_per_run),
                                      dir / "train.log");
        running[pid] = {i, std::chrono::steady_clock::now()};
        index.at(i).status = "running";
        index.at(i).note.clear();
        index.at(i).seconds = -1;
      } catch (const std::exception& ex) {  // recorded like any failed run; the sweep goes on
        IndexEntry& e = index.at(i);
        e.status = "failed";
        e.note = std::string("not started: ") + ex.what();
        e.seconds = -1;
        ++res.finished[e.status];
        report(++done, run.name, e, 0.0);
        index.write();
      }
    }
    if (running.empty()) break;
    SignalScope::wait(200);
    std::vector<pid_t> finished;
    for (auto& [pid, r] : running) {
      int st = 0;
      const pid_t w = ::waitpid(pid, &st, WNOHANG);
      if (w == 0) continue;
      finished.push_back(pid);
      const auto& run = spec.runs[r.run];
      const fs::path dir = runs_dir / run.name;
      IndexEntry& e = index.at(r.run);
      read_entry_from_disk(dir, e);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.start).count();
      if (w < 0 || e.status == "pending" || e.status == "incomplete") {
        // No result.json: the child crashed or was killed before writing one.
        e.status = "failed";
        e.note = w < 0 ? std::string("lost track of the process: ") + std::strerror(errno) : wait_status_text(st);
        const std::string tail = last_line(dir / "train.log");
        if (!tail.empty()) e.note += ": " + tail;
      }
      e.seconds = secs;
      ++res.finished[e.status];
      report(++done, run.name, e, secs);
    }
    for (pid_t p : finished) running.erase(p);
    if (!finished.empty()) index.write();
  }
  res.stopped = stopping;
  res.not_started = todo.size() - next;
  index.write();
  return res;
}

}  // namespace bilevel

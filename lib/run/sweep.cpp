#include "run/sweep.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <vector>

#include "run/progress.hpp"
#include "run/sweep_index.hpp"
#include "sys/files.hpp"
#include "sys/host.hpp"
#include "sys/process.hpp"

namespace bilevel {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

// Which runs this process is responsible for, and which of those it still has to do.
struct SweepPlan {
  std::vector<size_t> mine;        // runs of this shard, in expansion order
  std::vector<size_t> todo;        // the ones to launch
  std::vector<std::string> state;  // per run of the spec: its directory's state (only filled for `mine`)
};

int threads_per_run(const SweepParams& params, const SweepSpec& spec) {
  if (params.threads > 0) return std::max(1, params.threads / params.jobs);
  if (spec.threads > 0) return spec.threads;
  return std::max(1, sys::available_cpus() / params.jobs);
}

// Refuses to touch an existing sweep without --resume, and (with it) a finished run whose options are not
// the ones the spec gives now.
SweepPlan plan_sweep(const SweepParams& params, const SweepSpec& spec, const std::vector<nlohmann::json>& configs,
                     SweepOutcome& res) {
  const fs::path runs_dir = fs::path(params.out_dir) / "runs";
  SweepPlan plan;
  plan.state.resize(spec.runs.size());
  for (size_t i = 0; i < spec.runs.size(); ++i) {
    if (!sweep_shard_has(params.shard, i)) continue;
    plan.mine.push_back(i);
    plan.state[i] = sweep_run_state(runs_dir / spec.runs[i].name);
  }
  res.runs_in_shard = plan.mine.size();
  for (size_t i : plan.mine) {
    const fs::path dir = runs_dir / spec.runs[i].name;
    if (!params.resume && !params.dry_run && plan.state[i] != "pending") {
      throw option_error("--out '" + params.out_dir + "' already holds runs of this sweep (e.g. runs/" +
                         spec.runs[i].name + ", " + plan.state[i] +
                         "); pass --resume to continue it, or choose another directory");
    }
    if (plan.state[i] == "ok" && params.resume) {
      nlohmann::json have;
      try {
        have = sys::read_json(dir / "config.json");
      } catch (const std::exception& e) {
        throw option_error("--resume: " + std::string(e.what()));
      }
      const std::string diff = sweep_config_difference(configs[i], have);
      if (!diff.empty()) {
        throw option_error("--resume: " + dir.string() + " holds a finished run made with other options (" + diff +
                           "); the spec changed since: use another --out, or delete that directory to rerun it");
      }
      ++res.skipped;
      continue;
    }
    plan.todo.push_back(i);
  }
  return plan;
}

std::string dry_run_listing(const SweepParams& params, const SweepSpec& spec, const SweepPlan& plan,
                            const SweepOutcome& res) {
  const fs::path runs_dir = fs::path(params.out_dir) / "runs";
  std::ostringstream s;
  s << "# " << spec.runs.size() << " runs in " << spec.path;
  if (params.shard.count > 1) s << "; shard " << params.shard.index << "/" << params.shard.count << ": " << plan.mine.size();
  s << "; " << plan.todo.size() << " to run, " << res.skipped << " already ok; " << params.jobs << " at a time × "
    << res.threads_per_run << " thread" << (res.threads_per_run > 1 ? "s" : "");
  const size_t existing = static_cast<size_t>(
      std::count_if(plan.mine.begin(), plan.mine.end(), [&](size_t i) { return plan.state[i] != "pending"; }));
  if (!params.resume && existing > 0) s << "; " << existing << " already in the directory (to continue: --resume)";
  s << "\n";
  for (size_t i : plan.mine) {
    const auto& run = spec.runs[i];
    const bool skip = plan.state[i] == "ok" && params.resume;
    s << i << "\t" << run.name << "\t" << (skip ? "ok (skip)" : plan.state[i]) << "\t";
    auto argv = sweep_train_argv(spec, run, "bilevel-opt", runs_dir / run.name, res.threads_per_run);
    argv.insert(argv.begin(), params.launcher.begin(), params.launcher.end());
    for (size_t a = 0; a < argv.size(); ++a) s << (a ? " " : "") << sys::shell_quote(argv[a]);
    s << "\n";
  }
  return s.str();
}

// OUT/spec.toml is the spec a sweep directory belongs to: another spec is refused (its index would replace
// this one's) unless --add says to add its runs; the copy then becomes the new spec.
void check_spec_copy(const SweepParams& params, const SweepSpec& spec) {
  const fs::path copy = fs::path(params.out_dir) / "spec.toml";
  std::error_code ec;
  if (params.add || !fs::exists(copy, ec)) return;
  std::string old;
  try {
    old = sys::read_file(copy);
  } catch (const std::exception&) {
  }
  if (old == spec.text) return;
  throw option_error("--out '" + params.out_dir + "' holds the sweep of another spec (" + copy.string() +
                     " differs from " + params.spec_file + "); use another --out, or pass --add to add this spec's "
                     "runs there (its index then lists this spec's runs; finished runs are checked against it)");
}

// OUT/runs exists, leftovers of killed writers are gone, and OUT/spec.toml holds the spec.
void prepare_out_dir(const SweepParams& params, const SweepSpec& spec) {
  const fs::path out(params.out_dir);
  sys::ensure_writable_dir(out / "runs");
  sys::remove_stale_temps(out);
  const fs::path copy = out / "spec.toml";
  std::error_code ec;
  if (params.add || !fs::exists(copy, ec)) sys::write_file_atomic(copy, spec.text);
}

// The last non-empty line of a run's log, cut to 300 bytes: usually the error that ended it.
std::string last_line(const fs::path& file) {
  std::string text;
  try {
    text = sys::read_file(file);
  } catch (const std::exception&) {
    return "";
  }
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  if (last.size() > 300) last = last.substr(0, 300) + "…";
  return last;
}

// Launches the planned runs `jobs` at a time, reaps them as they end, and handles stop requests.
class Scheduler {
 public:
  Scheduler(const SweepParams& params, const SweepSpec& spec, const std::vector<size_t>& todo, SweepIndex& index,
            SweepOutcome& res, const std::atomic<bool>* stop)
      : params_(params), spec_(spec), todo_(todo), index_(index), res_(res), stop_(stop),
        runs_dir_(fs::path(params.out_dir) / "runs") {}

  void run() {
    start_ = clock_type::now();
    sys::StopSignals signals(/*watch_children=*/true);
    while (true) {
      handle_stop(signals);
      while (!stopping_ && running_.size() < static_cast<size_t>(params_.jobs) && next_ < todo_.size()) {
        launch(todo_[next_++]);
      }
      if (running_.empty()) break;
      signals.wait(200);
      reap();
    }
    res_.stopped = stopping_;
    res_.not_started = todo_.size() - next_;
  }

 private:
  struct Running {
    size_t run;  // index into spec.runs
    clock_type::time_point start;
  };

  // First stop signal: launch nothing more, ask the runs in flight to stop (SIGTERM); second: SIGKILL them.
  void handle_stop(const sys::StopSignals& signals) {
    const bool asked = (stop_ != nullptr && stop_->load()) || signals.count() > 0;
    if (asked && !stopping_) {
      stopping_ = true;
      if (params_.progress) {
        std::cerr << "bilevel-opt sweep: stopping: no new runs; " << running_.size()
                  << " in flight asked to stop (a second signal kills them)\n";
      }
      for (const auto& [pid, r] : running_) sys::send_signal(pid, SIGTERM);
    }
    if (stopping_ && signals.count() >= 2 && !killed_) {
      killed_ = true;
      for (const auto& [pid, r] : running_) sys::send_signal(pid, SIGKILL);
    }
  }

  // A run that cannot be started is recorded like any failed run; the sweep goes on.
  void launch(size_t i) {
    const auto& run = spec_.runs[i];
    const fs::path dir = runs_dir_ / run.name;
    ++res_.launched;
    try {
      std::error_code ec;
      std::string holder;
      if (sys::DirLock::held_by_other(dir, &holder)) {
        throw io_error(dir.string() + " is in use by " + holder + "; it was left as it is");
      }
      fs::remove_all(dir, ec);  // a half-written run from an earlier attempt starts afresh
      if (ec) throw io_error("cannot remove " + dir.string() + ": " + ec.message());
      fs::create_directories(dir, ec);
      if (ec) throw io_error("cannot create " + dir.string() + ": " + ec.message());
      sys::SpawnOptions opts;
      opts.output = dir / "train.log";
      opts.stdin_null = true;
      opts.die_with_parent = true;
      auto argv = sweep_train_argv(spec_, run, train_exe_, dir, res_.threads_per_run);
      argv.insert(argv.begin(), params_.launcher.begin(), params_.launcher.end());
      const std::string program = params_.launcher.empty() ? argv[0] : sys::find_on_path(argv[0]);
      running_[sys::spawn_process(program, argv, opts)] = {i, clock_type::now()};
      IndexEntry& e = index_.at(i);
      e.status = "running";
      e.note.clear();
      e.seconds = -1;
    } catch (const std::exception& ex) {
      IndexEntry& e = index_.at(i);
      e.status = "failed";
      e.note = std::string("not started: ") + ex.what();
      e.seconds = -1;
      ++res_.finished[e.status];
      report(run.name, e, 0.0);
      index_.update();
    }
  }

  // Records every run that has ended: its result.json, or (without one) how the process ended.
  void reap() {
    std::vector<int> ended;
    for (auto& [pid, r] : running_) {
      const std::optional<sys::ExitStatus> st = sys::poll_exit(pid);
      if (!st) continue;
      ended.push_back(pid);
      const auto& run = spec_.runs[r.run];
      index_.read_from_disk(r.run);
      IndexEntry& e = index_.at(r.run);
      const double secs = std::chrono::duration<double>(clock_type::now() - r.start).count();
      if (st->wait_errno != 0 || e.status == "pending" || e.status == "incomplete") {
        // No result.json: the child crashed or was killed before writing one.
        e.status = "failed";
        e.note = st->text();
        const std::string tail = last_line(runs_dir_ / run.name / "train.log");
        if (!tail.empty()) e.note += ": " + tail;
      }
      e.seconds = secs;
      ++res_.finished[e.status];
      report(run.name, e, secs);
    }
    for (int pid : ended) running_.erase(pid);
    if (!ended.empty()) index_.update();
  }

  // One line per finished run: "[3/6] ok          method=fo,seed=3 (0.41 s; sweep 00:03, ETA 00:03)", with the
  // note and log if not ok. The ETA extrapolates the sweep's own pace (runs finished per wall second).
  void report(const std::string& name, const IndexEntry& e, double secs) {
    ++done_;
    if (!params_.progress) return;
    char head[96], tail[96];
    const int width = static_cast<int>(std::to_string(todo_.size()).size());
    std::snprintf(head, sizeof head, "[%*zu/%zu] %-11s ", width, done_, todo_.size(), e.status.c_str());
    const double elapsed = std::chrono::duration<double>(clock_type::now() - start_).count();
    const double eta = elapsed * static_cast<double>(todo_.size() - done_) / static_cast<double>(done_);
    std::snprintf(tail, sizeof tail, " (%.2f s; sweep %s, ETA %s)", secs, clock_text(elapsed).c_str(),
                  clock_text(eta).c_str());
    std::ostringstream line;
    line << "bilevel-opt sweep: " << head << name << tail;
    if (e.status != "ok" && !e.note.empty()) line << ": " << e.note;
    if (e.status != "ok") line << "  [" << (runs_dir_ / name / "train.log").string() << "]";
    std::cerr << line.str() << "\n" << std::flush;
  }

  const SweepParams& params_;
  const SweepSpec& spec_;
  const std::vector<size_t>& todo_;
  SweepIndex& index_;
  SweepOutcome& res_;
  const std::atomic<bool>* stop_;
  fs::path runs_dir_;
  // The binary the runs execute: through a launcher, /proc/self/exe would name the launcher's own binary in
  // its child, so the launcher gets the real path.
  std::string train_exe_ = params_.launcher.empty() ? params_.train_exe
                                                    : std::filesystem::canonical(params_.train_exe).string();
  std::map<int, Running> running_;
  size_t next_ = 0, done_ = 0;
  clock_type::time_point start_;
  bool stopping_ = false, killed_ = false;
};

}  // namespace

std::vector<std::string> sweep_launcher_parse(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; in >> w;) words.push_back(w);
  if (words.empty()) throw option_error("--launcher is empty; give a command such as 'mpirun -np 4'");
  if (sys::find_on_path(words[0]).empty()) {
    throw option_error("--launcher '" + text + "': program '" + words[0] + "' is not on PATH");
  }
  return words;
}

SweepOutcome run_sweep(const SweepParams& params, const std::atomic<bool>* stop) {
  if (params.jobs < 1) throw option_error("--jobs must be ≥ 1, got " + std::to_string(params.jobs));
  if (params.threads < 0) throw option_error("--threads must be ≥ 1, got " + std::to_string(params.threads));
  if (params.out_dir.empty()) throw option_error("sweep: no --out directory given");
  const SweepSpec spec = sweep_spec_read(params.spec_file);
  const std::vector<nlohmann::json> configs = sweep_spec_configs(spec);

  SweepOutcome res;
  res.runs_total = spec.runs.size();
  res.threads_per_run = threads_per_run(params, spec);
  if (params.dry_run) {
    const SweepPlan plan = plan_sweep(params, spec, configs, res);
    res.listing = dry_run_listing(params, spec, plan, res);
    return res;
  }
  // One sweep per directory: an unsharded sweep holds OUT/.lock exclusively; the shards of a sharded one share
  // it and each holds its own OUT/.lock.shard-I-of-N, so shards run side by side but never twice, and never
  // beside an unsharded sweep. The lock is taken before the directory's state is read.
  const fs::path out(params.out_dir);
  sys::ensure_writable_dir(out);
  const bool sharded = params.shard.count > 1;
  const sys::DirLock lock(out, "sweep", "--out", sharded ? sys::DirLock::Mode::shared : sys::DirLock::Mode::exclusive);
  std::unique_ptr<sys::DirLock> shard_lock;
  if (sharded) {
    shard_lock = std::make_unique<sys::DirLock>(
        out, "sweep --shard " + std::to_string(params.shard.index) + "/" + std::to_string(params.shard.count),
        "--out", sys::DirLock::Mode::exclusive,
        ".lock.shard-" + std::to_string(params.shard.index) + "-of-" + std::to_string(params.shard.count));
  }
  check_spec_copy(params, spec);
  const SweepPlan plan = plan_sweep(params, spec, configs, res);

  prepare_out_dir(params, spec);
  SweepIndex index(spec, out);
  index.read_all_from_disk();
  for (size_t i : plan.mine) index.at(i).in_shard = true;
  index.write();
  if (params.progress) {
    std::cerr << "bilevel-opt sweep: " << plan.todo.size() << " runs to do";
    if (params.shard.count > 1) std::cerr << " (shard " << params.shard.index << "/" << params.shard.count << ")";
    if (res.skipped) std::cerr << ", " << res.skipped << " already ok";
    std::cerr << "; " << params.jobs << " at a time × " << res.threads_per_run << " thread"
              << (res.threads_per_run > 1 ? "s" : "") << "; index in " << (out / "index.json").string() << "\n";
  }
  Scheduler(params, spec, plan.todo, index, res, stop).run();
  index.write();
  res.index_error = index.write_error();
  return res;
}

std::string sweep_summary(const SweepParams& params, const SweepOutcome& o) {
  size_t ok = o.finished.count("ok") ? o.finished.at("ok") : 0;
  std::ostringstream s;
  s << "bilevel-opt sweep: " << o.launched << " runs launched: " << ok << " ok";
  for (const auto& [status, n] : o.finished)
    if (status != "ok") s << ", " << n << " " << status;
  if (o.skipped) s << "; " << o.skipped << " already ok";
  s << "; index in " << params.out_dir << "/index.json";
  return s.str();
}

}  // namespace bilevel

#include "run/train.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <toml++/toml.h>

#include "optim/outer.hpp"
#include "run/build_info.hpp"
#include "run/files.hpp"

namespace bilevel {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

// Random streams: (seed, purpose, …) — each a pure function of its indices.
enum Stream : uint64_t { stream_init = 1, stream_task = 2 };

const std::vector<OptionSpec>& run_option_specs() {
  static const std::vector<OptionSpec> specs = {
      opt_int("meta_batch", 1, "tasks per outer step (estimated in parallel)", 1),
      opt_choice("outer_opt", "adam", {"sgd", "adam"}, "outer optimizer"),
      opt_real("outer_lr", 0.001, "outer learning rate (initial value of the schedule)", 0, 1e300, true),
      opt_choice("schedule", "constant", {"constant", "inv", "linear"},
                 "outer lr schedule: constant; inv: lr/(k+1); linear: lr·(1 − fraction of the budget used)"),
      opt_real("adam_beta1", 0.9, "Adam β₁", 0, 1),
      opt_real("adam_beta2", 0.999, "Adam β₂", 0, 1),
      opt_real("adam_eps", 1e-8, "Adam ε", 0, 1e300, true),
      opt_int("eval_every", 100, "evaluate test metrics every N outer steps (and at the start and end)", 1),
      opt_int("log_every", 1, "write a curve row every N outer steps", 1),
      opt_int("instance_seed", 0,
              "seed of the problem instance (fixed matrices, evaluation tasks), kept fixed across --seed", 0),
  };
  return specs;
}

namespace {

std::string toml_value_text(const toml::node& n, const std::string& key) {
  if (auto v = n.value<std::string>()) return *v;
  if (auto v = n.value<int64_t>(); v && n.is_integer()) return std::to_string(*v);
  if (auto v = n.value<double>(); v && n.is_floating_point()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", *v);
    return buf;
  }
  if (auto v = n.value<bool>()) return *v ? "true" : "false";
  throw option_error("config key '" + key + "': unsupported value type (use a string, number or boolean)");
}

struct SpecialKeys {
  std::map<std::string, std::string> values;  // problem, method, seed, steps, … from the config file
};

}  // namespace

std::map<std::string, std::string> read_config_file(const std::string& path) {
  if (!fs::exists(path)) throw option_error("--config '" + path + "': file not found");
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << "--config '" << path << "': invalid TOML at line " << e.source().begin.line << ": " << e.description();
    throw option_error(s.str());
  }
  std::map<std::string, std::string> out;
  for (auto&& [k, v] : tbl) {
    const std::string key(k.str());
    if (auto* sub = v.as_table()) {
      if (key != "problem_options" && key != "method_options" && key != "run") {
        throw option_error("--config '" + path + "': unknown table [" + key +
                           "] (use top-level keys or [problem_options], [method_options], [run])");
      }
      for (auto&& [k2, v2] : *sub) out[std::string(k2.str())] = toml_value_text(v2, std::string(k2.str()));
    } else {
      out[key] = toml_value_text(v, key);
    }
  }
  return out;
}

ResolvedRun resolve_run(const TrainParams& in) {
  ResolvedRun run;
  run.params = in;
  TrainParams& p = run.params;
  std::map<std::string, std::string> given;
  if (!p.config_file.empty()) {
    auto cfg = read_config_file(p.config_file);
    auto take = [&](const char* key, auto apply) {
      auto it = cfg.find(key);
      if (it == cfg.end()) return;
      apply(it->second);
      cfg.erase(it);
    };
    take("problem", [&](const std::string& v) { if (p.problem.empty()) p.problem = v; });
    take("method", [&](const std::string& v) { if (p.method.empty()) p.method = v; });
    take("seed", [&](const std::string& v) {
      if (p.seed == 0) {
        const int64_t s = parse_int("seed", v);
        if (s < 0) throw option_error("config key 'seed': must be ≥ 0, got " + v);
        p.seed = static_cast<uint64_t>(s);
      }
    });
    take("steps", [&](const std::string& v) { if (p.steps == 0) p.steps = parse_int("steps", v); });
    take("budget_grad_evals",
         [&](const std::string& v) { if (p.budget_grad_evals == 0) p.budget_grad_evals = parse_int("budget_grad_evals", v); });
    take("budget_seconds",
         [&](const std::string& v) { if (p.budget_seconds == 0) p.budget_seconds = parse_real("budget_seconds", v); });
    given = std::move(cfg);
  }
  for (const auto& tok : p.sets) {
    auto [k, v] = parse_key_value(tok);
    given[k] = v;
  }
  if (p.problem.empty()) throw option_error("no problem given (--problem NAME; see `bilevel-opt list problems`)");
  if (p.method.empty()) throw option_error("no method given (--method NAME; see `bilevel-opt list methods`)");
  if (p.steps < 0) throw option_error("--steps must be ≥ 0, got " + std::to_string(p.steps));
  if (p.budget_grad_evals < 0) throw option_error("--budget-grad-evals must be ≥ 0");
  if (p.budget_seconds < 0 || !std::isfinite(p.budget_seconds)) throw option_error("--budget-seconds must be ≥ 0");
  if (p.threads < 1) throw option_error("--threads must be ≥ 1, got " + std::to_string(p.threads));
  if (p.steps == 0 && p.budget_grad_evals == 0 && p.budget_seconds == 0) p.steps = 1000;

  const ProblemInfo& pinfo = find_problem(p.problem);
  const MethodInfo& minfo = find_method(p.method);
  // Problem-specific run defaults sit below the user's values.
  for (const auto& [k, v] : pinfo.run_defaults) given.emplace(k, v);

  run.problem_opts = Options::resolve("problem " + pinfo.name, pinfo.options, given);
  run.method_opts = Options::resolve("method " + minfo.name, minfo.options, given);
  run.run_opts = Options::resolve("run", run_option_specs(), given);
  if (!given.empty()) {
    std::vector<std::string> valid;
    for (const auto& s : pinfo.options) valid.push_back(s.key);
    for (const auto& s : minfo.options) valid.push_back(s.key);
    for (const auto& s : run_option_specs()) valid.push_back(s.key);
    throw_unknown_keys(given, valid);
  }

  nlohmann::json c;
  c["problem"] = p.problem;
  c["method"] = p.method;
  c["seed"] = p.seed;
  c["steps"] = p.steps;
  c["budget_grad_evals"] = p.budget_grad_evals;
  c["budget_seconds"] = p.budget_seconds;
  c["threads"] = p.threads;
  c["problem_options"] = run.problem_opts.to_json();
  c["method_options"] = run.method_opts.to_json();
  c["run_options"] = run.run_opts.to_json();
  c["version"] = build_version;
  c["git_revision"] = build_git_revision;
  c["build_type"] = build_type;
  c["real"] = real_name;
  if (!p.config_file.empty()) c["config_file"] = p.config_file;
  run.config = c;
  return run;
}

namespace {

void add_metrics(nlohmann::json& row, const Metrics& m) {
  for (const auto& [k, v] : m) row[k] = json_number(v);
}

std::string format_eta(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 120) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(s / 60), std::fmod(s, 60));
  return buf;
}

}  // namespace

TrainOutcome run_train(const ResolvedRun& run, const std::atomic<bool>* stop) {
  const TrainParams& p = run.params;
  const fs::path out(p.out_dir);
  const bool out_existed = fs::exists(out);
  ensure_writable_dir(out);
  if (fs::exists(out / "result.json") && !p.force) {
    throw option_error("--out '" + p.out_dir + "' already holds a finished run (result.json); choose another directory or pass --force");
  }

  // The problem (which may load data) and the estimator are built before anything is written: a missing data
  // file or an estimator refused for this problem leaves no run directory behind.
  const ProblemInfo& pinfo = find_problem(p.problem);
  const MethodInfo& minfo = find_method(p.method);
  const Options& ro = run.run_opts;
  std::unique_ptr<Problem> problem;
  std::unique_ptr<Estimator> est;
  try {
    problem = pinfo.make(run.problem_opts, static_cast<uint64_t>(ro.get_int("instance_seed")));
    est = minfo.make(run.method_opts, *problem, run.problem_opts);
  } catch (...) {
    std::error_code ignored;
    if (!out_existed && fs::is_empty(out, ignored)) fs::remove(out, ignored);
    throw;
  }
  std::error_code ec;
  fs::remove(out / "result.json", ec);
  write_json_atomic(out / "config.json", run.config);

  tbb::global_control threads_ctl(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(p.threads));
  const int64_t meta_batch = ro.get_int("meta_batch");
  const int64_t eval_every = ro.get_int("eval_every"), log_every = ro.get_int("log_every");
  const double lr0 = ro.get_real("outer_lr");
  const std::string schedule = ro.get_string("schedule");
  OuterOptimizer opt(outer_optimizer_config(ro), problem->lambda_dim());

  Rng init_rng(p.seed, {stream_init});
  Tensor lambda = problem->init_lambda(init_rng);

  std::ofstream curve(out / "curve.jsonl", std::ios::trunc);
  if (!curve) throw io_error("cannot write " + (out / "curve.jsonl").string());

  const auto wall_start = clock_type::now();
  double est_seconds = 0, eval_seconds = 0;
  int64_t grad_evals = 0, hvps = 0, peak_bytes = 0, step = 0;
  std::string status = "ok", message;
  Metrics last_eval;
  std::vector<double> recent_losses;
  const bool progress = !p.quiet && ::isatty(STDERR_FILENO);

  auto evaluate = [&](nlohmann::json& row) {
    const auto t0 = clock_type::now();
    last_eval = problem->evaluate(lambda);
    eval_seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
    add_metrics(row, last_eval);
  };
  auto diagnostics = [&](nlohmann::json& row) {
    const auto t0 = clock_type::now();
    add_metrics(row, problem->diagnostics(lambda));
    eval_seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
  };
  auto budget_fraction = [&]() {
    double f = 0;
    if (p.steps > 0) f = std::max(f, static_cast<double>(step) / static_cast<double>(p.steps));
    if (p.budget_grad_evals > 0)
      f = std::max(f, static_cast<double>(grad_evals + hvps) / static_cast<double>(p.budget_grad_evals));
    if (p.budget_seconds > 0) f = std::max(f, est_seconds / p.budget_seconds);
    return std::min(f, 1.0);
  };

  {
    nlohmann::json row;
    row["step"] = 0;
    row["seconds"] = 0.0;
    row["grad_evals"] = 0;
    row["hvps"] = 0;
    row["outer_loss"] = nullptr;
    row["hypergrad_norm"] = nullptr;
    evaluate(row);
    diagnostics(row);
    row["eval_seconds"] = eval_seconds;
    curve << row.dump() << '\n' << std::flush;
  }

  std::vector<HypergradResult> results(static_cast<size_t>(meta_batch));
  try {
    while (true) {
      if (budget_fraction() >= 1.0) break;
      if (stop && stop->load()) {
        status = "interrupted";
        break;
      }
      const auto t0 = clock_type::now();
      BILEVEL_FAULT_POINT("train_step");
      est->begin_step(step);
      const Tensor& lam = lambda;
      tbb::parallel_for(
          tbb::blocked_range<int64_t>(0, meta_batch, 1),
          [&](const tbb::blocked_range<int64_t>& range) {
            for (int64_t i = range.begin(); i != range.end(); ++i) {
              Rng rng(p.seed, {stream_task, static_cast<uint64_t>(step), static_cast<uint64_t>(i)});
              Task task = problem->sample_task(rng);
              results[static_cast<size_t>(i)] = est->estimate(*problem, lam, task, rng);
            }
          },
          tbb::simple_partitioner());
      // Reduce in task order so the result does not depend on the thread count.
      Tensor g(Shape{problem->lambda_dim()});
      double loss = 0;
      Metrics extras_sum;
      for (const auto& r : results) {
        axpy(real(1), r.grad, g);
        loss += r.outer_loss;
        grad_evals += r.grad_evals;
        hvps += r.hvps;
        peak_bytes = std::max(peak_bytes, r.peak_bytes);
        for (const auto& [k, v] : r.extras) {
          bool found = false;
          for (auto& [k2, v2] : extras_sum)
            if (k2 == k) v2 += v, found = true;
          if (!found) extras_sum.emplace_back(k, v);
        }
      }
      g = scaled(g, real(1) / static_cast<real>(meta_batch));
      loss /= static_cast<double>(meta_batch);
      est->end_step(results);
      const double gnorm = std::sqrt(norm2(g));
      double lr = lr0;
      if (schedule == "inv") lr = lr0 / static_cast<double>(step + 1);
      else if (schedule == "linear") lr = lr0 * (1.0 - budget_fraction());
      if (!std::isfinite(gnorm) || !std::isfinite(loss)) {
        status = "diverged";
        message = "non-finite hypergradient or outer loss at step " + std::to_string(step);
      } else {
        opt.step(lambda, g, lr);
        if (!lambda.all_finite()) {
          status = "diverged";
          message = "λ became non-finite at step " + std::to_string(step);
        }
      }
      est_seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
      ++step;
      recent_losses.push_back(loss);
      if (recent_losses.size() > 10) recent_losses.erase(recent_losses.begin());

      const bool last = status != "ok" || budget_fraction() >= 1.0 || (stop && stop->load());
      if (step % log_every == 0 || last) {
        nlohmann::json row;
        row["step"] = step;
        row["seconds"] = est_seconds;
        row["grad_evals"] = grad_evals;
        row["hvps"] = hvps;
        row["outer_loss"] = json_number(loss);
        row["hypergrad_norm"] = json_number(gnorm);
        row["outer_lr"] = lr;
        for (const auto& [k, v] : est->state()) row[k] = json_number(v);
        for (const auto& [k, v] : extras_sum)
          if (k == "exact_drawn") row[k] = v;
        if (status == "ok") {
          diagnostics(row);
          if (step % eval_every == 0 || last) evaluate(row);
        }
        row["eval_seconds"] = eval_seconds;
        curve << row.dump() << '\n' << std::flush;
      }
      if (progress) {
        const double frac = budget_fraction();
        const double eta = frac > 0 ? est_seconds * (1 - frac) / frac : NAN;
        std::fprintf(stderr, "\r  step %lld  %3.0f%%  ETA %s  outer_loss %.4g", static_cast<long long>(step),
                     100 * frac, format_eta(eta).c_str(), loss);
        for (const auto& [k, v] : est->state()) std::fprintf(stderr, "  %s %.3g", k.c_str(), v);
        std::fprintf(stderr, "   ");
      }
      if (status != "ok") break;
    }
  } catch (const internal_error& e) {
    status = "error";
    message = std::string("internal error: ") + e.what();
  } catch (const std::exception& e) {
    status = "error";
    message = e.what();
  }
  if (progress) std::fprintf(stderr, "\n");
  curve.close();

  nlohmann::json res;
  res["status"] = status;
  if (!message.empty()) res["message"] = message;
  res["problem"] = p.problem;
  res["method"] = p.method;
  res["seed"] = p.seed;
  res["steps"] = step;
  res["grad_evals"] = grad_evals;
  res["hvps"] = hvps;
  res["seconds"] = est_seconds;
  res["eval_seconds"] = eval_seconds;
  res["wall_seconds"] = std::chrono::duration<double>(clock_type::now() - wall_start).count();
  res["peak_rss_bytes"] = peak_rss_bytes();
  res["peak_estimator_bytes"] = peak_bytes;
  nlohmann::json fin;
  if (!recent_losses.empty()) {
    double s = 0;
    for (double v : recent_losses) s += v;
    fin["outer_loss"] = json_number(s / static_cast<double>(recent_losses.size()));
  }
  for (const auto& [k, v] : last_eval) fin[k] = json_number(v);
  if (status == "ok" || status == "interrupted") {
    for (const auto& [k, v] : problem->diagnostics(lambda)) fin[k] = json_number(v);
  }
  res["final"] = fin;
  nlohmann::json lam;
  lam["file"] = "lambda.bin";
  lam["dtype"] = sizeof(real) == 8 ? "float64" : "float32";
  lam["shape"] = lambda.shape().to_vector();
  lam["norm"] = json_number(std::sqrt(norm2(lambda)));
  double mn = INFINITY, mx = -INFINITY, mean = 0;
  for (int64_t i = 0; i < lambda.numel(); ++i) {
    mn = std::min(mn, static_cast<double>(lambda[i]));
    mx = std::max(mx, static_cast<double>(lambda[i]));
    mean += lambda[i];
  }
  lam["min"] = json_number(mn);
  lam["max"] = json_number(mx);
  lam["mean"] = json_number(mean / static_cast<double>(std::max<int64_t>(1, lambda.numel())));
  if (lambda.numel() <= 16) {
    nlohmann::json vals = nlohmann::json::array();
    for (int64_t i = 0; i < lambda.numel(); ++i) vals.push_back(json_number(lambda[i]));
    lam["values"] = vals;
  }
  res["lambda"] = lam;
  write_tensor_bin(out / "lambda.bin", lambda);
  write_json_atomic(out / "result.json", res);
  return {status, res};
}

}  // namespace bilevel

#include "run/check.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "base/number_text.hpp"
#include "hypergrad/estimator.hpp"
#include "run/check_ufo.hpp"
#include "run/listing.hpp"
#include "run/number_format.hpp"
#include "run/train_config.hpp"
#include "sys/files.hpp"

namespace bilevel {

namespace {

// Random streams of check: (seed, purpose, …).
enum CheckStream : uint64_t { check_init = 1, check_task = 2, check_reference = 3, check_samples = 4 };

nlohmann::json to_json(const Tensor& t) {
  nlohmann::json j;
  j["shape"] = t.shape().to_vector();
  nlohmann::json v = nlohmann::json::array();
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(json_number(t[i]));
  j["values"] = v;
  return j;
}

double cosine(const Tensor& a, const Tensor& b) {
  const double na = std::sqrt(norm2(a)), nb = std::sqrt(norm2(b));
  return (na > 0 && nb > 0) ? dot(a, b) / (na * nb) : NAN;
}

struct CheckSetup {
  const ProblemInfo* problem = nullptr;
  std::vector<const MethodInfo*> methods;
  Options problem_opts;
  std::vector<Options> method_opts;  // per method
};

// Names and options, all checked before any work: a --set key is valid if the problem or some requested
// method declares it; method options are resolved per method.
CheckSetup resolve_check(const CheckParams& cp) {
  if (cp.samples < 1) throw option_error("--samples must be ≥ 1, got " + std::to_string(cp.samples));
  CheckSetup s;
  s.problem = &find_problem(cp.problem);
  if (cp.methods.empty()) {
    for (const auto& m : method_registry()) s.methods.push_back(&m);
  } else {
    for (const auto& name : cp.methods) s.methods.push_back(&find_method(name));
  }
  std::map<std::string, std::string> given;
  for (const auto& tok : cp.sets) {
    auto [k, v] = parse_key_value(tok);
    given[k] = v;
  }
  s.problem_opts = Options::resolve("problem " + s.problem->name, s.problem->options, given);
  std::map<std::string, std::string> left = given;
  for (const auto* m : s.methods) {
    std::map<std::string, std::string> mine = given;
    s.method_opts.push_back(Options::resolve("method " + m->name, m->options, mine));
    for (const auto& spec : m->options) left.erase(spec.key);
  }
  if (!left.empty()) {
    std::vector<std::string> valid;
    std::string methods;
    for (const auto& spec : s.problem->options) valid.push_back(spec.key);
    for (const auto* m : s.methods) {
      methods += (methods.empty() ? "" : ", ") + m->name;
      for (const auto& spec : m->options) valid.push_back(spec.key);
    }
    throw option_error(unplaced_keys_message(
        left, "problem '" + s.problem->name + "' or the methods checked (" + methods + ")", valid));
  }
  if (cp.bias_variance && !ufo_toy::params_for(s.problem->name, s.problem_opts)) {
    throw option_error("--bias-variance needs a UFOM toy problem (ufo-counterexample, ufo-qcurve), got '" +
                       s.problem->name + "'");
  }
  if (!cp.out_file.empty()) {
    const auto parent = std::filesystem::path(cp.out_file).parent_path();
    if (!parent.empty()) sys::ensure_writable_dir(parent);
  }
  return s;
}

nlohmann::json instance_json(const Problem& problem, const Tensor& lambda, const Task& task) {
  nlohmann::json inst;
  inst["lambda"] = to_json(lambda);
  {
    ad::NoGradGuard ng;
    inst["theta0"] = to_json(problem.theta0(ad::constant(lambda), task).value());
  }
  inst["inner_lr"] = problem.inner().lr;
  inst["inner_steps"] = problem.inner().steps;
  nlohmann::json tj;
  for (size_t i = 0; i < task.x.size(); ++i) tj["x"].push_back(to_json(task.x[i]));
  for (size_t i = 0; i < task.y.size(); ++i) tj["y"].push_back(to_json(task.y[i]));
  for (const auto& l : task.labels) tj["labels"].push_back(l);
  tj["id"] = task.id;
  inst["task"] = tj;
  inst["problem"] = problem.describe();
  return inst;
}

// `samples` estimates of method `mi` (coins from stream (seed, check_samples, mi, s)) against `g_exact`.
nlohmann::json sample_estimator(Estimator& est, const Problem& problem, const Tensor& lambda, const Task& task,
                                const Tensor& g_exact, const CheckParams& cp, uint64_t mi) {
  Tensor mean(lambda.shape());
  std::vector<Tensor> draws;
  double ge = 0, hv = 0, cost = 0, pk = 0, loss = 0;
  const auto t0 = std::chrono::steady_clock::now();
  int64_t samples = cp.samples;
  for (int64_t s = 0; s < samples; ++s) {
    est.begin_step(s);
    Rng rng(cp.seed, {check_samples, mi, static_cast<uint64_t>(s)});
    HypergradResult r = est.estimate(problem, lambda, task, rng);
    est.end_step({r});
    axpy(real(1), r.grad, mean);
    ge += static_cast<double>(r.grad_evals);
    hv += static_cast<double>(r.hvps);
    cost += cost_of(r);
    pk = std::max(pk, static_cast<double>(r.peak_bytes));
    loss = r.outer_loss;
    draws.push_back(std::move(r.grad));
    if (s == 0 && cost > 0) {  // the first estimate's cost (deterministic) fixes how many the budget allows
      samples = std::min<int64_t>(cp.samples, std::max<int64_t>(1, static_cast<int64_t>(cp.cost_budget / cost)));
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double n = static_cast<double>(samples);
  mean = scaled(mean, real(1) / static_cast<real>(samples));
  double var = 0;
  for (const auto& d : draws) var += norm2(sub(d, mean));
  var /= std::max<double>(1, n - 1);
  const Tensor bias = sub(mean, g_exact);
  nlohmann::json e;
  e["mean"] = to_json(mean);
  e["bias_norm"] = json_number(std::sqrt(norm2(bias)));
  e["relative_bias"] = json_number(std::sqrt(norm2(bias)) / std::max(std::sqrt(norm2(g_exact)), 1e-300));
  e["cosine_to_exact"] = json_number(cosine(mean, g_exact));
  e["variance"] = json_number(var);  // trace of the sample covariance
  e["standard_error"] = json_number(std::sqrt(var / n));
  e["outer_loss"] = json_number(loss);
  e["grad_evals_per_sample"] = ge / n;
  e["hvps_per_sample"] = hv / n;
  e["cost_per_sample"] = cost / n;
  e["peak_bytes"] = pk;
  e["seconds_per_sample"] = secs / n;
  e["samples"] = samples;
  e["samples_cut_by_budget"] = samples < cp.samples;
  return e;
}

}  // namespace

nlohmann::json run_check(const CheckParams& cp) {
  const CheckSetup setup = resolve_check(cp);
  if (!cp.out_file.empty()) sys::check_output_target(cp.out_file, "--out");  // before the work, not after
  auto problem = setup.problem->make(setup.problem_opts, 0);
  Rng init_rng(cp.seed, {check_init});
  const Tensor lambda = problem->init_lambda(init_rng);
  Rng task_rng(cp.seed, {check_task, 0, 0});
  const Task task = problem->sample_task(task_rng);

  nlohmann::json out;
  out["problem"] = cp.problem;
  out["seed"] = cp.seed;
  out["samples"] = cp.samples;
  out["cost_budget"] = cp.cost_budget;
  out["problem_options"] = setup.problem_opts.to_json();
  out["instance"] = instance_json(*problem, lambda, task);

  // Reference: the exact hypergradient (stored trajectory).
  std::map<std::string, std::string> none;
  const Options exact_opts = Options::resolve("method exact", find_method("exact").options, none);
  auto exact = make_estimator(find_method("exact"), exact_opts, *problem);
  Rng ref_rng(cp.seed, {check_reference});
  const Tensor g_exact = exact->estimate(*problem, lambda, task, ref_rng).grad;
  out["exact"] = to_json(g_exact);
  if (auto cf = problem->closed_form_unrolled(lambda, task)) {
    out["closed_form_unrolled"] = to_json(*cf);
    out["exact_vs_closed_form_max_abs"] = max_abs_diff(g_exact, *cf);
  }
  if (auto cf = problem->closed_form_ift(lambda, task)) out["closed_form_ift"] = to_json(*cf);

  nlohmann::json ests = nlohmann::json::object();
  for (size_t mi = 0; mi < setup.methods.size(); ++mi) {
    const MethodInfo& m = *setup.methods[mi];
    std::unique_ptr<Estimator> est;
    try {
      est = make_estimator(m, setup.method_opts[mi], *problem);
    } catch (const option_error& err) {
      if (!cp.methods.empty()) throw;  // a method asked for by name must apply
      ests[m.name] = {{"applicable", false}, {"reason", err.what()}};
      continue;
    }
    nlohmann::json e = sample_estimator(*est, *problem, lambda, task, g_exact, cp, mi);
    e["applicable"] = true;
    e["options"] = setup.method_opts[mi].to_json();
    ests[m.name] = e;
  }
  out["estimators"] = ests;
  if (cp.bias_variance) {  // D², V² over the starting range [x0_min, x0_max], 10000 points as in the toy code
    const ufo_toy::Params tp = *ufo_toy::params_for(setup.problem->name, setup.problem_opts);
    out["bias_variance"] = ufo_theory_json(ufo_theory(tp, setup.problem_opts.get_real("x0_min"),
                                                      setup.problem_opts.get_real("x0_max"), 10000));
  }
  if (!cp.out_file.empty()) sys::write_output(cp.out_file, out.dump(2) + "\n");
  return out;
}

std::string check_table_text(const nlohmann::json& check) {
  std::ostringstream s;
  s << "Per estimator, over " << check["samples"].get<int64_t>() << " samples: ‖bias‖ = ‖mean − exact‖ beside the "
    << "standard error ‖s.e.‖ of the mean (a bias within about 2 s.e. is noise), relative bias, cosine to exact,\n"
    << "variance (trace), and cost per sample.\n\n";
  auto num = [](const nlohmann::json& j) { return j.is_null() ? NAN : j.get<double>(); };
  auto col = [](const std::string& text, size_t width) {
    const size_t w = display_width(text);
    return text + std::string(w < width ? width - w : 1, ' ');
  };
  s << col("method", 14) << col("‖bias‖", 12) << col("‖s.e.‖", 12) << col("bias/s.e.", 11) << col("rel. bias", 11)
    << col("cosine", 10) << col("variance", 12) << col("grads", 9) << "hvps\n";
  for (const auto& [name, e] : check["estimators"].items()) {
    if (!e["applicable"].get<bool>()) {
      s << col(name, 14) << "(does not apply)\n";
      continue;
    }
    const double bias = num(e["bias_norm"]), se = num(e["standard_error"]);
    s << col(name, 14) << col(format_value(bias), 12) << col(format_value(se), 12)
      << col(se > 0 ? format_value(bias / se) : std::string("—"), 11) << col(format_value(num(e["relative_bias"])), 11)
      << col(format_value(num(e["cosine_to_exact"])), 10) << col(format_value(num(e["variance"])), 12)
      << col(format_count(num(e["grad_evals_per_sample"])), 9) << format_count(num(e["hvps_per_sample"]));
    if (e.value("samples_cut_by_budget", false)) {
      s << "  (" << e["samples"].get<int64_t>() << " samples: cost budget " << format_count(num(check["cost_budget"]))
        << " gradients)";
    }
    s << "\n";
  }
  if (check.contains("bias_variance")) s << ufo_theory_text(check["bias_variance"]);
  return s.str();
}

}  // namespace bilevel

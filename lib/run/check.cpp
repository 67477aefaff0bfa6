#include "run/check.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "hypergrad/estimator.hpp"
#include "run/files.hpp"
#include "run/train.hpp"

namespace bilevel {

namespace {
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
}  // namespace

nlohmann::json run_check(const CheckParams& cp) {
  if (cp.samples < 1) throw option_error("--samples must be ≥ 1, got " + std::to_string(cp.samples));
  const ProblemInfo& pinfo = find_problem(cp.problem);
  std::vector<const MethodInfo*> methods;
  if (cp.methods.empty()) {
    for (const auto& m : method_registry()) methods.push_back(&m);
  } else {
    for (const auto& name : cp.methods) methods.push_back(&find_method(name));
  }
  std::map<std::string, std::string> given;
  for (const auto& tok : cp.sets) {
    auto [k, v] = parse_key_value(tok);
    given[k] = v;
  }
  Options popts = Options::resolve("problem " + pinfo.name, pinfo.options, given);
  // Method options are resolved per method: a key is valid if some requested method declares it.
  std::vector<Options> mopts;
  std::map<std::string, std::string> left = given;
  for (const auto* m : methods) {
    std::map<std::string, std::string> mine = given;
    mopts.push_back(Options::resolve("method " + m->name, m->options, mine));
    for (const auto& s : m->options) left.erase(s.key);
  }
  if (!left.empty()) {
    std::vector<std::string> valid;
    for (const auto& s : pinfo.options) valid.push_back(s.key);
    for (const auto* m : methods)
      for (const auto& s : m->options) valid.push_back(s.key);
    throw_unknown_keys(left, valid);
  }
  if (!cp.out_file.empty()) {
    const auto parent = std::filesystem::path(cp.out_file).parent_path();
    if (!parent.empty()) ensure_writable_dir(parent);
  }

  auto problem = pinfo.make(popts, 0);
  Rng init_rng(cp.seed, {1});
  Tensor lambda = problem->init_lambda(init_rng);
  Rng task_rng(cp.seed, {2, 0, 0});
  Task task = problem->sample_task(task_rng);

  nlohmann::json out;
  out["problem"] = cp.problem;
  out["seed"] = cp.seed;
  out["samples"] = cp.samples;
  out["problem_options"] = popts.to_json();
  nlohmann::json inst;
  inst["lambda"] = to_json(lambda);
  {
    ad::NoGradGuard ng;
    inst["theta0"] = to_json(problem->theta0(ad::constant(lambda), task).value());
  }
  inst["inner_lr"] = problem->inner().lr;
  inst["inner_steps"] = problem->inner().steps;
  nlohmann::json tj;
  for (size_t i = 0; i < task.x.size(); ++i) tj["x"].push_back(to_json(task.x[i]));
  for (size_t i = 0; i < task.y.size(); ++i) tj["y"].push_back(to_json(task.y[i]));
  for (const auto& l : task.labels) tj["labels"].push_back(l);
  tj["id"] = task.id;
  inst["task"] = tj;
  inst["problem"] = problem->describe();
  out["instance"] = inst;

  // Reference: the exact hypergradient (stored trajectory).
  std::map<std::string, std::string> none;
  Options exact_opts = Options::resolve("method exact", find_method("exact").options, none);
  auto exact = find_method("exact").make(exact_opts, *problem, popts);
  Rng ref_rng(cp.seed, {3});
  const Tensor g_exact = exact->estimate(*problem, lambda, task, ref_rng).grad;
  out["exact"] = to_json(g_exact);
  if (auto cf = problem->closed_form_unrolled(lambda, task)) {
    out["closed_form_unrolled"] = to_json(*cf);
    out["exact_vs_closed_form_max_abs"] = max_abs_diff(g_exact, *cf);
  }
  if (auto cf = problem->closed_form_ift(lambda, task)) out["closed_form_ift"] = to_json(*cf);

  nlohmann::json ests = nlohmann::json::object();
  for (size_t mi = 0; mi < methods.size(); ++mi) {
    const MethodInfo& m = *methods[mi];
    nlohmann::json e;
    std::unique_ptr<Estimator> est;
    try {
      est = m.make(mopts[mi], *problem, popts);
    } catch (const option_error& err) {
      if (!cp.methods.empty()) throw;
      e["applicable"] = false;
      e["reason"] = err.what();
      ests[m.name] = e;
      continue;
    }
    e["applicable"] = true;
    e["options"] = mopts[mi].to_json();
    Tensor mean(lambda.shape());
    std::vector<Tensor> draws;
    double ge = 0, hv = 0, pk = 0, loss = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t s = 0; s < cp.samples; ++s) {
      est->begin_step(s);
      Rng rng(cp.seed, {4, mi, static_cast<uint64_t>(s)});
      HypergradResult r = est->estimate(*problem, lambda, task, rng);
      est->end_step({r});
      axpy(real(1), r.grad, mean);
      ge += static_cast<double>(r.grad_evals);
      hv += static_cast<double>(r.hvps);
      pk = std::max(pk, static_cast<double>(r.peak_bytes));
      loss = r.outer_loss;
      draws.push_back(std::move(r.grad));
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    mean = scaled(mean, real(1) / static_cast<real>(cp.samples));
    double var = 0;
    for (const auto& d : draws) var += norm2(sub(d, mean));
    var /= std::max<double>(1, static_cast<double>(cp.samples - 1));
    const Tensor bias = sub(mean, g_exact);
    e["mean"] = to_json(mean);
    e["bias_norm"] = json_number(std::sqrt(norm2(bias)));
    e["relative_bias"] = json_number(std::sqrt(norm2(bias)) / std::max(std::sqrt(norm2(g_exact)), 1e-300));
    e["cosine_to_exact"] = json_number(cosine(mean, g_exact));
    e["variance"] = json_number(var);  // trace of the sample covariance
    e["standard_error"] = json_number(std::sqrt(var / static_cast<double>(cp.samples)));
    e["outer_loss"] = json_number(loss);
    e["grad_evals_per_sample"] = ge / static_cast<double>(cp.samples);
    e["hvps_per_sample"] = hv / static_cast<double>(cp.samples);
    e["peak_bytes"] = pk;
    e["seconds_per_sample"] = secs / static_cast<double>(cp.samples);
    ests[m.name] = e;
  }
  out["estimators"] = ests;
  if (!cp.out_file.empty()) write_json_atomic(cp.out_file, out);
  return out;
}

}  // namespace bilevel

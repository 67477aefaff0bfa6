// Exports seeded problem instances and bilevel-opt's hypergradients on them, so that the PyTorch reference
// (experiments/benchmarks/torch_ref.py) can recompute the same hypergradients and compare. A benchmark
// helper, not a test; run_vs_torch.sh calls it before any timing.
//
//   bench_vs_torch sinusoid --out DIR [--tasks T] [--seed S] [--set key=value]...
//       λ (the meta-initialization), T tasks (support/query x, y) drawn like `check` draws its task, and per
//       task the hypergradients of fo, exact and ufo (q = 0.1; the Bernoulli draw exported as well).
//   bench_vs_torch hpo-l2 --out DIR [--seed S] [--chains C] [--samples M] [--set key=value]...
//       the training and validation subsets exactly as the problem draws them, θ₀, λ, and the hypergradients
//       of exact, ift-cg and sgld variant=one-step (burn_in 0, C chains × M samples) with every chain's
//       Gaussian noise exported, so the SGLD trajectory can be replayed bit-for-bit in distribution-free form.
//   bench_vs_torch fewshot --out DIR [--tasks T] [--seed S] [--set key=value]...
//       λ (the Conv4 meta-initialization), T meta-training tasks (support/query images and labels) and per task the
//       hypergradients of fo and exact; torch_ref.py times its Conv4 workloads on these tasks too.
//   bench_vs_torch hyper-cleaning --out DIR [--seed S] [--set key=value]...
//       the training subset with its corrupted labels and the validation subset exactly as the problem draws
//       them, θ₀, λ, and the exact hypergradient (reverse mode through the inner_steps GD steps).
//   bench_vs_torch time --problem P --method M [--set key=value]... [--threads N] [--warmup W] [--steps S] [--seed S]
//       the outer loop of `bilevel-opt train` (meta_batch tasks estimated in parallel with oneTBB, reduced in
//       task order, Adam on λ with the problem's default outer_lr) for W untimed + S timed steps; prints one
//       JSON line with each timed step's wall seconds, process CPU seconds (all threads) and task seconds (the
//       wall time of the meta-batch's estimates summed over tasks: work, without waiting), and peak RSS. A
//       step's tasks are drawn before its clock starts (as torch_ref.py's steps get theirs); the drawing's wall
//       seconds are reported apart (step_sample_seconds).
//       CPU time is what a loaded machine distorts least. Also each step's matrix-product FLOPs and operand
//       bytes (tensor/tensor.hpp GemmCounter; counted on the calling thread, so complete at --threads 1). Problem, method and meta_batch keys go in --set.
//
// Files: DIR/meta.json (sizes, options, file list, outer losses) and raw little-endian float32 (`.f32`) or
// int64 (`.i64`) arrays, row-major.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hypergrad/estimator.hpp"
#include "problems/classification_detail.hpp"
#include "problems/problem.hpp"
#include "base/options.hpp"
#include "tensor/rng.hpp"
#include "tensor/parallel.hpp"
#include "tensor/tensor.hpp"

using namespace bilevel;
namespace fs = std::filesystem;

namespace {

// The problems' private stream constants (lib/problems/hpo_l2.cpp), so the driver draws the same subsets.
constexpr uint64_t kHpoL2SplitStream = 0x68706f6c32ULL;
constexpr uint64_t kCleaningSplitStream = 0x636c65616eULL;    // lib/problems/hyper_cleaning.cpp
constexpr uint64_t kCleaningNoiseStream = 0x636c65616e4eULL;

struct Args {
  std::string problem, out, method;
  uint64_t seed = 0;
  int64_t threads = 1, warmup = 2, steps = 10;
  int64_t tasks = 4, chains = 2, samples = 20;
  std::vector<std::string> sets;
};

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(stderr, "bench_vs_torch: %s\nusage: bench_vs_torch sinusoid|hpo-l2|hyper-cleaning|fewshot --out DIR [--seed S] [--tasks T] "
                       "[--chains C] [--samples M] [--set key=value]...\n", msg.c_str());
  std::exit(2);
}

Args parse(int argc, char** argv) {
  if (argc < 2) usage("missing problem");
  Args a;
  a.problem = argv[1];
  if (a.problem != "sinusoid" && a.problem != "hpo-l2" && a.problem != "hyper-cleaning" && a.problem != "fewshot" &&
      a.problem != "time")
    usage("first argument must be sinusoid, hpo-l2, hyper-cleaning, fewshot or time, got " + a.problem);
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) usage("option " + k + " needs a value");
    const std::string v = argv[++i];
    if (k == "--out") a.out = v;
    else if (k == "--seed") a.seed = std::stoull(v);
    else if (k == "--tasks") a.tasks = std::stoll(v);
    else if (k == "--chains") a.chains = std::stoll(v);
    else if (k == "--samples") a.samples = std::stoll(v);
    else if (k == "--set") a.sets.push_back(v);
    else if (k == "--problem") a.sets.push_back("problem=" + v);
    else if (k == "--method") a.method = v;
    else if (k == "--threads") a.threads = std::stoll(v);
    else if (k == "--warmup") a.warmup = std::stoll(v);
    else if (k == "--steps") a.steps = std::stoll(v);
    else usage("unknown option " + k);
  }
  if (a.out.empty() && a.problem != "time") usage("--out DIR is required");
  return a;
}

std::map<std::string, std::string> parse_sets(const std::vector<std::string>& sets) {
  std::map<std::string, std::string> m;
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos) usage("--set expects key=value, got " + s);
    m[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return m;
}

class Writer {
 public:
  explicit Writer(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }
  void f32(const std::string& name, const Tensor& t) {
    std::vector<float> v(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = static_cast<float>(t[i]);
    f32(name, v, t.shape().to_vector());
  }
  void f32(const std::string& name, const std::vector<float>& v, const std::vector<int64_t>& shape) {
    std::ofstream f(dir_ / (name + ".f32"), std::ios::binary);
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
    files_[name] = {{"file", name + ".f32"}, {"dtype", "float32"}, {"shape", shape}};
  }
  void i64(const std::string& name, const std::vector<int64_t>& v) {
    std::ofstream f(dir_ / (name + ".i64"), std::ios::binary);
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(int64_t)));
    files_[name] = {{"file", name + ".i64"}, {"dtype", "int64"}, {"shape", {static_cast<int64_t>(v.size())}}};
  }
  void meta(nlohmann::json m) {
    m["arrays"] = files_;
    std::ofstream f(dir_ / "meta.json");
    f << m.dump(2) << '\n';
  }

 private:
  fs::path dir_;
  nlohmann::json files_ = nlohmann::json::object();
};

struct Made {
  std::unique_ptr<Problem> problem;
  Options popts;
};

Made make_problem(const std::string& name, std::map<std::string, std::string>& given, uint64_t instance_seed) {
  const ProblemInfo& pinfo = find_problem(name);
  Made m;
  m.popts = Options::resolve("problem " + name, pinfo.options, given);
  m.problem = pinfo.make(m.popts, instance_seed);
  return m;
}

std::unique_ptr<Estimator> make_method(const std::string& name, std::map<std::string, std::string> sets,
                                       const Made& m, nlohmann::json* opts_out = nullptr) {
  const MethodInfo& info = find_method(name);
  Options o = Options::resolve("method " + name, info.options, sets);
  if (opts_out) *opts_out = o.to_json();
  return make_estimator(info, o, *m.problem);
}

int run_sinusoid(const Args& a) {
  auto given = parse_sets(a.sets);
  Made m = make_problem("sinusoid", given, 0);
  if (!given.empty()) usage("unknown problem option " + given.begin()->first);
  Writer w(a.out);
  Rng init_rng(a.seed, {1});
  const Tensor lambda = m.problem->init_lambda(init_rng);
  w.f32("lambda", lambda);
  auto fo = make_method("fo", {}, m);
  auto exact = make_method("exact", {}, m);
  auto ufo = make_method("ufo", {{"q", "0.1"}}, m);
  nlohmann::json tasks = nlohmann::json::array();
  for (int64_t t = 0; t < a.tasks; ++t) {
    Rng task_rng(a.seed, {2, 0, static_cast<uint64_t>(t)});
    const Task task = m.problem->sample_task(task_rng);
    const std::string p = "task" + std::to_string(t) + "_";
    w.f32(p + "xs", task.x[0]);
    w.f32(p + "ys", task.y[0]);
    w.f32(p + "xq", task.x[1]);
    w.f32(p + "yq", task.y[1]);
    Rng r1(a.seed, {3, static_cast<uint64_t>(t)});
    const HypergradResult g_fo = fo->estimate(*m.problem, lambda, task, r1);
    Rng r2(a.seed, {3, static_cast<uint64_t>(t)});
    const HypergradResult g_ex = exact->estimate(*m.problem, lambda, task, r2);
    // ufo: one draw per task from its own stream; the coin is exported so PyTorch can apply the same one.
    Rng r3(a.seed, {5, static_cast<uint64_t>(t)});
    const HypergradResult g_ufo = ufo->estimate(*m.problem, lambda, task, r3);
    w.f32(p + "fo", g_fo.grad);
    w.f32(p + "exact", g_ex.grad);
    w.f32(p + "ufo", g_ufo.grad);
    double drawn = 0;
    for (const auto& [k, v] : g_ufo.extras)
      if (k == "exact_drawn") drawn = v;
    tasks.push_back({{"outer_loss", g_ex.outer_loss}, {"ufo_exact_drawn", drawn}});
  }
  w.meta({{"problem", "sinusoid"},
          {"seed", a.seed},
          {"inner_lr", m.problem->inner().lr},
          {"inner_steps", m.problem->inner().steps},
          {"ufo_q", 0.1},
          {"problem_options", m.popts.to_json()},
          {"layout", m.problem->describe()["layout"]},
          {"tasks", tasks}});
  return 0;
}

int run_fewshot(const Args& a) {
  auto given = parse_sets(a.sets);
  Made m = make_problem("fewshot", given, 0);
  if (!given.empty()) usage("unknown problem option " + given.begin()->first);
  Writer w(a.out);
  Rng init_rng(a.seed, {1});
  const Tensor lambda = m.problem->init_lambda(init_rng);
  w.f32("lambda", lambda);
  auto fo = make_method("fo", {}, m);
  auto exact = make_method("exact", {}, m);
  nlohmann::json tasks = nlohmann::json::array();
  for (int64_t t = 0; t < a.tasks; ++t) {
    Rng task_rng(a.seed, {2, 0, static_cast<uint64_t>(t)});
    const Task task = m.problem->sample_task(task_rng);
    const std::string p = "task" + std::to_string(t) + "_";
    w.f32(p + "xs", task.x[0]);
    w.i64(p + "ys", task.labels[0]);
    w.f32(p + "xq", task.x[1]);
    w.i64(p + "yq", task.labels[1]);
    Rng r1(a.seed, {3, static_cast<uint64_t>(t)});
    const HypergradResult g_fo = fo->estimate(*m.problem, lambda, task, r1);
    const HypergradResult g_ex = exact->estimate(*m.problem, lambda, task, r1);
    w.f32(p + "fo", g_fo.grad);
    w.f32(p + "exact", g_ex.grad);
    tasks.push_back({{"outer_loss", g_ex.outer_loss}});
  }
  w.meta({{"problem", "fewshot"},
          {"seed", a.seed},
          {"inner_lr", m.problem->inner().lr},
          {"inner_steps", m.problem->inner().steps},
          {"problem_options", m.popts.to_json()},
          {"layout", m.problem->lambda_layout()},
          {"tasks", tasks}});
  return 0;
}

int run_hpo(const Args& a) {
  auto given = parse_sets(a.sets);
  // Method options ride along in --set too; split them off before resolving the problem's.
  std::map<std::string, std::string> msets;
  for (const char* k : {"cg_iters", "cg_tol", "tau", "eta"}) {
    if (auto it = given.find(k); it != given.end()) msets[k] = it->second, given.erase(it);
  }
  Made m = make_problem("hpo-l2", given, 0);
  if (!given.empty()) usage("unknown option " + given.begin()->first);
  // The same subsets as the problem: make_splits with the instance seed's split stream (instance seed 0).
  Rng split_rng(0, {kHpoL2SplitStream});
  const classification::Splits data = classification::make_splits(
      "hpo-l2", m.popts.get_string("dataset"), m.popts.get_string("data_dir"), m.popts.get_bool("verify_checksums"), m.popts.get_int("n_train"),
      m.popts.get_int("n_val"), m.popts.get_int("n_test"), split_rng);
  Writer w(a.out);
  w.f32("train_x", data.train.x.value());
  w.i64("train_y", data.train.y);
  w.f32("val_x", data.val.x.value());
  w.i64("val_y", data.val.y);
  Rng init_rng(a.seed, {1});
  const Tensor lambda = m.problem->init_lambda(init_rng);
  Rng task_rng(a.seed, {2, 0, 0});
  const Task task = m.problem->sample_task(task_rng);
  Tensor theta0;
  {
    ad::NoGradGuard ng;
    theta0 = m.problem->theta0(ad::constant(lambda), task).value();
  }
  w.f32("lambda", lambda);
  w.f32("theta0", theta0);

  nlohmann::json res = nlohmann::json::object();
  auto record = [&](const std::string& key, const HypergradResult& r, nlohmann::json opts) {
    w.f32(key, r.grad);
    res[key] = {{"outer_loss", r.outer_loss}, {"grad_evals", r.grad_evals}, {"hvps", r.hvps}, {"options", opts}};
  };
  {
    nlohmann::json o;
    auto est = make_method("exact", {}, m, &o);
    Rng r(a.seed, {3});
    record("exact", est->estimate(*m.problem, lambda, task, r), o);
  }
  {
    nlohmann::json o;
    std::map<std::string, std::string> s;
    for (const char* k : {"cg_iters", "cg_tol"})
      if (msets.count(k)) s[k] = msets[k];
    auto est = make_method("ift-cg", s, m, &o);
    Rng r(a.seed, {3});
    record("ift_cg", est->estimate(*m.problem, lambda, task, r), o);
  }
  // sgld one-step; chain c draws its noise from rng.split(c).split(0) (lib/hypergrad/sgld_chain.cpp), P normals per
  // step in order (lib/optim/sgld.cpp); they are exported as (C, T, P) standard normals.
  std::map<std::string, std::string> s = {{"variant", "one-step"},
                                          {"chains", std::to_string(a.chains)},
                                          {"burn_in", "0"},
                                          {"samples", std::to_string(a.samples)}};
  for (const char* k : {"tau", "eta"})
    if (msets.count(k)) s[k] = msets[k];
  nlohmann::json o;
  auto est = make_method("sgld", s, m, &o);
  Rng r(a.seed, {6});
  record("sgld", est->estimate(*m.problem, lambda, task, r), o);
  const int64_t P = m.problem->theta_dim(), T = a.samples;
  std::vector<float> noise(static_cast<size_t>(a.chains * T * P));
  size_t idx = 0;
  for (int64_t c = 0; c < a.chains; ++c) {
    Rng nz = r.split(static_cast<uint64_t>(c)).split(0);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < P; ++i) noise[idx++] = static_cast<float>(static_cast<real>(nz.normal()));
  }
  w.f32("sgld_noise", noise, {a.chains, T, P});
  const double data_n = static_cast<double>(m.problem->inner_examples());
  w.meta({{"problem", "hpo-l2"},
          {"seed", a.seed},
          {"inner_lr", m.problem->inner().lr},
          {"inner_steps", m.problem->inner().steps},
          {"problem_options", m.popts.to_json()},
          {"layout", m.problem->describe()["layout"]},
          {"sgld_data_n", data_n},
          {"results", res}});
  return 0;
}

int run_hyper_cleaning(const Args& a) {
  auto given = parse_sets(a.sets);
  Made m = make_problem("hyper-cleaning", given, 0);
  if (!given.empty()) usage("unknown option " + given.begin()->first);
  // The same subsets and corruption as the problem (instance seed 0; lib/problems/hyper_cleaning.cpp).
  Rng split_rng(0, {kCleaningSplitStream});
  classification::Splits data = classification::make_splits(
      "hyper-cleaning", m.popts.get_string("dataset"), m.popts.get_string("data_dir"),
      m.popts.get_bool("verify_checksums"), m.popts.get_int("n_train"), m.popts.get_int("n_val"),
      m.popts.get_int("n_test"), split_rng);
  const int64_t n = data.train.n();
  Rng noise_rng(0, {kCleaningNoiseStream});
  const std::vector<int64_t> perm = noise_rng.permutation(n);
  const auto n_bad = static_cast<int64_t>(std::llround(m.popts.get_real("corruption") * static_cast<double>(n)));
  for (int64_t k = 0; k < n_bad; ++k) {
    const auto i = static_cast<size_t>(perm[static_cast<size_t>(k)]);
    data.train.y[i] = (data.train.y[i] + 1 + noise_rng.randint(data.classes - 1)) % data.classes;
  }
  Writer w(a.out);
  w.f32("train_x", data.train.x.value());
  w.i64("train_y", data.train.y);
  w.f32("val_x", data.val.x.value());
  w.i64("val_y", data.val.y);
  Rng init_rng(a.seed, {1});
  Tensor lambda = m.problem->init_lambda(init_rng);
  // A λ with spread (the initial one is constant): weights σ(λᵢ) between 0.12 and 0.88.
  Rng spread(a.seed, {8});
  for (int64_t i = 0; i < lambda.numel(); ++i) lambda[i] += static_cast<real>(2 * spread.uniform() - 1);
  Rng task_rng(a.seed, {2, 0, 0});
  const Task task = m.problem->sample_task(task_rng);
  Tensor theta0;
  {
    ad::NoGradGuard ng;
    theta0 = m.problem->theta0(ad::constant(lambda), task).value();
  }
  w.f32("lambda", lambda);
  w.f32("theta0", theta0);
  nlohmann::json o;
  auto est = make_method("exact", {}, m, &o);
  Rng r(a.seed, {3});
  const HypergradResult g = est->estimate(*m.problem, lambda, task, r);
  w.f32("exact", g.grad);
  w.meta({{"problem", "hyper-cleaning"},
          {"seed", a.seed},
          {"inner_lr", m.problem->inner().lr},
          {"inner_steps", m.problem->inner().steps},
          {"problem_options", m.popts.to_json()},
          {"results", {{"exact", {{"outer_loss", g.outer_loss}, {"grad_evals", g.grad_evals}, {"hvps", g.hvps},
                                  {"options", o}}}}}});
  return 0;
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

int run_time(const Args& a) {
  auto given = parse_sets(a.sets);
  if (!given.count("problem") || a.method.empty()) usage("time needs --problem P and --method M");
  const std::string pname = given["problem"];
  given.erase("problem");
  const ProblemInfo& pinfo = find_problem(pname);
  std::map<std::string, std::string> run_defaults(pinfo.run_defaults.begin(), pinfo.run_defaults.end());
  int64_t meta_batch = run_defaults.count("meta_batch") ? std::stoll(run_defaults["meta_batch"]) : 1;
  double outer_lr = run_defaults.count("outer_lr") ? std::stod(run_defaults["outer_lr"]) : 0.001;
  if (auto it = given.find("meta_batch"); it != given.end()) meta_batch = std::stoll(it->second), given.erase(it);
  if (auto it = given.find("outer_lr"); it != given.end()) outer_lr = std::stod(it->second), given.erase(it);
  Made m;
  m.popts = Options::resolve("problem " + pname, pinfo.options, given);
  m.problem = pinfo.make(m.popts, 0);
  const MethodInfo& minfo = find_method(a.method);
  const Options mopts = Options::resolve("method " + a.method, minfo.options, given);
  if (!given.empty()) usage("unknown option " + given.begin()->first);
  auto est = make_estimator(minfo, mopts, *m.problem);

  tbb::global_control ctl(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(a.threads));
  Rng init_rng(a.seed, {1});
  Tensor lambda = m.problem->init_lambda(init_rng);
  const int64_t H = m.problem->lambda_dim();
  std::vector<double> m1(static_cast<size_t>(H), 0.0), m2(static_cast<size_t>(H), 0.0);
  std::vector<HypergradResult> results(static_cast<size_t>(meta_batch));
  std::vector<double> wall, cpu, busy, gemm_flops, gemm_bytes;
  std::vector<double> task_time(static_cast<size_t>(meta_batch));  // wall seconds of each task's estimate
  std::vector<double> sample_wall;  // per timed step: drawing its tasks, before the clock
  std::vector<Task> tasks(static_cast<size_t>(meta_batch));
  std::vector<Rng> rngs;
  double loss = 0;
  for (int64_t step = 0; step < a.warmup + a.steps; ++step) {
    // The step's tasks are drawn before its clock starts, as torch_ref.py prepares its tasks before timing a step:
    // both sides time the hypergradients and the outer update on given tasks. Drawing is measured on its own
    // (`step_sample_seconds`; few-shot hanzi draws 10 glyph images per task). Each task's stream goes on into
    // its estimate, as in `train`.
    const auto s0 = std::chrono::steady_clock::now();
    rngs.clear();
    for (int64_t i = 0; i < meta_batch; ++i) {
      rngs.emplace_back(a.seed, std::initializer_list<uint64_t>{7, static_cast<uint64_t>(step), static_cast<uint64_t>(i)});
      tasks[static_cast<size_t>(i)] = m.problem->sample_task(rngs.back());
    }
    const double sampled = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    const auto w0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    GemmCounter::reset();
    est->begin_step(step);
    tbb::parallel_for(
        tbb::blocked_range<int64_t>(0, meta_batch, 1),
        [&](const tbb::blocked_range<int64_t>& range) {
          for (int64_t i = range.begin(); i != range.end(); ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            results[static_cast<size_t>(i)] =
                est->estimate(*m.problem, lambda, tasks[static_cast<size_t>(i)], rngs[static_cast<size_t>(i)]);
            task_time[static_cast<size_t>(i)] =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          }
        },
        tbb::simple_partitioner());
    loss = 0;
    for (const auto& r : results) loss += r.outer_loss;
    est->end_step(results);
    // The summed hypergradient, then Adam (β = 0.9, 0.999, ε = 1e-8), as the run's default outer optimizer:
    // element by element, in blocks on the threads as lib/run and lib/optim do (the same bits for any count).
    const double t = static_cast<double>(step + 1);
    const double c1 = 1 - std::pow(0.9, t), c2 = 1 - std::pow(0.999, t);  // once per step, as lib/optim's Adam
    parallel_elements(H, [&](int64_t begin, int64_t end) {
      for (int64_t h = begin; h < end; ++h) {
        real gs = 0;
        for (const auto& r : results) gs += r.grad[h];
        const double gh = static_cast<double>(gs) / static_cast<double>(meta_batch);
        double& a1 = m1[static_cast<size_t>(h)];
        double& a2 = m2[static_cast<size_t>(h)];
        a1 = 0.9 * a1 + 0.1 * gh;
        a2 = 0.999 * a2 + 0.001 * gh * gh;
        lambda[h] -= static_cast<real>(outer_lr * (a1 / c1) / (std::sqrt(a2 / c2) + 1e-8));
      }
    });
    const double cpu1 = cpu_seconds();
    const double w1 = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    if (step >= a.warmup) {
      wall.push_back(w1), cpu.push_back(cpu1 - c0), sample_wall.push_back(sampled);
      double sum = 0;
      for (double seconds : task_time) sum += seconds;
      busy.push_back(sum);
      gemm_flops.push_back(static_cast<double>(GemmCounter::flops()));
      gemm_bytes.push_back(static_cast<double>(GemmCounter::bytes()));
    }
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  nlohmann::json j = {{"impl", "bilevel-opt"},
                      {"problem", pname},
                      {"method", a.method},
                      {"threads", a.threads},
                      {"meta_batch", meta_batch},
                      {"problem_options", m.popts.to_json()},
                      {"method_options", mopts.to_json()},
                      {"step_seconds", wall},
                      {"step_cpu_seconds", cpu},
                      {"step_task_seconds", busy},
                      {"step_sample_seconds", sample_wall},
                      // The products of the step (this thread's: all of them at --threads 1).
                      {"step_gemm_flops", gemm_flops},
                      {"step_gemm_bytes", gemm_bytes},
                      {"last_outer_loss", loss / static_cast<double>(meta_batch)},
                      {"peak_rss_bytes", static_cast<int64_t>(ru.ru_maxrss) * 1024}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    blas_set_single_threaded();
    if (a.problem == "time") return run_time(a);
    if (a.problem == "fewshot") return run_fewshot(a);
    if (a.problem == "hyper-cleaning") return run_hyper_cleaning(a);
    return a.problem == "sinusoid" ? run_sinusoid(a) : run_hpo(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_vs_torch: %s\n", e.what());
    return 1;
  }
}

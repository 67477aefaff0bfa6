// Thread scaling of the sgld estimator: C chains of one estimate run in parallel with oneTBB.
//
// Runs the same estimate (same streams) with 1 thread and with N threads, checks that the results are
// bit-identical, and reports the wall time of each (median of --repeats), the cost of one SGLD step and the
// speed-up. The problem is gaussian-sgld with a random instance of size --dim, whose step (a P×P
// matrix-vector product forward and backward, plus the variant's second-order product) is made to cost
// ≥ 0.1 ms.
//
// Usage: bench_sgld_threads [--dim P] [--chains C] [--steps T] [--variant V] [--threads N] [--repeats R]
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "hypergrad/sgld.hpp"
#include "problems/problems.hpp"

using namespace bilevel;

namespace {

struct Args {
  int64_t dim = 256, chains = 8, steps = 400, threads = 2, repeats = 5;
  std::string variant = "one-step";
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "option %s needs a value\n", k.c_str());
      std::exit(2);
    }
    const char* v = argv[++i];
    if (k == "--dim") a.dim = std::atoll(v);
    else if (k == "--chains") a.chains = std::atoll(v);
    else if (k == "--steps") a.steps = std::atoll(v);
    else if (k == "--threads") a.threads = std::atoll(v);
    else if (k == "--repeats") a.repeats = std::atoll(v);
    else if (k == "--variant") a.variant = v;
    else {
      std::fprintf(stderr, "unknown option %s (use --dim, --chains, --steps, --variant, --threads, --repeats)\n",
                   k.c_str());
      std::exit(2);
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  blas_set_single_threaded();
  const Args a = parse(argc, argv);
  std::map<std::string, std::string> psets = {{"instance", "random"}, {"dim", std::to_string(a.dim)}};
  const ProblemInfo& pinfo = find_problem("gaussian-sgld");
  const Options popts = Options::resolve("gaussian-sgld", pinfo.options, psets);
  auto problem = pinfo.make(popts, 0);
  std::map<std::string, std::string> msets = {{"variant", a.variant},
                                              {"chains", std::to_string(a.chains)},
                                              {"burn_in", "0"},
                                              {"samples", std::to_string(a.steps)},
                                              {"eta", "0.1"}};
  const MethodInfo& minfo = find_method("sgld");
  auto est = minfo.make(Options::resolve("sgld", minfo.options, msets), *problem, popts);
  Rng r0(1);
  const Tensor lambda = problem->init_lambda(r0);
  const Task task = problem->sample_task(r0);

  auto timed = [&](int64_t threads, HypergradResult& out) {
    tbb::global_control ctl(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
    std::vector<double> secs;
    for (int64_t r = 0; r < a.repeats; ++r) {
      Rng rng(42, {2, 0, 0});
      const auto t0 = std::chrono::steady_clock::now();
      out = est->estimate(*problem, lambda, task, rng);
      secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(secs.begin(), secs.end());
    return secs[secs.size() / 2];
  };
  HypergradResult r1, rn;
  const double t1 = timed(1, r1);
  const double tn = timed(a.threads, rn);
  const bool identical = r1.grad.numel() == rn.grad.numel() &&
                         std::memcmp(r1.grad.data(), rn.grad.data(), sizeof(real) * static_cast<size_t>(r1.grad.numel())) == 0 &&
                         r1.outer_loss == rn.outer_loss;
  const double step_ms = 1e3 * t1 / static_cast<double>(a.chains * a.steps);
  std::printf("sgld thread scaling: gaussian-sgld random dim=%lld, variant=%s, %lld chains x %lld steps, %s\n",
              static_cast<long long>(a.dim), a.variant.c_str(), static_cast<long long>(a.chains),
              static_cast<long long>(a.steps), real_name);
  std::printf("  one SGLD step (with the variant's products): %.3f ms\n", step_ms);
  std::printf("  1 thread : %.3f s (median of %lld)\n", t1, static_cast<long long>(a.repeats));
  std::printf("  %lld threads: %.3f s\n", static_cast<long long>(a.threads), tn);
  std::printf("  speed-up: %.2fx\n", t1 / tn);
  std::printf("  results identical: %s (hypergradient %.17g)\n", identical ? "yes" : "NO", static_cast<double>(r1.grad[0]));
  return identical ? 0 : 1;
}

// Thread scaling of the sgld estimator: C chains of one estimate run in parallel with oneTBB.
//
// Runs the same estimate (same streams) with 1 thread and with N threads, alternating, checks that the
// results are bit-identical, and reports the wall time of each (median and minimum of --repeats), the cost of
// one SGLD step, the speed-up and the load average before and after. The problem is gaussian-sgld with a random instance of size --dim, whose step (a P×P
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

#include "hypergrad/estimator.hpp"
#include "optim/sgld.hpp"

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

// The first three fields of /proc/loadavg ("?" where it cannot be read).
std::string loadavg() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "?";
  double l1 = 0, l5 = 0, l15 = 0;
  const int n = std::fscanf(f, "%lf %lf %lf", &l1, &l5, &l15);
  std::fclose(f);
  if (n != 3) return "?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f, %.2f, %.2f", l1, l5, l15);
  return buf;
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
  auto est = make_estimator(minfo, Options::resolve("sgld", minfo.options, msets), *problem);
  Rng r0(1);
  const Tensor lambda = problem->init_lambda(r0);
  const Task task = problem->sample_task(r0);

  // One timed estimate with `threads` threads (same streams every time).
  auto timed = [&](int64_t threads, HypergradResult& out) {
    tbb::global_control ctl(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
    Rng rng(42, {2, 0, 0});
    const auto t0 = std::chrono::steady_clock::now();
    out = est->estimate(*problem, lambda, task, rng);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  // 1 thread and N threads alternate, so that a change of the machine's load during the benchmark hits both
  // alike; the median and the minimum of each are reported (on a shared machine the minimum is the closer
  // estimate of the uncontended time).
  const std::string load_before = loadavg();
  HypergradResult r1, rn;
  std::vector<double> s1, sn;
  for (int64_t r = 0; r < a.repeats; ++r) {
    s1.push_back(timed(1, r1));
    sn.push_back(timed(a.threads, rn));
  }
  const std::string load_after = loadavg();
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double t1 = median(s1), tn = median(sn);
  const double b1 = *std::min_element(s1.begin(), s1.end()), bn = *std::min_element(sn.begin(), sn.end());
  const bool identical = r1.grad.numel() == rn.grad.numel() &&
                         std::memcmp(r1.grad.data(), rn.grad.data(), sizeof(real) * static_cast<size_t>(r1.grad.numel())) == 0 &&
                         r1.outer_loss == rn.outer_loss;
  const double step_ms = 1e3 * b1 / static_cast<double>(a.chains * a.steps);
  std::printf("sgld thread scaling: gaussian-sgld random dim=%lld, variant=%s, %lld chains x %lld steps, %s\n",
              static_cast<long long>(a.dim), a.variant.c_str(), static_cast<long long>(a.chains),
              static_cast<long long>(a.steps), real_name);
  std::printf("  load average (1, 5, 15 min) before: %s, after: %s\n", load_before.c_str(), load_after.c_str());
  std::printf("  one SGLD step (with the variant's products, fastest 1-thread run): %.3f ms\n", step_ms);
  std::printf("  1 thread : median %.3f s, min %.3f s (%lld runs)\n", t1, b1, static_cast<long long>(a.repeats));
  std::printf("  %lld threads: median %.3f s, min %.3f s\n", static_cast<long long>(a.threads), tn, bn);
  std::printf("  speed-up: %.2fx (medians), %.2fx (minima)\n", t1 / tn, b1 / bn);
  std::printf("  results identical: %s (hypergradient %.17g)\n", identical ? "yes" : "NO", static_cast<double>(r1.grad[0]));
  return identical ? 0 : 1;
}

// Autodiff micro-benchmarks (a benchmark, not a test: it never fails, it measures).
//
//   (a) matmul forward + backward through the autodiff against raw cblas_sgemm doing the same work.
//       C = A·B, then with G = ∂L/∂C given (grad_outputs, so no reduction op adds cost):
//         ∂L/∂A = G·Bᵀ   ∂L/∂B = Aᵀ·G
//       i.e. 3 GEMMs of n×n×n, 3·2n³ flops. The raw baseline calls cblas_sgemm three times with
//       exactly those transpose flags into preallocated buffers; the autodiff builds the graph,
//       allocates its three result tensors and runs the reverse sweep.
//       Two further rows help attribute the gap: bilevel::gemm three times (the tensor library's
//       allocating gemm, no graph) and grad(sum(y)) instead of grad_outputs.
//   (b) fixed per-node cost on 1-element tensors, where the arithmetic is nothing:
//       one add forward + backward (y = add(x1, x2); grad(y, {x1, x2})), a forward-only add, and
//       a chain of L adds y ← add(y, c) followed by one grad (the shape unrolled inner loops
//       produce), reported per add. Graph destruction is inside the timed region in every case:
//       it is part of what each step of an unrolled loop pays.
//
// Each measurement: warm-up, then `reps` samples of `iters` iterations each (iters calibrated so
// a sample takes about --sample-ms); the median sample is reported, with min and max. Samples are
// timed in CPU time of the benchmarking thread, which a busy neighbour does not inflate the way it
// inflates wall-clock time; the wall-clock median is printed beside it (equal on a quiet machine).
// OpenBLAS runs single-threaded (bilevel::blas_set_single_threaded), as inside the tool.
//
// Output: readable lines, plus one machine-readable line per number,
//   RESULT <key> <value>
// which run_autodiff_bench.sh turns into the table of targets.
//
// Usage: bench_autodiff [--reps N] [--warmup N] [--sample-ms MS] [--chain L] [--quick]
//                       [--only-tiny | --only-matmul] [--keep-single-threaded]
//        bench_autodiff --profile add|forward|chain|chain-leaf [--iters N] [--chain L]
//          (one body in a loop, untimed apart from a total: for perf record and callgrind)
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/var.hpp"
#include "run/build_info.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace {

using bilevel::real;
using bilevel::Shape;
using bilevel::Tensor;
namespace ad = bilevel::ad;

struct bench_params {
  int reps = 15;             // timed samples per measurement (median reported)
  int warmup = 3;            // untimed samples before them
  double sample_ms = 60.0;   // target length of one sample, sets iterations per sample
  int64_t chain_length = 10000;
  std::vector<int64_t> matmul_sizes{256, 1024};
};

struct sample_stats {
  double median = 0, min = 0, max = 0;  // thread CPU seconds per iteration, over samples
  double wall_median = 0;               // wall-clock seconds per iteration, median over samples
  int64_t iters = 0;                    // iterations per sample
};

// Keeps results observable so no work is optimised away.
volatile double g_sink = 0;

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// CPU time of the calling thread (user + system, so page faults count; time spent descheduled
// while a neighbour's build runs does not). OpenBLAS runs single-threaded in this thread.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// One timed variant: body() is one iteration.
struct variant {
  std::string name;
  std::function<void()> body;
  sample_stats stats;
};

// Times a group of variants that are compared with each other. Each is first run for about one
// sample untimed (cold caches, OpenBLAS buffers, malloc growing its heap) and its iterations per
// sample calibrated from the mean of those runs; then warm-up and timed rounds run the variants round-robin,
// so slow drift (frequency, a neighbour process) hits all of them alike. Median over rounds.
void time_round_robin(const bench_params& p, std::vector<variant>& vs) {
  for (auto& v : vs) {
    v.body();  // cold run, not counted
    const double t_start = now_seconds();
    int64_t runs = 0;
    double elapsed = 0;
    do {
      v.body();
      ++runs;
      elapsed = now_seconds() - t_start;
    } while (runs < 2 || elapsed < p.sample_ms * 1e-3);
    const double per_run = std::max(elapsed / static_cast<double>(runs), 1e-9);
    v.stats.iters = std::max<int64_t>(1, static_cast<int64_t>(p.sample_ms * 1e-3 / per_run));
  }
  std::vector<std::vector<double>> cpu(vs.size()), wall(vs.size());
  for (int r = 0; r < p.warmup + p.reps; ++r) {
    for (size_t k = 0; k < vs.size(); ++k) {
      const double c0 = thread_cpu_seconds(), t0 = now_seconds();
      for (int64_t i = 0; i < vs[k].stats.iters; ++i) vs[k].body();
      const double n = static_cast<double>(vs[k].stats.iters);
      const double dt = (now_seconds() - t0) / n, dc = (thread_cpu_seconds() - c0) / n;
      if (r >= p.warmup) {
        cpu[k].push_back(dc);
        wall[k].push_back(dt);
      }
    }
  }
  for (size_t k = 0; k < vs.size(); ++k) {
    std::sort(cpu[k].begin(), cpu[k].end());
    std::sort(wall[k].begin(), wall[k].end());
    vs[k].stats.median = cpu[k][cpu[k].size() / 2];
    vs[k].stats.min = cpu[k].front();
    vs[k].stats.max = cpu[k].back();
    vs[k].stats.wall_median = wall[k][wall[k].size() / 2];
  }
}

void print_result(const std::string& key, double value) { std::printf("RESULT %s %.6g\n", key.c_str(), value); }

// ---- (a) matmul forward + backward -----------------------------------------------------------------

// C = op(A)·op(B), all n×n row-major: sgemm in the float build (the one this benchmark is for),
// dgemm in the double build so that build still compiles and runs it.
void gemm_row_major(bool ta, bool tb, int n, const real* a, const real* b, real* c) {
  const auto opa = ta ? CblasTrans : CblasNoTrans;
  const auto opb = tb ? CblasTrans : CblasNoTrans;
#ifdef BILEVEL_DOUBLE
  cblas_dgemm(CblasRowMajor, opa, opb, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
#else
  cblas_sgemm(CblasRowMajor, opa, opb, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
#endif
}

void bench_matmul(const bench_params& p, int64_t n) {
  bilevel::Rng rng(42, {static_cast<uint64_t>(n)});
  const Tensor A = rng.normal_tensor(Shape{n, n});
  const Tensor B = rng.normal_tensor(Shape{n, n});
  const Tensor G = rng.normal_tensor(Shape{n, n});
  const double flops = 3.0 * 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  const int ni = static_cast<int>(n);
  Tensor C(Shape{n, n}), dA(Shape{n, n}), dB(Shape{n, n});
  const ad::Var a = ad::leaf(A), b = ad::leaf(B), g = ad::constant(G);

  std::vector<variant> vs;
  // Raw: the same three GEMMs into preallocated outputs.
  vs.push_back({"raw cblas gemm x3 (preallocated)", [&] {
                  gemm_row_major(false, false, ni, A.data(), B.data(), C.data());  // C  = A·B
                  gemm_row_major(false, true, ni, G.data(), B.data(), dA.data());  // dA = G·Bᵀ
                  gemm_row_major(true, false, ni, A.data(), G.data(), dB.data());  // dB = Aᵀ·G
                  g_sink = g_sink + C[0] + dA[0] + dB[0];
                }, {}});
  // Tensor library: three allocating, zero-filling gemm calls, no graph.
  vs.push_back({"bilevel::gemm x3 (allocating)", [&] {
                  Tensor c = bilevel::gemm(A, B, false, false);
                  Tensor da = bilevel::gemm(G, B, false, true);
                  Tensor db = bilevel::gemm(A, G, true, false);
                  g_sink = g_sink + c[0] + da[0] + db[0];
                }, {}});
  // Autodiff with grad_outputs: a graph of one matmul node; its backward is two more matmuls.
  vs.push_back({"autodiff matmul + grad_outputs", [&] {
                  ad::Var y = ad::matmul(a, b);
                  std::vector<ad::Var> gr = ad::grad({y}, {g}, {a, b});
                  g_sink = g_sink + y.value()[0] + gr[0].value()[0] + gr[1].value()[0];
                }, {}});
  // Autodiff through sum(y): adds the reduction and the broadcast of its gradient (n² each).
  vs.push_back({"autodiff matmul + grad(sum(y))", [&] {
                  ad::Var y = ad::matmul(a, b);
                  std::vector<ad::Var> gr = ad::grad(ad::sum(y), {a, b});
                  g_sink = g_sink + gr[0].value()[0] + gr[1].value()[0];
                }, {}});
  time_round_robin(p, vs);

  // What was timed computes the right thing: autodiff dA equals G·Bᵀ.
  {
    ad::Var y = ad::matmul(a, b);
    std::vector<ad::Var> gr = ad::grad({y}, {g}, {a, b});
    gemm_row_major(false, true, ni, G.data(), B.data(), dA.data());
    const double err = bilevel::max_abs_diff(gr[0].value(), dA);
    if (err > 1e-3) std::printf("WARNING matmul %ld: autodiff dA differs from raw by %g\n", static_cast<long>(n), err);
  }

  std::printf("matmul forward+backward, n = %ld (3 GEMMs, %.3g GFLOP per iteration)\n", static_cast<long>(n),
              flops * 1e-9);
  for (const auto& v : vs) {
    const sample_stats& s = v.stats;
    std::printf("  %-34s %9.3f ms  (min %.3f, max %.3f; wall %.3f; %ld iters/sample)  %6.1f GFLOP/s\n",
                v.name.c_str(), s.median * 1e3, s.min * 1e3, s.max * 1e3, s.wall_median * 1e3,
                static_cast<long>(s.iters), flops / s.median * 1e-9);
  }
  const double raw = vs[0].stats.median, tensor_gemm = vs[1].stats.median;
  const double autodiff = vs[2].stats.median, autodiff_sum = vs[3].stats.median;
  std::printf("  autodiff / raw throughput: %.1f%%  (through sum: %.1f%%; bilevel::gemm: %.1f%%)\n\n",
              100.0 * raw / autodiff, 100.0 * raw / autodiff_sum, 100.0 * raw / tensor_gemm);
  const std::string tag = "matmul" + std::to_string(n);
  print_result(tag + "_raw_gflops", flops / raw * 1e-9);
  print_result(tag + "_tensor_gemm_gflops", flops / tensor_gemm * 1e-9);
  print_result(tag + "_autodiff_gflops", flops / autodiff * 1e-9);
  print_result(tag + "_autodiff_sum_gflops", flops / autodiff_sum * 1e-9);
  print_result(tag + "_ratio", raw / autodiff);
  print_result(tag + "_ratio_wall", vs[0].stats.wall_median / vs[2].stats.wall_median);
}

// ---- (b) per-node overhead on 1-element tensors --------------------------------------------------

void bench_tiny_ops(const bench_params& p) {
  const ad::Var x1 = ad::leaf(Tensor::scalar(real(1.5)));
  const ad::Var x2 = ad::leaf(Tensor::scalar(real(-0.5)));
  const ad::Var one = ad::constant(Tensor::scalar(real(1)));
  // Chains: y ← add(y, c), L times, then one grad. With c a constant the sweep is a pure chain;
  // with c a leaf every step also adds into c's gradient (an unrolled loop's shared λ).
  const int64_t L = p.chain_length;
  const double Ld = static_cast<double>(L);
  const ad::Var x = ad::leaf(Tensor::scalar(real(0.25)));
  const ad::Var c_const = ad::constant(Tensor::scalar(real(1e-4)));
  const ad::Var c_leaf = ad::leaf(Tensor::scalar(real(1e-4)));
  double chain_grad_x = 0, chain_grad_c = 0;

  std::vector<variant> vs;
  vs.push_back({"add forward only", [&] {
                  ad::Var y = ad::add(x1, x2);
                  g_sink = g_sink + y.value()[0];
                }, {}});
  vs.push_back({"add forward + grad(y, {x1, x2})", [&] {
                  ad::Var y = ad::add(x1, x2);
                  std::vector<ad::Var> gr = ad::grad(y, {x1, x2});
                  g_sink = g_sink + gr[0].value()[0] + gr[1].value()[0];
                }, {}});
  vs.push_back({"add forward + grad({y}, {one}, {x1, x2})", [&] {
                  ad::Var y = ad::add(x1, x2);
                  std::vector<ad::Var> gr = ad::grad({y}, {one}, {x1, x2});
                  g_sink = g_sink + gr[0].value()[0] + gr[1].value()[0];
                }, {}});
  vs.push_back({"chain of " + std::to_string(L) + " adds, constant side", [&] {
                  ad::Var y = x;
                  for (int64_t i = 0; i < L; ++i) y = ad::add(y, c_const);
                  std::vector<ad::Var> gr = ad::grad(y, {x});
                  chain_grad_x = gr[0].value()[0];
                  g_sink = g_sink + chain_grad_x;
                }, {}});
  vs.push_back({"chain of " + std::to_string(L) + " adds, leaf side", [&] {
                  ad::Var y = x;
                  for (int64_t i = 0; i < L; ++i) y = ad::add(y, c_leaf);
                  std::vector<ad::Var> gr = ad::grad(y, {x, c_leaf});
                  chain_grad_c = gr[1].value()[0];
                  g_sink = g_sink + gr[0].value()[0] + chain_grad_c;
                }, {}});
  time_round_robin(p, vs);
  if (chain_grad_x != 1.0 || chain_grad_c != Ld) {
    std::printf("WARNING chain gradients %g and %g, expected 1 and %ld\n", chain_grad_x, chain_grad_c,
                static_cast<long>(L));
  }
  const int64_t nodes_before = ad::nodes_created();
  vs[1].body();
  const int64_t nodes_per_add = ad::nodes_created() - nodes_before;

  std::printf("per-op overhead, 1-element tensors (chains: time per add)\n");
  for (size_t k = 0; k < vs.size(); ++k) {
    const double per = k >= 3 ? Ld : 1.0;  // chains report per add
    const sample_stats& s = vs[k].stats;
    std::printf("  %-44s %7.3f us  (min %.3f, max %.3f; wall %.3f; %ld iters/sample)\n", vs[k].name.c_str(),
                s.median / per * 1e6, s.min / per * 1e6, s.max / per * 1e6, s.wall_median / per * 1e6,
                static_cast<long>(s.iters));
  }
  std::printf("  graph nodes created per add forward + grad: %ld\n\n", static_cast<long>(nodes_per_add));
  print_result("add_forward_us", vs[0].stats.median * 1e6);
  print_result("add_fwd_bwd_us", vs[1].stats.median * 1e6);
  print_result("add_fwd_bwd_us_wall", vs[1].stats.wall_median * 1e6);
  print_result("add_fwd_bwd_seeded_us", vs[2].stats.median * 1e6);
  print_result("chain_const_per_op_us", vs[3].stats.median / Ld * 1e6);
  print_result("chain_leaf_per_op_us", vs[4].stats.median / Ld * 1e6);
  print_result("add_fwd_bwd_nodes", static_cast<double>(nodes_per_add));
}

// Profiling mode: one body in a loop, nothing else, for perf record or valgrind --tool=callgrind.
//   add: y = add(x1, x2); grad(y, {x1, x2})     forward: y = add(x1, x2)
//   chain: L chained adds + grad, constant side   chain-leaf: the same with a leaf side
int run_profile_loop(const std::string& what, int64_t iters, int64_t L) {
  const ad::Var x1 = ad::leaf(Tensor::scalar(real(1.5)));
  const ad::Var x2 = ad::leaf(Tensor::scalar(real(-0.5)));
  const ad::Var side = what == "chain-leaf" ? ad::leaf(Tensor::scalar(real(1e-4)))
                                             : ad::constant(Tensor::scalar(real(1e-4)));
  std::function<void()> body;
  if (what == "add") {
    body = [&] {
      ad::Var y = ad::add(x1, x2);
      std::vector<ad::Var> gr = ad::grad(y, {x1, x2});
      g_sink = g_sink + gr[0].value()[0];
    };
  } else if (what == "forward") {
    body = [&] {
      ad::Var y = ad::add(x1, x2);
      g_sink = g_sink + y.value()[0];
    };
  } else if (what == "chain" || what == "chain-leaf") {
    body = [&] {
      ad::Var y = x1;
      for (int64_t i = 0; i < L; ++i) y = ad::add(y, side);
      std::vector<ad::Var> gr = ad::grad(y, {x1, side});
      g_sink = g_sink + gr[0].value()[0];
    };
  } else {
    std::fprintf(stderr, "bench_autodiff: --profile expects add, forward, chain or chain-leaf, got '%s'\n",
                 what.c_str());
    return 2;
  }
  const double t0 = now_seconds();
  for (int64_t i = 0; i < iters; ++i) body();
  const double per = (now_seconds() - t0) / static_cast<double>(iters);
  const double ops = what.rfind("chain", 0) == 0 ? static_cast<double>(L) : 1.0;
  std::printf("profile %s: %ld iterations, %.3f us per op\n", what.c_str(), static_cast<long>(iters),
              per / ops * 1e6);
  return 0;
}

int64_t parse_int(const char* flag, const char* s) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (!end || *end != '\0' || v <= 0) {
    std::fprintf(stderr, "bench_autodiff: %s expects a positive integer, got '%s'\n", flag, s);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  bench_params p;
  bool only_tiny = false, only_matmul = false;
  std::string profile;
  int64_t profile_iters = 1000000;
  bool keep_single_threaded = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_autodiff: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--reps") {
      p.reps = static_cast<int>(parse_int("--reps", value()));
    } else if (arg == "--warmup") {
      p.warmup = static_cast<int>(parse_int("--warmup", value()));
    } else if (arg == "--sample-ms") {
      p.sample_ms = static_cast<double>(parse_int("--sample-ms", value()));
    } else if (arg == "--chain") {
      p.chain_length = parse_int("--chain", value());
    } else if (arg == "--quick") {
      p.reps = 5;
      p.warmup = 1;
      p.sample_ms = 20.0;
    } else if (arg == "--profile") {
      profile = value();
    } else if (arg == "--iters") {
      profile_iters = parse_int("--iters", value());
    } else if (arg == "--keep-single-threaded") {
      keep_single_threaded = true;
    } else if (arg == "--only-tiny") {
      only_tiny = true;
    } else if (arg == "--only-matmul") {
      only_matmul = true;
    } else {
      std::fprintf(stderr,
                   "usage: bench_autodiff [--reps N] [--warmup N] [--sample-ms MS] [--chain L] [--quick] "
                   "[--only-tiny | --only-matmul] [--keep-single-threaded]\n"
                   "       bench_autodiff --profile add|forward|chain|chain-leaf [--iters N] [--chain L]\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  // The tool always runs with oneTBB's threads alive, and once a process has started a thread
  // glibc and libstdc++ switch for good to atomic shared_ptr counts and locked malloc. Start one
  // here so the numbers do not depend on whether OpenBLAS happened to spawn its pool
  // (OPENBLAS_NUM_THREADS=1 stops it). --keep-single-threaded skips this, to measure that cost.
  if (!keep_single_threaded) std::thread([] {}).join();
  bilevel::blas_set_single_threaded();
  if (!profile.empty()) return run_profile_loop(profile, profile_iters, p.chain_length);
  std::printf("bench_autodiff: real = %s, build %s, rev %s, %d reps after %d warm-up, ~%.0f ms per sample\n\n",
              bilevel::real_name, bilevel::build_type, bilevel::build_git_revision, p.reps, p.warmup, p.sample_ms);
  print_result("reps", p.reps);
  if (!only_tiny) {
    for (int64_t n : p.matmul_sizes) bench_matmul(p, n);
  }
  if (!only_matmul) bench_tiny_ops(p);
  return 0;
}

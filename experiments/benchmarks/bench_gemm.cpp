// The matrix products of the benchmark workloads through OpenBLAS and through bilevel-opt's own
// small/skinny kernels (lib/tensor/gemm_small): time per call on one thread, and the speed-up when two
// threads run the same calls at once (ideal 2×; OpenBLAS's pthread build serialises tiny products on a
// lock). Also checks the two agree. A benchmark, not a test: it prints and never fails.
// Usage: bench_gemm [seconds per measurement = 0.3]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "tensor/gemm_small.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

using namespace bilevel;

namespace {

struct Case {
  const char* what;
  int64_t m, n, k;
  bool ta, tb;
};

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Seconds per call of f: repeated for about `budget` seconds, best of 3.
double per_call(const std::function<void()>& f, double budget) {
  long reps = 1;
  for (;;) {  // calibrate
    const double t0 = now();
    for (long r = 0; r < reps; ++r) f();
    const double t = now() - t0;
    if (t > budget / 10) {
      reps = std::max<long>(1, static_cast<long>(reps * budget / 3 / t));
      break;
    }
    reps *= 4;
  }
  double best = 1e30;
  for (int round = 0; round < 3; ++round) {
    const double t0 = now();
    for (long r = 0; r < reps; ++r) f();
    best = std::min(best, (now() - t0) / static_cast<double>(reps));
  }
  return best;
}

// Wall time of `reps` calls on one thread vs `reps` calls on each of two threads at once.
double two_thread_speedup(const std::function<void()>& f1, const std::function<void()>& f2, double call_s,
                          double budget) {
  const long reps = std::max<long>(1, static_cast<long>(budget / call_s));
  double one = 1e30, two = 1e30;
  for (int round = 0; round < 3; ++round) {
    double t0 = now();
    for (long r = 0; r < reps; ++r) f1();
    one = std::min(one, now() - t0);
    t0 = now();
    std::thread other([&] {
      for (long r = 0; r < reps; ++r) f2();
    });
    for (long r = 0; r < reps; ++r) f1();
    other.join();
    two = std::min(two, now() - t0);
  }
  return 2 * one / two;
}

}  // namespace

int main(int argc, char** argv) {
  const double budget = argc > 1 ? std::atof(argv[1]) : 0.3;
  blas_set_single_threaded();  // as inside bilevel-opt
  const Case cases[] = {
      {"sinusoid hidden layer", 10, 40, 40, false, false},     {"sinusoid backward (G·Wᵀ)", 10, 40, 40, false, true},
      {"sinusoid weight grad (Xᵀ·G)", 40, 40, 10, true, false}, {"sinusoid input layer", 10, 40, 1, false, false},
      {"sinusoid output layer", 10, 1, 40, false, false},      {"hpo-l2 logits X·W", 1000, 10, 784, false, false},
      {"hpo-l2 weight grad Xᵀ·G", 784, 10, 1000, true, false}, {"square 64", 64, 64, 64, false, false},
      {"square 128 (OpenBLAS in bilevel-opt)", 128, 128, 128, false, false},
      // Conv4 on 5 images of 28×28 (64 filters, stride 2): per layer the forward (columns·Wᵀ), the input
      // gradient's columns (G·W) and the weight gradient (Gᵀ·columns).
      {"conv4 layer 1 forward", 980, 64, 9, false, true},       {"conv4 layer 1 weight grad", 64, 9, 980, true, false},
      {"conv4 layer 2 forward", 245, 64, 576, false, true},     {"conv4 layer 2 input grad", 245, 576, 64, false, false},
      {"conv4 layer 2 weight grad", 64, 576, 245, true, false}, {"conv4 layer 3 forward", 80, 64, 576, false, true},
      {"conv4 layer 3 input grad", 80, 576, 64, false, false},  {"conv4 layer 3 weight grad", 64, 576, 80, true, false},
      {"conv4 layer 4 forward", 20, 64, 576, false, true},      {"conv4 layer 4 input grad", 20, 576, 64, false, false},
      {"conv4 layer 4 weight grad", 64, 576, 20, true, false},
  };
  std::printf("own kernels: %s build; OpenBLAS single-threaded\n", gemm_detail::kernel_isa());
  std::printf("%-40s %-18s %-16s %12s %12s %8s %10s %10s %9s\n", "product", "m×n×k", "kernel", "OpenBLAS",
              "own", "ratio", "2T BLAS", "2T own", "max|Δ|");
  for (const Case& c : cases) {
    Rng rng(7);
    const Tensor a = rng.normal_tensor(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k});
    const Tensor b = rng.normal_tensor(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n});
    std::vector<real> out1(static_cast<size_t>(c.m * c.n)), out2(out1.size()), out3(out1.size());
    const int lda = static_cast<int>(a.dim(1)), ldb = static_cast<int>(b.dim(1));
    auto blas_into = [&](std::vector<real>& out) {
      return [&, lda, ldb] {
        // As gemm_into calls it: C zeroed by memset, then β = 1 (OpenBLAS's own β = 0 pass is slower).
        std::memset(out.data(), 0, out.size() * sizeof(real));
#ifdef BILEVEL_DOUBLE
        cblas_dgemm(
#else
        cblas_sgemm(
#endif
            CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans, c.tb ? CblasTrans : CblasNoTrans, static_cast<int>(c.m),
            static_cast<int>(c.n), static_cast<int>(c.k), 1, a.data(), lda, b.data(), ldb, 1, out.data(),
            static_cast<int>(c.n));
      };
    };
    auto own_into = [&](std::vector<real>& out) {
      return [&] { gemm_detail::gemm_small(c.m, c.n, c.k, c.ta, c.tb, a.data(), a.dim(1), b.data(), b.dim(1), out.data()); };
    };
    const double t_blas = per_call(blas_into(out1), budget), t_own = per_call(own_into(out2), budget);
    double diff = 0;
    for (size_t i = 0; i < out1.size(); ++i) diff = std::max(diff, std::abs(static_cast<double>(out1[i]) - out2[i]));
    const double s_blas = two_thread_speedup(blas_into(out1), blas_into(out3), t_blas, budget);
    const double s_own = two_thread_speedup(own_into(out2), own_into(out3), t_own, budget);
    char dims[64];
    std::snprintf(dims, sizeof dims, "%ldx%ldx%ld%s%s", static_cast<long>(c.m), static_cast<long>(c.n),
                  static_cast<long>(c.k), c.ta ? " Aᵀ" : "", c.tb ? " Bᵀ" : "");
    std::printf("%-40s %-18s %-16s %9.3f µs %9.3f µs %7.2fx %9.2fx %9.2fx %9.1e\n", c.what, dims,
                gemm_detail::small_kernel_name(c.m, c.n, c.k, c.ta, c.tb), t_blas * 1e6, t_own * 1e6, t_blas / t_own,
                s_blas, s_own, diff);
  }
}

// The machine's limits for the roofline table (experiments/benchmarks/RESULTS.md): memory bandwidth of a
// streaming kernel, and the FLOP rate of a large sgemm (OpenBLAS) and of the own skinny kernels on the
// shapes the classification workloads multiply. One thread; best of several repetitions, so a loaded machine
// lowers the figures less than medians would (fastest group of calls). A benchmark, not a test: it prints one JSON line and never
// fails.
//
//   bench_roofline [seconds per measurement = 0.5]
//
// Printed keys:
//   stream_read_gbs[size]: GB/s of a vectorised sum over a buffer of that size, read again and again (the
//       2 MiB and 16 MiB sizes stay in L2 / L3 on this machine: the hpo-l2 data matrix is 3.1 MB, the
//       hyper-cleaning one 15.7 MB), 256 MiB = main memory.
//   stream_triad_gbs: a[i] = b[i] + s·c[i] over 3 × 64 MiB (bytes counted: 3 per element, no write-allocate).
//   sgemm_gflops: OpenBLAS sgemm 1024³ (the peak a dense product reaches on one core).
//   skinny_gflops[shape]: the own kernels on (n × 784)·(784 × 10) and (784 × n)ᵀ·(n × 10), n = 1000, 5000.
//   skinny_gflops_2threads[shape]: the same products split over two oneTBB threads (fixed row blocks).
#include <cblas.h>
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

using namespace bilevel;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Fastest seconds per call of f: calls run in groups of at least 20 µs for about `budget` seconds, and the
// fastest group counts. On a shared machine the fastest group is the one the scheduler left alone.
double best_call(const std::function<void()>& f, double budget) {
  f();  // warm (page faults, caches)
  long reps = 1;
  for (;;) {
    const double t0 = now();
    for (long r = 0; r < reps; ++r) f();
    if (now() - t0 > 2e-5) break;
    reps *= 2;
  }
  double best = 1e30;
  const double end = now() + budget;
  for (int groups = 0; groups < 3 || now() < end; ++groups) {
    const double t0 = now();
    for (long r = 0; r < reps; ++r) f();
    best = std::min(best, (now() - t0) / static_cast<double>(reps));
  }
  return best;
}

volatile float sink;

// Sum of a buffer in 64 independent lanes (vectorises without -ffast-math: lanes are explicit).
float read_sum(const float* p, size_t n) {
  float acc[64] = {};
  for (size_t i = 0; i + 64 <= n; i += 64)
    for (int l = 0; l < 64; ++l) acc[l] += p[i + static_cast<size_t>(l)];
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

Tensor random_matrix(int64_t r, int64_t c, Rng& rng) {
  Tensor t(Shape{r, c});
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<real>(rng.normal());
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const double budget = argc > 1 ? std::atof(argv[1]) : 0.5;
  blas_set_single_threaded();
  nlohmann::json out;
  auto one_thread = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, 1);
  nlohmann::json reads = nlohmann::json::object();
  for (size_t mib : {2, 16, 256}) {
    const size_t n = mib * (1u << 20) / sizeof(float);
    std::vector<float> buf(n, 1.0f);
    const double s = best_call([&] { sink = read_sum(buf.data(), n); }, budget);
    reads[std::to_string(mib) + "MiB"] = static_cast<double>(n * sizeof(float)) / s / 1e9;
  }
  out["stream_read_gbs"] = reads;
  {
    const size_t n = 64u * (1u << 20) / sizeof(float);
    std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
    const double s = best_call(
        [&] {
          for (size_t i = 0; i < n; ++i) a[i] = b[i] + 0.5f * c[i];
          sink = a[n / 2];
        },
        budget);
    out["stream_triad_gbs"] = 3.0 * static_cast<double>(n * sizeof(float)) / s / 1e9;
  }
  Rng rng(1, {1});
  {
    const int64_t n = 1024;
    const Tensor a = random_matrix(n, n, rng), b = random_matrix(n, n, rng);
    Tensor c(Shape{n, n});
    const double s = best_call(
        [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(n),
                      static_cast<int>(n), 1.0f, reinterpret_cast<const float*>(a.data()), static_cast<int>(n),
                      reinterpret_cast<const float*>(b.data()), static_cast<int>(n), 0.0f,
                      reinterpret_cast<float*>(c.data()), static_cast<int>(n));
        },
        budget);
    out["sgemm_gflops"] = 2.0 * static_cast<double>(n * n * n) / s / 1e9;
  }
  one_thread.reset();
  for (int threads : {1, 2}) {
    tbb::global_control ctl(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
    nlohmann::json skinny = nlohmann::json::object();
    for (int64_t n : {1000, 5000}) {
      const Tensor x = random_matrix(n, 784, rng), w = random_matrix(784, 10, rng), g = random_matrix(n, 10, rng);
      const double flops = 2.0 * static_cast<double>(n) * 784 * 10;
      const double fwd = best_call([&] { sink = static_cast<float>(gemm(x, w, false, false)[0]); }, budget);
      const double bwd = best_call([&] { sink = static_cast<float>(gemm(x, g, true, false)[0]); }, budget);
      skinny["(" + std::to_string(n) + "x784)(784x10)"] = flops / fwd / 1e9;
      skinny["(784x" + std::to_string(n) + ")(" + std::to_string(n) + "x10)"] = flops / bwd / 1e9;
    }
    out[threads == 1 ? "skinny_gflops" : "skinny_gflops_2threads"] = skinny;
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// Does OpenBLAS scale across threads on the tiny products of a sinusoid MAML step? Times N calls of
// cblas_sgemm (m×k · k×n, default 10×40 · 40×40) on one thread, then N calls on each of T threads at once.
// With perfect scaling the second time equals the first. A benchmark, not a test: it prints and never fails.
// Usage: bench_blas_threads [N=400000] [T=2] [m=10] [k=40] [n=40]
#include <cblas.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "tensor/tensor.hpp"

namespace {

void calls(long count, int m, int k, int n) {
  std::vector<float> a(static_cast<size_t>(m) * k, 1.0f), b(static_cast<size_t>(k) * n, 0.5f),
      c(static_cast<size_t>(m) * n);
  for (long i = 0; i < count; ++i)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const long count = argc > 1 ? std::atol(argv[1]) : 400000;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const int m = argc > 3 ? std::atoi(argv[3]) : 10, k = argc > 4 ? std::atoi(argv[4]) : 40,
            n = argc > 5 ? std::atoi(argv[5]) : 40;
  bilevel::blas_set_single_threaded();  // as inside bilevel-opt
  auto t0 = std::chrono::steady_clock::now();
  calls(count, m, k, n);
  const double one = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(calls, count, m, k, n);
  for (auto& th : pool) th.join();
  const double many = seconds_since(t0);
  std::printf("sgemm %dx%d · %dx%d: %ld calls on 1 thread %.3f s; %ld calls on each of %d threads %.3f s "
              "(speed-up %.2fx of the ideal %dx)\n",
              m, k, k, n, count, one, count, threads, many, threads * one / many, threads);
}

// Tests of the matrix product: the own small/skinny kernels (lib/tensor/gemm_small) and the OpenBLAS
// path, against a double-precision triple loop for every transpose flag and a range of shapes that
// exercises each kernel, its vector tiles and its scalar tails; the generic, AVX2 and AVX-512 builds of
// the kernels must give the same bits.
#include <doctest/doctest.h>
#include <oneapi/tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "tensor/gemm_small.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

using namespace bilevel;

namespace {

struct Product {
  int64_t m, n, k;
  bool ta, tb;
};

// The operands as stored for op(A)·op(B): A is m×k (k×m if ta), B is k×n (n×k if tb).
struct Operands {
  Tensor a, b;
};

Operands random_operands(const Product& p, uint64_t seed) {
  Rng rng(seed);
  return {rng.normal_tensor(p.ta ? Shape{p.k, p.m} : Shape{p.m, p.k}),
          rng.normal_tensor(p.tb ? Shape{p.n, p.k} : Shape{p.k, p.n})};
}

// Checks C against Σ_p op(A)[i,p]·op(B)[p,j] in double, within the classical bound on the error of a
// k-term floating-point dot product: |Δ| ≤ γ_k Σ_p |a||b|, γ_k = k·u/(1 − k·u), with a factor 2 of slack.
void check_product(const Product& p, const Operands& x, const real* c) {
  const double u = std::numeric_limits<real>::epsilon() / 2;
  const double gamma = 2 * static_cast<double>(p.k) * u / (1 - static_cast<double>(p.k) * u);
  const int64_t lda = x.a.dim(1), ldb = x.b.dim(1);
  int failures = 0;
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < p.n; ++j) {
      double ref = 0, mag = 0;
      for (int64_t q = 0; q < p.k; ++q) {
        const double av = p.ta ? x.a[q * lda + i] : x.a[i * lda + q];
        const double bv = p.tb ? x.b[j * ldb + q] : x.b[q * ldb + j];
        ref += av * bv;
        mag += std::abs(av * bv);
      }
      const double err = std::abs(static_cast<double>(c[i * p.n + j]) - ref);
      if (err > gamma * mag + 1e-300 && failures++ < 3) {
        FAIL_CHECK("C[" << i << "," << j << "] = " << c[i * p.n + j] << ", reference " << ref << ", error " << err
                        << " > bound " << gamma * mag);
      }
    }
  CHECK(failures == 0);
}

std::vector<Product> shapes() {
  std::vector<Product> out;
  // Tiny and ragged (tails in every dimension), the MAML products (10×40·40×40, 10×1·1×40, 40×40ᵀ…),
  // the skinny ten-class products of logistic regression on MNIST, and a few around the size limit.
  const int64_t dims[][3] = {{1, 1, 1},   {1, 1, 9},    {3, 5, 7},     {9, 1, 17},   {17, 9, 33},  {10, 40, 40},
                             {10, 1, 40}, {10, 40, 1},  {40, 40, 10},  {40, 1, 10},  {33, 65, 3},  {64, 64, 64},
                             {5, 100, 300}, {300, 7, 200}, {1000, 10, 784}, {784, 10, 1000}, {10, 784, 1000},
                             {80, 80, 80}, {100, 60, 90}};
  for (const auto& d : dims)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) out.push_back({d[0], d[1], d[2], ta, tb});
  return out;
}

std::string describe(const Product& p) {
  return std::to_string(p.m) + "x" + std::to_string(p.n) + "x" + std::to_string(p.k) + (p.ta ? " Aᵀ" : " A") +
         (p.tb ? " Bᵀ" : " B");
}

}  // namespace

TEST_CASE("gemm: own kernels and OpenBLAS agree with a double triple loop on every shape and flag") {
  std::set<std::string> kernels_seen;
  uint64_t seed = 100;
  for (const Product& p : shapes()) {
    INFO(describe(p));
    const Operands x = random_operands(p, ++seed);
    const Tensor c = gemm(x.a, x.b, p.ta, p.tb);  // the public entry: own kernels or OpenBLAS
    REQUIRE(c.shape() == Shape({p.m, p.n}));
    check_product(p, x, c.data());
    // The own kernels directly, also on the shapes gemm would give to OpenBLAS.
    std::vector<real> direct(static_cast<size_t>(p.m * p.n), real(-7));
    gemm_detail::gemm_small(p.m, p.n, p.k, p.ta, p.tb, x.a.data(), x.a.dim(1), x.b.data(), x.b.dim(1),
                            direct.data());
    check_product(p, x, direct.data());
    kernels_seen.insert(gemm_detail::small_kernel_name(p.m, p.n, p.k, p.ta, p.tb));
    if (gemm_detail::use_small_kernels(p.m, p.n, p.k)) {
      CHECK(std::memcmp(direct.data(), c.data(), direct.size() * sizeof(real)) == 0);
    }
  }
  CHECK(kernels_seen == std::set<std::string>{"dots", "rows", "rows-transposed"});
  // Both kernel routes are taken: small and skinny products by the own kernels, large ones by OpenBLAS.
  CHECK(gemm_detail::use_small_kernels(10, 40, 40));
  CHECK(gemm_detail::use_small_kernels(1000, 10, 784));
  CHECK_FALSE(gemm_detail::use_small_kernels(100, 60, 90));
  // Every kernel can be forced on any shape (benchmarks compare them); unknown names are refused.
  const Product p{17, 9, 33, true, false};
  const Operands x = random_operands(p, 99);
  for (const char* kernel : {"rows", "rows-transposed", "dots"}) {
    INFO(kernel);
    std::vector<real> out(static_cast<size_t>(p.m * p.n));
    gemm_detail::gemm_small(p.m, p.n, p.k, p.ta, p.tb, x.a.data(), x.a.dim(1), x.b.data(), x.b.dim(1), out.data(),
                            kernel);
    check_product(p, x, out.data());
  }
  real dummy = 0;
  CHECK_THROWS_AS(gemm_detail::gemm_small(1, 1, 1, false, false, &dummy, 1, &dummy, 1, &dummy, "fast"),
                  bilevel::internal_error);
}

TEST_CASE("gemm: the generic, AVX2 and AVX-512 builds of the kernels give the same bits") {
  uint64_t seed = 500;
  for (const Product& p : shapes()) {
    INFO(describe(p));
    const Operands x = random_operands(p, ++seed);
    auto product = [&](const char* isa) {
      std::vector<real> out(static_cast<size_t>(p.m * p.n));
      if (!gemm_detail::limit_kernel_isa(isa)) return std::vector<real>{};  // not on this CPU
      gemm_detail::gemm_small(p.m, p.n, p.k, p.ta, p.tb, x.a.data(), x.a.dim(1), x.b.data(), x.b.dim(1), out.data());
      return out;
    };
    const std::vector<real> generic = product("generic");
    for (const char* isa : {"avx2", "avx512"}) {
      const std::vector<real> fast = product(isa);
      if (fast.empty()) continue;
      INFO(isa);
      CHECK(std::memcmp(fast.data(), generic.data(), fast.size() * sizeof(real)) == 0);
    }
  }
  gemm_detail::limit_kernel_isa("avx512");  // back to the best the CPU has
}

TEST_CASE("gemm: products split over the threads give the same bits for any grain and thread count") {
  // Every kernel, every flag, on shapes with ragged blocks; the unsplit product on one thread is the
  // reference, and splits into blocks of one row up to a few run on 1 and 2 threads.
  const int64_t saved = gemm_detail::split_grain_value();
  uint64_t seed = 900;
  const int64_t dims[][3] = {{1000, 10, 784}, {784, 10, 1000}, {37, 10, 50}, {50, 19, 37}, {130, 3, 65}};
  for (const auto& d : dims)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (const char* kernel : {"rows", "rows-transposed", "dots"}) {
          const Product p{d[0], d[1], d[2], ta, tb};
          INFO(describe(p) << " " << kernel);
          const Operands x = random_operands(p, ++seed);
          auto product = [&](int64_t grain, int threads) {
            gemm_detail::set_split_grain(grain);
            std::vector<real> out(static_cast<size_t>(p.m * p.n));
            tbb::task_arena arena(threads);
            arena.execute([&] {
              gemm_detail::gemm_small(p.m, p.n, p.k, p.ta, p.tb, x.a.data(), x.a.dim(1), x.b.data(), x.b.dim(1),
                                      out.data(), kernel);
            });
            return out;
          };
          const std::vector<real> whole = product(int64_t{1} << 40, 1);
          check_product(p, x, whole.data());
          for (int64_t grain : {int64_t{1}, p.n * p.k * 7, p.n * p.k * 100})
            for (int threads : {1, 2}) {
              CAPTURE(grain);
              CAPTURE(threads);
              const std::vector<real> split = product(grain, threads);
              CHECK(std::memcmp(split.data(), whole.data(), whole.size() * sizeof(real)) == 0);
            }
        }
  gemm_detail::set_split_grain(saved);
}

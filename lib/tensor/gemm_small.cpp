#include "tensor/gemm_small.hpp"

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

namespace bilevel::gemm_detail {

#define BILEVEL_GEMM_KERNEL_DECLS                                                                                \
  void gemm_rows(int64_t m, int64_t n, int64_t k, const real* a, int64_t sai, int64_t sap, const real* b,         \
                 int64_t ldb, real* c, int64_t ldc);                                                             \
  void gemm_dots(int64_t m, int64_t n, int64_t k, const real* a, int64_t lda, const real* bt, int64_t ldb, real* c, \
                 int64_t ldc);
namespace generic {
BILEVEL_GEMM_KERNEL_DECLS
}
#if defined(__x86_64__) || defined(__i386__)
namespace avx2 {
BILEVEL_GEMM_KERNEL_DECLS
}
namespace avx512 {
BILEVEL_GEMM_KERNEL_DECLS
}
#endif
#undef BILEVEL_GEMM_KERNEL_DECLS

namespace {

constexpr int64_t L = 32 / static_cast<int64_t>(sizeof(real));

enum class Isa { generic, avx2, avx512 };

Isa detected_isa() {
#if defined(__x86_64__) || defined(__i386__)
  static const Isa isa = __builtin_cpu_supports("avx512f") ? Isa::avx512
                         : __builtin_cpu_supports("avx2")  ? Isa::avx2
                                                           : Isa::generic;
  return isa;
#else
  return Isa::generic;
#endif
}

std::atomic<int> isa_cap{static_cast<int>(Isa::avx512)};  // limit_kernel_isa

Isa best_isa() { return std::min(detected_isa(), static_cast<Isa>(isa_cap.load(std::memory_order_relaxed))); }

using RowsFn = void (*)(int64_t, int64_t, int64_t, const real*, int64_t, int64_t, const real*, int64_t, real*,
                        int64_t);
using DotsFn = void (*)(int64_t, int64_t, int64_t, const real*, int64_t, const real*, int64_t, real*, int64_t);

RowsFn rows_fn() {
  switch (best_isa()) {
#if defined(__x86_64__) || defined(__i386__)
    case Isa::avx512: return avx512::gemm_rows;
    case Isa::avx2: return avx2::gemm_rows;
#endif
    default: return generic::gemm_rows;
  }
}
DotsFn dots_fn() {
  switch (best_isa()) {
#if defined(__x86_64__) || defined(__i386__)
    case Isa::avx512: return avx512::gemm_dots;
    case Isa::avx2: return avx2::gemm_dots;
#endif
    default: return generic::gemm_dots;
  }
}

enum class Kernel { rows, rows_transposed, dots };

// Rough cost of each kernel in vector operations (a scalar multiply-add counts as one, like a
// vector one), plus the copies each needs to bring its operands into the layout it reads.
Kernel choose(int64_t m, int64_t n, int64_t k, bool ta, bool tb) {
  const int64_t rows = m * k * (n / L + n % L) + (tb ? k * n : 0);
  const int64_t rows_t = n * k * (m / L + m % L) + (ta ? 0 : m * k) + m * n;
  const int64_t dots = m * n * (k / L + k % L + 2 * L) + (tb ? 0 : n * k) + (ta ? m * k : 0);
  if (rows <= rows_t && rows <= dots) return Kernel::rows;
  return rows_t <= dots ? Kernel::rows_transposed : Kernel::dots;
}

// Per-thread scratch for repacked operands (grows, never shrinks).
real* scratch(int slot, int64_t count) {
  thread_local std::vector<real> buf[2];
  auto& v = buf[slot];
  if (static_cast<int64_t>(v.size()) < count) v.resize(static_cast<size_t>(count));
  return v.data();
}

// dst (cols × rows, row-major) = transpose of src (rows × cols, row stride ld).
void transpose_into(const real* src, int64_t rows, int64_t cols, int64_t ld, real* dst) {
  if (rows * cols <= 64 * 64) {  // fits in L1: no blocking
    for (int64_t j = 0; j < cols; ++j)  // contiguous writes, strided reads
      for (int64_t i = 0; i < rows; ++i) dst[j * rows + i] = src[i * ld + j];
    return;
  }
  constexpr int64_t B = 32;
  for (int64_t i0 = 0; i0 < rows; i0 += B)
    for (int64_t j0 = 0; j0 < cols; j0 += B)
      for (int64_t i = i0; i < std::min(rows, i0 + B); ++i)
        for (int64_t j = j0; j < std::min(cols, j0 + B); ++j) dst[j * rows + i] = src[i * ld + j];
}

}  // namespace

bool use_small_kernels(int64_t m, int64_t n, int64_t k) {
  // Small (up to 64³ multiply-adds) or skinny (an outer dimension of at most 16: OpenBLAS would
  // re-pack the large operand for a few columns of output).
  return m * n * k <= 64 * 64 * 64 || m <= 16 || n <= 16;
}

const char* small_kernel_name(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  switch (choose(m, n, k, trans_a, trans_b)) {
    case Kernel::rows: return "rows";
    case Kernel::rows_transposed: return "rows-transposed";
    case Kernel::dots: return "dots";
  }
  return "?";
}

bool limit_kernel_isa(const std::string& isa) {
  const Isa want = isa == "avx512" ? Isa::avx512 : isa == "avx2" ? Isa::avx2 : Isa::generic;
  isa_cap.store(static_cast<int>(want), std::memory_order_relaxed);
  return detected_isa() >= want;
}

const char* kernel_isa() {
  switch (best_isa()) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

void gemm_small(int64_t m, int64_t n, int64_t k, bool ta, bool tb, const real* a, int64_t lda, const real* b,
                int64_t ldb, real* c, const char* kernel) {
  Kernel which = choose(m, n, k, ta, tb);
  if (kernel) {
    const std::string name = kernel;
    which = name == "rows" ? Kernel::rows : name == "rows-transposed" ? Kernel::rows_transposed : Kernel::dots;
  }
  switch (which) {
    case Kernel::rows: {
      // C = A'·B' vectorised over the n columns of B' (its rows must be contiguous).
      const real* bp = b;
      int64_t ldbp = ldb;
      if (tb) {  // B is n×k: B' = Bᵀ
        real* t = scratch(0, k * n);
        transpose_into(b, n, k, ldb, t);
        bp = t;
        ldbp = n;
      }
      rows_fn()(m, n, k, a, ta ? 1 : lda, ta ? lda : 1, bp, ldbp, c, n);
      return;
    }
    case Kernel::rows_transposed: {
      // Cᵀ = B'ᵀ·A'ᵀ vectorised over the m rows of C; A'ᵀ rows must be contiguous (A stored k×m).
      const real* ap = a;
      int64_t ldap = lda;
      if (!ta) {  // A is m×k: A'ᵀ = Aᵀ
        real* t = scratch(0, k * m);
        transpose_into(a, m, k, lda, t);
        ap = t;
        ldap = m;
      }
      real* ct = scratch(1, n * m);
      // b'ᵀ(j, p) = B'(p, j) = tb ? B[j, p] : B[p, j]
      rows_fn()(n, m, k, b, tb ? ldb : 1, tb ? 1 : ldb, ap, ldap, ct, m);
      transpose_into(ct, n, m, m, c);
      return;
    }
    case Kernel::dots: {
      // C[i, j] = dot(row i of A', row j of B'ᵀ), vectorised over k.
      const real* ap = a;
      int64_t ldap = lda;
      if (ta) {
        real* t = scratch(0, m * k);
        transpose_into(a, k, m, lda, t);
        ap = t;
        ldap = k;
      }
      const real* bt = b;
      int64_t ldbt = ldb;
      if (!tb) {
        real* t = scratch(1, n * k);
        transpose_into(b, k, n, ldb, t);
        bt = t;
        ldbt = k;
      }
      dots_fn()(m, n, k, ap, ldap, bt, ldbt, c, n);
      return;
    }
  }
}

}  // namespace bilevel::gemm_detail

#include "tensor/gemm_small.hpp"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "tensor/tensor.hpp"

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

// A transposed copy of src (rows × cols, row stride ld) in per-thread scratch `slot` (grows, never
// shrinks): cols × rows, row stride rows.
const real* transposed(int slot, const real* src, int64_t rows, int64_t cols, int64_t ld) {
  thread_local std::vector<real> buf[2];
  auto& v = buf[slot];
  if (static_cast<int64_t>(v.size()) < rows * cols) v.resize(static_cast<size_t>(rows * cols));
  transpose_into(src, rows, cols, ld, v.data());
  return v.data();
}

constexpr const char* kernel_names[] = {"rows", "rows-transposed", "dots"};  // indexed by Kernel

}  // namespace

bool use_small_kernels(int64_t m, int64_t n, int64_t k) {
  // Small (up to 64³ multiply-adds) or skinny (an outer dimension of at most 16: OpenBLAS would
  // re-pack the large operand for a few columns of output).
  return m * n * k <= 64 * 64 * 64 || m <= 16 || n <= 16;
}

const char* small_kernel_name(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  return kernel_names[static_cast<int>(choose(m, n, k, trans_a, trans_b))];
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
    const auto* hit = std::find_if(std::begin(kernel_names), std::end(kernel_names),
                                   [&](const char* name) { return std::string(name) == kernel; });
    if (hit == std::end(kernel_names)) {
      throw internal_error(std::string("gemm_small: unknown kernel '") + kernel +
                                  "' (rows, rows-transposed or dots)");
    }
    which = static_cast<Kernel>(hit - std::begin(kernel_names));
  }
  switch (which) {
    case Kernel::rows: {
      // C = A'·B' vectorised over the n columns of B' (its rows must be contiguous; B is n×k if tb).
      const real* bp = tb ? transposed(0, b, n, k, ldb) : b;
      rows_fn()(m, n, k, a, ta ? 1 : lda, ta ? lda : 1, bp, tb ? n : ldb, c, n);
      return;
    }
    case Kernel::rows_transposed: {
      // Cᵀ = B'ᵀ·A'ᵀ vectorised over the m rows of C; A'ᵀ rows must be contiguous (A stored k×m, else
      // transposed); b'ᵀ(j, p) = B'(p, j) = tb ? B[j, p] : B[p, j]. Cᵀ goes to scratch, then transposed.
      const real* ap = ta ? a : transposed(0, a, m, k, lda);
      thread_local std::vector<real> ct;
      if (static_cast<int64_t>(ct.size()) < n * m) ct.resize(static_cast<size_t>(n * m));
      rows_fn()(n, m, k, b, tb ? ldb : 1, tb ? 1 : ldb, ap, ta ? lda : m, ct.data(), m);
      transpose_into(ct.data(), n, m, m, c);
      return;
    }
    case Kernel::dots: {
      // C[i, j] = dot(row i of A', row j of B'ᵀ), vectorised over k.
      const real* ap = ta ? transposed(0, a, k, m, lda) : a;
      const real* bt = tb ? b : transposed(1, b, k, n, ldb);
      dots_fn()(m, n, k, ap, ta ? k : lda, bt, tb ? ldb : k, c, n);
      return;
    }
  }
}

}  // namespace bilevel::gemm_detail

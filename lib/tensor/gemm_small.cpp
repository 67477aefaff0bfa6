#include "tensor/gemm_small.hpp"
#include "tensor/parallel.hpp"

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

std::atomic<int64_t> split_grain{int64_t{1} << 18};  // set_split_grain

// The output blocks a product is split into: fixed by the shape (never by the thread count), each block
// `block` output rows (the last one shorter), a multiple of `align`.
struct Blocks {
  int64_t size = 0, total = 0;
};
Blocks output_blocks(int64_t rows, int64_t work_per_row, int64_t align) {
  Blocks b;
  b.total = rows;
  const int64_t grain = split_grain.load(std::memory_order_relaxed);
  int64_t size = std::max<int64_t>(1, grain / std::max<int64_t>(1, work_per_row));
  size = (size + align - 1) / align * align;
  b.size = std::min(size, rows);
  return b;
}

// Runs f(begin, end) over the blocks (tensor/parallel.hpp): in parallel when `split` and there are several.
// Every output element is computed by one block, by the same operations whichever thread runs it.
template <class F>
void for_blocks(const Blocks& b, bool split, const F& f) {
  parallel_blocks(b.total, b.size, split, f);
}

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

void set_split_grain(int64_t multiply_adds) {
  split_grain.store(std::max<int64_t>(1, multiply_adds), std::memory_order_relaxed);
}
int64_t split_grain_value() { return split_grain.load(std::memory_order_relaxed); }

bool kernels_have_avx2() { return best_isa() >= Isa::avx2; }

const char* kernel_isa() {
  switch (best_isa()) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

namespace {
void gemm_small_impl(int64_t m, int64_t n, int64_t k, bool ta, bool tb, const real* a, int64_t lda, const real* b,
                     int64_t ldb, real* c, const char* kernel, bool split) {
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
      // Split over the rows of C.
      const real* bp = tb ? transposed(0, b, n, k, ldb) : b;
      const int64_t sai = ta ? 1 : lda, sap = ta ? lda : 1;
      const RowsFn fn = rows_fn();
      for_blocks(output_blocks(m, n * k, 6), split, [&](int64_t i0, int64_t i1) {
        fn(i1 - i0, n, k, a + i0 * sai, sai, sap, bp, tb ? n : ldb, c + i0 * n, n);
      });
      return;
    }
    case Kernel::rows_transposed: {
      // Cᵀ = B'ᵀ·A'ᵀ vectorised over the m rows of C; A'ᵀ rows must be contiguous (A stored k×m, else
      // transposed); b'ᵀ(j, p) = B'(p, j) = tb ? B[j, p] : B[p, j]. Cᵀ goes to scratch, then transposed.
      // Split over the columns of Cᵀ (the rows of C).
      const real* ap = ta ? a : transposed(0, a, m, k, lda);
      const int64_t ldap = ta ? lda : m;
      thread_local std::vector<real> ct;
      if (static_cast<int64_t>(ct.size()) < n * m) ct.resize(static_cast<size_t>(n * m));
      real* ctp = ct.data();
      const RowsFn fn = rows_fn();
      for_blocks(output_blocks(m, n * k, 64), split, [&](int64_t i0, int64_t i1) {
        fn(n, i1 - i0, k, b, tb ? ldb : 1, tb ? 1 : ldb, ap + i0, ldap, ctp + i0, m);
      });
      transpose_into(ctp, n, m, m, c);
      return;
    }
    case Kernel::dots: {
      // C[i, j] = dot(row i of A', row j of B'ᵀ), vectorised over k. Split over the rows of C.
      const real* ap = ta ? transposed(0, a, k, m, lda) : a;
      const real* bt = tb ? b : transposed(1, b, k, n, ldb);
      const int64_t ldap = ta ? k : lda;
      const DotsFn fn = dots_fn();
      for_blocks(output_blocks(m, n * k, 4), split, [&](int64_t i0, int64_t i1) {
        fn(i1 - i0, n, k, ap + i0 * ldap, ldap, bt, tb ? ldb : k, c + i0 * n, n);
      });
      return;
    }
  }
}

}  // namespace

void gemm_small(int64_t m, int64_t n, int64_t k, bool ta, bool tb, const real* a, int64_t lda, const real* b,
                int64_t ldb, real* c, const char* kernel) {
  gemm_small_impl(m, n, k, ta, tb, a, lda, b, ldb, c, kernel, /*split=*/true);
}

void gemm_small_serial(int64_t m, int64_t n, int64_t k, bool ta, bool tb, const real* a, int64_t lda, const real* b,
                       int64_t ldb, real* c) {
  gemm_small_impl(m, n, k, ta, tb, a, lda, b, ldb, c, nullptr, /*split=*/false);
}

}  // namespace bilevel::gemm_detail

#include "tensor/tensor.hpp"

#include "base/errors.hpp"
#include "tensor/gemm_into.hpp"
#include "tensor/gemm_small.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>
#include <stdexcept>

extern "C" void openblas_set_num_threads(int);
// OpenBLAS's pthread build stops its worker pool with this; absent from other builds (weak: null there).
extern "C" int blas_thread_shutdown_(void) __attribute__((weak));

namespace bilevel {

// ---------------------------------------------------------------- Shape
Shape::Shape(std::initializer_list<int64_t> d) : Shape(std::vector<int64_t>(d)) {}

Shape::Shape(const std::vector<int64_t>& d) {
  if (d.size() > static_cast<size_t>(max_rank)) {
    throw internal_error("Shape: rank " + std::to_string(d.size()) + " exceeds the maximum of 4");
  }
  rank = static_cast<int>(d.size());
  for (int i = 0; i < rank; ++i) {
    if (d[static_cast<size_t>(i)] < 0) throw internal_error("Shape: negative dimension");
    dims[static_cast<size_t>(i)] = d[static_cast<size_t>(i)];
  }
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[static_cast<size_t>(i)];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (rank != o.rank) return false;
  for (int i = 0; i < rank; ++i)
    if (dims[static_cast<size_t>(i)] != o.dims[static_cast<size_t>(i)]) return false;
  return true;
}

std::vector<int64_t> Shape::to_vector() const { return std::vector<int64_t>(dims.begin(), dims.begin() + rank); }

std::string Shape::str() const {
  std::ostringstream s;
  s << '(';
  for (int i = 0; i < rank; ++i) s << (i ? ", " : "") << dims[static_cast<size_t>(i)];
  if (rank == 1) s << ',';
  s << ')';
  return s.str();
}

// ---------------------------------------------------------------- MemoryMeter
namespace {
thread_local int64_t tl_live = 0;
thread_local int64_t tl_peak = 0;
}  // namespace
int64_t MemoryMeter::live_bytes() { return tl_live; }
int64_t MemoryMeter::peak_bytes() { return tl_peak; }
void MemoryMeter::reset_peak() { tl_peak = tl_live; }
void MemoryMeter::on_alloc(int64_t bytes) {
  tl_live += bytes;
  if (tl_live > tl_peak) tl_peak = tl_live;
}
void MemoryMeter::on_free(int64_t bytes) { tl_live -= bytes; }

// ---------------------------------------------------------------- Tensor
void Tensor::allocate(int64_t n) {
  size_ = static_cast<size_t>(n);
  if (n == 0) {
    data_ = nullptr;
    return;
  }
  size_t bytes = (size_ * sizeof(real) + 63) / 64 * 64;
  data_ = static_cast<real*>(std::aligned_alloc(64, bytes));
  if (!data_) throw std::bad_alloc();
  MemoryMeter::on_alloc(static_cast<int64_t>(size_ * sizeof(real)));
}

void Tensor::release() {
  if (data_) {
    std::free(data_);
    MemoryMeter::on_free(static_cast<int64_t>(size_ * sizeof(real)));
  }
  data_ = nullptr;
  size_ = 0;
}

Tensor::Tensor(const Shape& shape, real fill_value) : shape_(shape) {
  allocate(shape.numel());
  std::fill(data_, data_ + size_, fill_value);
}

Tensor::Tensor(const Shape& shape, std::vector<real> values) : shape_(shape) {
  if (static_cast<int64_t>(values.size()) != shape.numel()) {
    throw internal_error("Tensor: " + std::to_string(values.size()) + " values for shape " + shape.str());
  }
  allocate(shape.numel());
  if (size_) std::memcpy(data_, values.data(), size_ * sizeof(real));
}

Tensor::Tensor(const Tensor& o) : shape_(o.shape_) {
  allocate(o.numel());
  if (size_) std::memcpy(data_, o.data_, size_ * sizeof(real));
}

Tensor::Tensor(Tensor&& o) noexcept : shape_(o.shape_), data_(o.data_), size_(o.size_) {
  o.data_ = nullptr;
  o.size_ = 0;
  o.shape_ = Shape();
}

Tensor& Tensor::operator=(const Tensor& o) {
  if (this == &o) return *this;
  if (size_ != o.size_) {
    release();
    allocate(o.numel());
  }
  shape_ = o.shape_;
  if (size_) std::memcpy(data_, o.data_, size_ * sizeof(real));
  return *this;
}

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this == &o) return *this;
  release();
  shape_ = o.shape_;
  data_ = o.data_;
  size_ = o.size_;
  o.data_ = nullptr;
  o.size_ = 0;
  o.shape_ = Shape();
  return *this;
}

Tensor::~Tensor() { release(); }

Tensor Tensor::uninitialized(const Shape& s) {
  Tensor t;
  t.shape_ = s;
  t.allocate(s.numel());
  return t;
}

Tensor Tensor::scalar(real v) { return Tensor(Shape{}, v); }

Tensor Tensor::vector(std::vector<real> values) {
  Shape s{static_cast<int64_t>(values.size())};
  return Tensor(s, std::move(values));
}

real Tensor::item() const {
  if (size_ != 1) throw internal_error("Tensor::item: tensor of shape " + shape_.str() + " is not a scalar");
  return data_[0];
}

Tensor Tensor::reshaped(const Shape& s) const {
  if (s.numel() != numel()) {
    throw internal_error("reshape: cannot view shape " + shape_.str() + " as " + s.str());
  }
  Tensor t(*this);
  t.shape_ = s;
  return t;
}

void Tensor::fill(real v) { std::fill(data_, data_ + size_, v); }

bool Tensor::all_finite() const {
  for (size_t i = 0; i < size_; ++i)
    if (!std::isfinite(data_[i])) return false;
  return true;
}

// ---------------------------------------------------------------- vector algebra
static void check_same_numel(const char* op, const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) {
    throw internal_error(std::string(op) + ": sizes differ, " + a.shape().str() + " vs " + b.shape().str());
  }
}

double dot(const Tensor& a, const Tensor& b) {
  check_same_numel("dot", a, b);
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

double norm2(const Tensor& a) { return dot(a, a); }

void axpy(real alpha, const Tensor& x, Tensor& y) {
  check_same_numel("axpy", x, y);
  real* yd = y.data();
  const real* xd = x.data();
  for (int64_t i = 0; i < x.numel(); ++i) yd[i] += alpha * xd[i];
}

Tensor axpy_new(real alpha, const Tensor& x, const Tensor& y) {
  check_same_numel("axpy", x, y);
  Tensor out = Tensor::uninitialized(y.shape());
  real* od = out.data();
  const real* yd = y.data();
  const real* xd = x.data();
  for (int64_t i = 0; i < x.numel(); ++i) od[i] = yd[i] + alpha * xd[i];
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_same_numel("add", a, b);
  Tensor c(a);
  axpy(real(1), b, c);
  return c;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_same_numel("sub", a, b);
  Tensor c(a);
  axpy(real(-1), b, c);
  return c;
}

Tensor scaled(const Tensor& a, real alpha) {
  Tensor c(a);
  for (int64_t i = 0; i < c.numel(); ++i) c[i] *= alpha;
  return c;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  check_same_numel("max_abs_diff", a, b);
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return m;
}

// ---------------------------------------------------------------- BLAS
namespace {
thread_local int64_t tl_gemm_flops = 0;
thread_local int64_t tl_gemm_bytes = 0;
}  // namespace
int64_t GemmCounter::flops() { return tl_gemm_flops; }
int64_t GemmCounter::bytes() { return tl_gemm_bytes; }
void GemmCounter::reset() { tl_gemm_flops = tl_gemm_bytes = 0; }
void GemmCounter::add(int64_t flops, int64_t bytes) {
  tl_gemm_flops += flops;
  tl_gemm_bytes += bytes;
}

void transpose_into(const real* src, int64_t rows, int64_t cols, int64_t ld, real* dst) {
  if (rows * cols <= 64 * 64) {  // fits in L1: no blocking
    for (int64_t j = 0; j < cols; ++j)  // contiguous writes, strided reads
      for (int64_t i = 0; i < rows; ++i) dst[j * rows + i] = src[i * ld + j];
    return;
  }
  constexpr int64_t B = 32;  // blocked for cache friendliness
  for (int64_t i0 = 0; i0 < rows; i0 += B)
    for (int64_t j0 = 0; j0 < cols; j0 += B)
      for (int64_t i = i0; i < std::min(rows, i0 + B); ++i)
        for (int64_t j = j0; j < std::min(cols, j0 + B); ++j) dst[j * rows + i] = src[i * ld + j];
}

Tensor gemm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  if (a.rank() != 2 || b.rank() != 2) {
    throw internal_error("matmul: expects 2-D operands, got " + a.shape().str() + " and " + b.shape().str());
  }
  const int64_t m = trans_a ? a.dim(1) : a.dim(0);
  const int64_t k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  if (k != kb) {
    throw internal_error("matmul: inner dimensions differ: " + a.shape().str() + (trans_a ? "ᵀ" : "") + " · " +
                                b.shape().str() + (trans_b ? "ᵀ" : ""));
  }
  if (m == 0 || n == 0 || k == 0) return Tensor(Shape{m, n});
  Tensor c = Tensor::uninitialized(Shape{m, n});  // beta = 0: gemm overwrites every element
  gemm_into(m, n, k, trans_a, trans_b, a.data(), a.dim(1), b.data(), b.dim(1), c.data());
  return c;
}

void gemm_into(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, const real* a, int64_t lda,
               const real* b, int64_t ldb, real* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill(c, c + m * n, real(0));
    return;
  }
  tl_gemm_flops += 2 * m * n * k;
  tl_gemm_bytes += (m * k + k * n + m * n) * static_cast<int64_t>(sizeof(real));
  if (gemm_detail::use_small_kernels(m, n, k)) {
    gemm_detail::gemm_small(m, n, k, trans_a, trans_b, a, lda, b, ldb, c);
    return;
  }
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  // β = 1 on a zeroed C instead of β = 0: OpenBLAS's β pass zeroes C in a scalar loop before the kernel adds
  // the product (measured 6-7 % of a few-shot step); a memset is several times faster, and 0 + Σ gives
  // the same bits as the kernel's sum written over β·C = 0.
  std::memset(c, 0, static_cast<size_t>(m * n) * sizeof(real));
#ifdef BILEVEL_DOUBLE
  cblas_dgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), 1.0, c, static_cast<int>(n));
#else
  cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), 1.0f, c, static_cast<int>(n));
#endif
}

void blas_set_single_threaded() {
  openblas_set_num_threads(1);
  // The pthread build started (nproc − 1) workers when the library loaded, and idle workers poll for work
  // for a while before they sleep: CPU taken from oneTBB's threads at the start of every run. With one
  // thread OpenBLAS never uses them, so stop them.
  if (blas_thread_shutdown_) blas_thread_shutdown_();
}

}  // namespace bilevel

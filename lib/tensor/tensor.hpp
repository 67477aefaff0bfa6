#pragma once
// Tensor: contiguous row-major storage of bilevel::real with a shape of rank 0..4.
//
// A Tensor owns its buffer (value semantics, cheap moves). Rank 0 is a scalar with one element.
// Shape checks throw internal_error (base/errors.hpp) naming the operation and the shapes: a mismatch is a bug
// in the caller, never bad user input.
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "tensor/real.hpp"

namespace bilevel {

inline constexpr int max_rank = 4;

struct Shape {
  std::array<int64_t, max_rank> dims{0, 0, 0, 0};
  int rank = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d);
  explicit Shape(const std::vector<int64_t>& d);
  int64_t numel() const;
  int64_t operator[](int i) const { return dims[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return dims[static_cast<size_t>(i)]; }
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::vector<int64_t> to_vector() const;
  std::string str() const;  // "(2, 3)"
};

// Byte accounting of live tensor buffers, per thread: estimators report the peak bytes they held.
struct MemoryMeter {
  static int64_t live_bytes();
  static int64_t peak_bytes();
  static void reset_peak();  // peak := live
  static void on_alloc(int64_t bytes);
  static void on_free(int64_t bytes);
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Shape& shape, real fill = real(0));
  Tensor(const Shape& shape, std::vector<real> values);  // values.size() must equal shape.numel()
  Tensor(const Tensor& o);
  Tensor(Tensor&& o) noexcept;
  Tensor& operator=(const Tensor& o);
  Tensor& operator=(Tensor&& o) noexcept;
  ~Tensor();

  // A tensor whose elements are left uninitialized: for outputs that are fully overwritten.
  static Tensor uninitialized(const Shape& s);
  static Tensor scalar(real v);
  static Tensor zeros(const Shape& s) { return Tensor(s); }
  static Tensor zeros_like(const Tensor& t) { return Tensor(t.shape()); }
  static Tensor vector(std::vector<real> values);  // rank-1

  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank; }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t numel() const { return static_cast<int64_t>(size_); }
  real* data() { return data_; }
  const real* data() const { return data_; }
  real& operator[](int64_t i) { return data_[i]; }
  real operator[](int64_t i) const { return data_[i]; }
  real item() const;  // requires numel() == 1

  // Same buffer contents under a new shape with equal numel (copy; tensors never alias).
  Tensor reshaped(const Shape& s) const;
  std::vector<real> to_vector() const { return std::vector<real>(data_, data_ + size_); }
  void fill(real v);
  bool all_finite() const;

 private:
  void allocate(int64_t n);
  void release();
  Shape shape_;
  real* data_ = nullptr;
  size_t size_ = 0;
};

// Small vector algebra on flat tensors (estimators are plain vector algebra over θ and λ).
double dot(const Tensor& a, const Tensor& b);          // accumulates in double
double norm2(const Tensor& a);                          // ‖a‖², in double
void axpy(real alpha, const Tensor& x, Tensor& y);      // y += alpha x
Tensor axpy_new(real alpha, const Tensor& x, const Tensor& y);  // y + alpha x as a new tensor (y's shape)
Tensor add(const Tensor& a, const Tensor& b);           // same numel
Tensor sub(const Tensor& a, const Tensor& b);
Tensor scaled(const Tensor& a, real alpha);
double max_abs_diff(const Tensor& a, const Tensor& b);

// dst (cols × rows, row-major) = the transpose of src (rows × cols, row stride ld).
void transpose_into(const real* src, int64_t rows, int64_t cols, int64_t ld, real* dst);

// C = op(A)·op(B) with row-major A, B (2-D). Throws on mismatched inner dimensions. Small and skinny
// products run in the own kernels (tensor/gemm_small.hpp: fixed summation order), larger ones in OpenBLAS.
Tensor gemm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);

// Work of the products gemm() ran on this thread (for the roofline figures of the benchmarks): floating-point
// operations 2·m·n·k, and the bytes of the operands and the result (each counted once: the traffic of a
// product that reads its operands once).
struct GemmCounter {
  static int64_t flops();
  static int64_t bytes();
  static void reset();
  // Counts work done outside gemm() by kernels that read their operands once (lib/autodiff's fused ops).
  static void add(int64_t flops, int64_t bytes);
};

// Keep OpenBLAS single-threaded and stop its worker pool: oneTBB owns the threads (call once at start-up).
void blas_set_single_threaded();

}  // namespace bilevel

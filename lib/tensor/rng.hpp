#pragma once
// Counter-based random numbers (Philox4x32-10).
//
// A stream is a pure function of (seed, stream indices): Rng(seed, {outer_step, task}) gives the same
// numbers on any thread, in any order, so parallel work is reproducible. Within a stream, draws are
// taken from consecutive counters.
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "tensor/tensor.hpp"

namespace bilevel {

class Rng {
 public:
  explicit Rng(uint64_t seed, std::initializer_list<uint64_t> stream = {});
  Rng(uint64_t seed, const std::vector<uint64_t>& stream);

  // A child stream: a pure function of this stream's key and `index` (not of how much was drawn).
  Rng split(uint64_t index) const;

  uint32_t next_u32();
  uint64_t next_u64();
  double uniform();                       // [0, 1), 53 random bits
  double uniform(double lo, double hi);   // [lo, hi)
  double normal();                        // standard normal (Box–Muller)
  bool bernoulli(double p);               // true with probability p
  int64_t randint(int64_t n);             // uniform on {0, …, n−1}, n > 0, unbiased

  void fill_normal(Tensor& t, double mean = 0.0, double stddev = 1.0);
  void fill_uniform(Tensor& t, double lo, double hi);
  Tensor normal_tensor(const Shape& s, double mean = 0.0, double stddev = 1.0);
  Tensor uniform_tensor(const Shape& s, double lo, double hi);
  // A uniformly random permutation of {0, …, n−1} (Fisher–Yates).
  std::vector<int64_t> permutation(int64_t n);

 private:
  void refill();
  uint64_t key_ = 0;        // two 32-bit Philox key words
  uint64_t counter_hi_ = 0;  // upper 64 bits of the 128-bit counter: the stream's salt
  uint64_t counter_lo_ = 0;  // block index
  uint32_t buf_[4] = {0, 0, 0, 0};
  int pos_ = 4;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// 64-bit mixing function (splitmix64 finaliser), used to derive keys from indices.
uint64_t mix64(uint64_t x);

}  // namespace bilevel

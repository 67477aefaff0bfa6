#include "tensor/rng.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "base/errors.hpp"

namespace bilevel {

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

namespace {
uint64_t derive_key(uint64_t seed, const uint64_t* idx, size_t n) {
  uint64_t k = mix64(seed ^ 0x5851F42D4C957F2Dull);
  for (size_t i = 0; i < n; ++i) k = mix64(k ^ mix64(idx[i] + 0x632BE59BD9B4E019ull * (i + 1)));
  return k;
}

// Philox4x32 with 10 rounds (Salmon et al., SC'11): counter (4×32 bits), key (2×32 bits).
inline void philox4x32_10(uint32_t ctr[4], uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = static_cast<uint64_t>(M0) * ctr[0];
    const uint64_t p1 = static_cast<uint64_t>(M1) * ctr[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    const uint32_t n0 = hi1 ^ ctr[1] ^ k0;
    const uint32_t n1 = lo1;
    const uint32_t n2 = hi0 ^ ctr[3] ^ k1;
    const uint32_t n3 = lo0;
    ctr[0] = n0;
    ctr[1] = n1;
    ctr[2] = n2;
    ctr[3] = n3;
    k0 += W0;
    k1 += W1;
  }
}
}  // namespace

Rng::Rng(uint64_t seed, std::initializer_list<uint64_t> stream)
    : key_(derive_key(seed, stream.begin(), stream.size())), counter_hi_(mix64(key_ ^ 0xA5A5A5A5ull)) {}

Rng::Rng(uint64_t seed, const std::vector<uint64_t>& stream)
    : key_(derive_key(seed, stream.data(), stream.size())), counter_hi_(mix64(key_ ^ 0xA5A5A5A5ull)) {}

Rng Rng::split(uint64_t index) const {
  Rng child(*this);
  child.key_ = mix64(key_ ^ mix64(index + 0x2545F4914F6CDD1Dull));
  child.counter_hi_ = mix64(child.key_ ^ 0xA5A5A5A5ull);
  child.counter_lo_ = 0;
  child.pos_ = 4;
  child.has_spare_ = false;
  return child;
}

void Rng::refill() {
  uint32_t ctr[4] = {static_cast<uint32_t>(counter_lo_), static_cast<uint32_t>(counter_lo_ >> 32),
                     static_cast<uint32_t>(counter_hi_), static_cast<uint32_t>(counter_hi_ >> 32)};
  philox4x32_10(ctr, static_cast<uint32_t>(key_), static_cast<uint32_t>(key_ >> 32));
  for (int i = 0; i < 4; ++i) buf_[i] = ctr[i];
  ++counter_lo_;
  pos_ = 0;
}

uint32_t Rng::next_u32() {
  if (pos_ >= 4) refill();
  return buf_[pos_++];
}

uint64_t Rng::next_u64() {
  const uint64_t hi = next_u32();
  return (hi << 32) | next_u32();
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // Box–Muller on (0, 1]: 1 − u avoids log(0).
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double a = 2.0 * std::numbers::pi * u2;
  spare_ = r * std::sin(a);
  has_spare_ = true;
  return r * std::cos(a);
}

bool Rng::bernoulli(double p) { return uniform() < p; }

int64_t Rng::randint(int64_t n) {
  if (n <= 0) throw internal_error("Rng::randint: n must be positive, got " + std::to_string(n));
  const uint64_t un = static_cast<uint64_t>(n);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % un;  // rejection keeps it unbiased
  uint64_t x;
  do {
    x = next_u64();
  } while (x >= limit);
  return static_cast<int64_t>(x % un);
}

void Rng::fill_normal(Tensor& t, double mean, double stddev) {
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<real>(mean + stddev * normal());
}

void Rng::fill_uniform(Tensor& t, double lo, double hi) {
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<real>(uniform(lo, hi));
}

Tensor Rng::normal_tensor(const Shape& s, double mean, double stddev) {
  Tensor t(s);
  fill_normal(t, mean, stddev);
  return t;
}

Tensor Rng::uniform_tensor(const Shape& s, double lo, double hi) {
  Tensor t(s);
  fill_uniform(t, lo, hi);
  return t;
}

std::vector<int64_t> Rng::permutation(int64_t n) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(randint(i + 1))]);
  return p;
}

}  // namespace bilevel

#pragma once
// Tensors in the exact binary messages of base/bytes.hpp: shape, then the values with their bits.
#include "base/bytes.hpp"
#include "tensor/tensor.hpp"

namespace bilevel {

inline void put_tensor(ByteWriter& w, const Tensor& t) {
  w.put_vector(t.numel() == 0 ? std::vector<int64_t>{} : t.shape().to_vector());
  w.put<uint8_t>(t.numel() == 0 ? 0 : 1);
  if (t.numel() > 0) w.put_array(t.data(), static_cast<size_t>(t.numel()));
}

inline Tensor get_tensor(ByteReader& r) {
  const std::vector<int64_t> dims = r.get_vector<int64_t>();
  if (r.get<uint8_t>() == 0) return {};
  int64_t numel = 1;
  for (int64_t d : dims) {
    BILEVEL_CHECK(d >= 0 && d <= (int64_t(1) << 40), "message: bad tensor dimension");
    numel *= d;
    BILEVEL_CHECK(numel <= (int64_t(1) << 40), "message: tensor too large");
  }
  Tensor t{Shape(dims)};
  r.get_array_into(t.data(), static_cast<size_t>(t.numel()));
  return t;
}

}  // namespace bilevel

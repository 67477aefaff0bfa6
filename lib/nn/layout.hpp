#pragma once
// ParamLayout: where each named parameter tensor of a model lives in its one flat parameter vector θ.
//
// Entries are contiguous and in order: entries[0].offset == 0, entries[k+1].offset ==
// entries[k].offset + entries[k].shape.numel(), and size == Σ numel. A model reads entry e as
// ad::view(theta, e.offset, e.shape), so every estimator treats θ as a plain (P,) vector.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/tensor.hpp"

namespace bilevel::nn {

struct ParamEntry {
  std::string name;   // e.g. "layer0.weight", "conv2.weight", "bn2.gamma", "head.bias"
  int64_t offset = 0;  // first element in θ
  Shape shape;
};

struct ParamLayout {
  std::vector<ParamEntry> entries;
  int64_t size = 0;  // total number of parameters P

  // Appends an entry at offset `size` and grows `size`. Requires a name not used yet and a shape with
  // at least one element; throws internal_error otherwise. Returns (a copy of) the new entry.
  ParamEntry add(const std::string& name, const Shape& shape);
  // The entry called `name`; throws internal_error listing the names if there is none.
  const ParamEntry& find(const std::string& name) const;
  // [{"name": ..., "offset": ..., "shape": [...]}, ...] in layout order.
  nlohmann::json to_json() const;
};

}  // namespace bilevel::nn

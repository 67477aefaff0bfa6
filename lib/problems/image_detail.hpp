#pragma once
// Shared by the image problems that work on pixels rather than feature vectors (invariance-learning, inr):
// loading MNIST/Fashion-MNIST as square images in [0, 1], the image_size option (average-pooled down by an integer
// factor) and picking examples. Internal to lib/problems.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "base/options.hpp"
#include "data/data_dir.hpp"
#include "data/datasets.hpp"
#include "tensor/tensor.hpp"

namespace bilevel::images {

struct Images {
  Tensor x;                   // (n, s, s, 1), pixels in [0, 1]
  std::vector<int64_t> y;     // n labels
  int64_t n() const { return static_cast<int64_t>(y.size()); }
};

// A loaded dataset of square images and the side the problem works at.
struct Source {
  data::Dataset ds;
  int64_t side = 0;        // the dataset's image side (28 for MNIST)
  int64_t out_side = 0;    // image_size: side / factor
};

inline OptionSpec image_size_option(int64_t def) {
  return opt_int("image_size", def, "image side after average-pooling the 28×28 images by an integer factor (4, 7, 14 or 28)",
                 2, 4096);
}

// Loads `dataset` and checks that its images are square and that `image_size` divides their side (option_error
// listing the valid sizes otherwise). data_error when files are missing or bad.
inline Source load_source(const std::string& problem, const std::string& dataset, const std::string& data_dir_option,
                          bool verify, int64_t image_size) {
  Source s;
  s.ds = data::load_dataset(dataset, data::resolve_data_dir(data_dir_option), verify);
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(s.ds.features))));
  if (side * side != s.ds.features || s.ds.scale <= 0) {
    throw option_error(problem + ": dataset " + dataset + " is not square images (" + std::to_string(s.ds.features) +
                       " features); use mnist or fashion");
  }
  if (image_size < 4 || image_size > side || side % image_size != 0) {
    std::string valid;
    for (int64_t k = 4; k <= side; ++k)
      if (side % k == 0) valid += (valid.empty() ? "" : ", ") + std::to_string(k);
    throw option_error(problem + ": option 'image_size' = " + std::to_string(image_size) + " does not divide " + dataset +
                       "'s " + std::to_string(side) + "×" + std::to_string(side) + " images into whole pixels (valid: " +
                       valid + ")");
  }
  s.side = side;
  s.out_side = image_size;
  return s;
}

// Throws option_error unless the pool has `need` examples.
inline void require_examples(const std::string& problem, const std::string& dataset, const char* pool, int64_t have,
                             int64_t need, const std::string& what) {
  if (need > have) {
    throw option_error(problem + ": dataset " + dataset + " has " + std::to_string(have) + " examples in its " + pool +
                       " pool, fewer than " + what + " = " + std::to_string(need));
  }
}

// Examples `index` of `pool` as (k, s, s, 1) images in [0, 1], average-pooled from side to out_side.
inline Images take(const Source& src, const data::Examples& pool, const std::vector<int64_t>& index) {
  const int64_t k = static_cast<int64_t>(index.size()), s = src.out_side, f = src.side / src.out_side;
  Images out;
  out.x = Tensor(Shape{k, s, s, 1});
  const double norm = 1.0 / (src.ds.scale * static_cast<double>(f * f));
  for (int64_t r = 0; r < k; ++r) {
    const int64_t i = index[static_cast<size_t>(r)];
    const float* img = pool.x.data() + i * pool.d;
    for (int64_t a = 0; a < s; ++a)
      for (int64_t b = 0; b < s; ++b) {
        double acc = 0;
        for (int64_t da = 0; da < f; ++da)
          for (int64_t db = 0; db < f; ++db) acc += img[(a * f + da) * src.side + (b * f + db)];
        out.x[(r * s + a) * s + b] = static_cast<real>(acc * norm);
      }
    out.y.push_back(pool.y[static_cast<size_t>(i)]);
  }
  return out;
}

}  // namespace bilevel::images

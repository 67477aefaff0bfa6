#include "run/run_dir.hpp"

#include <cmath>
#include <cstring>

#include "base/errors.hpp"
#include "base/number_text.hpp"

namespace bilevel {

namespace fs = std::filesystem;

void write_tensor_bin(const fs::path& path, const Tensor& t) {
  sys::write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(t.data()),
                                                static_cast<size_t>(t.numel()) * sizeof(real)));
}

Tensor read_tensor_bin(const fs::path& path, const Shape& shape, const std::string& dtype) {
  const size_t width = dtype == "float64" ? 8 : dtype == "float32" ? 4 : 0;
  if (width == 0) throw usage_error(path.string() + ": unknown dtype '" + dtype + "' (float32 or float64)");
  const std::string bytes = sys::read_file(path);
  if (bytes.size() != static_cast<size_t>(shape.numel()) * width) {
    throw usage_error(path.string() + ": " + std::to_string(bytes.size()) + " bytes, expected " +
                      std::to_string(shape.numel() * static_cast<int64_t>(width)) + " for " + dtype + " " +
                      shape.str());
  }
  Tensor t(shape);
  for (int64_t i = 0; i < shape.numel(); ++i) {
    if (width == 8) {
      double v;
      std::memcpy(&v, bytes.data() + i * 8, 8);
      t[i] = static_cast<real>(v);
    } else {
      float v;
      std::memcpy(&v, bytes.data() + i * 4, 4);
      t[i] = static_cast<real>(v);
    }
  }
  return t;
}

nlohmann::json lambda_summary(const Tensor& lambda) {
  nlohmann::json lam;
  lam["file"] = "lambda.bin";
  lam["dtype"] = sizeof(real) == 8 ? "float64" : "float32";
  lam["shape"] = lambda.shape().to_vector();
  lam["norm"] = json_number(std::sqrt(norm2(lambda)));
  double mn = INFINITY, mx = -INFINITY, mean = 0;
  for (int64_t i = 0; i < lambda.numel(); ++i) {
    mn = std::min(mn, static_cast<double>(lambda[i]));
    mx = std::max(mx, static_cast<double>(lambda[i]));
    mean += lambda[i];
  }
  lam["min"] = json_number(mn);
  lam["max"] = json_number(mx);
  lam["mean"] = json_number(mean / static_cast<double>(std::max<int64_t>(1, lambda.numel())));
  if (lambda.numel() <= 16) {
    nlohmann::json vals = nlohmann::json::array();
    for (int64_t i = 0; i < lambda.numel(); ++i) vals.push_back(json_number(lambda[i]));
    lam["values"] = vals;
  }
  return lam;
}

void write_run_result(const fs::path& dir, const Tensor& lambda, const nlohmann::json& result) {
  write_tensor_bin(dir / "lambda.bin", lambda);
  sys::write_json_atomic(dir / "result.json", result);
}

}  // namespace bilevel

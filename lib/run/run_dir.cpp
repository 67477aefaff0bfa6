#include "run/run_dir.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "base/errors.hpp"
#include "base/number_text.hpp"
#include "base/options.hpp"

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

namespace {

constexpr int64_t max_npy_elements = int64_t(1) << 31;

// The value of `key` in a .npy header dict ("{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }"):
// the text after "'key':" up to the next top-level comma (a tuple's commas are inside its parentheses).
std::string npy_header_value(const std::string& header, const std::string& key) {
  const auto at = header.find("'" + key + "'");
  if (at == std::string::npos) return "";
  auto i = header.find(':', at);
  if (i == std::string::npos) return "";
  ++i;
  int depth = 0;
  std::string out;
  for (; i < header.size(); ++i) {
    const char c = header[i];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if ((c == ',' && depth == 0) || c == '}') break;
    if (c != ' ') out += c;
  }
  return out;
}

}  // namespace

std::string npy_bytes(const Tensor& t) {
  std::string header = std::string("{'descr': '<f") + (sizeof(real) == 8 ? "8" : "4") +
                       "', 'fortran_order': False, 'shape': (" + std::to_string(t.numel()) + ",), }";
  // Magic (6) + version (2) + length (2) + header + '\n', padded with spaces to a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(reinterpret_cast<const char*>(t.data()), static_cast<size_t>(t.numel()) * sizeof(real));
  return out;
}

Tensor read_npy(const fs::path& path) {
  const std::string bytes = sys::read_file(path);
  auto bad = [&](const std::string& why) -> usage_error {
    return usage_error(path.string() + ": " + why + " (expected a NumPy .npy file of float32 or float64 values)");
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw bad("not a .npy file");
  const int major = static_cast<unsigned char>(bytes[6]);
  const size_t len_bytes = major == 1 ? 2 : 4;
  if (major < 1 || major > 3 || bytes.size() < 8 + len_bytes) throw bad("unknown .npy version");
  size_t header_len = 0;
  for (size_t k = 0; k < len_bytes; ++k) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + k])) << (8 * k);
  const size_t data_at = 8 + len_bytes + header_len;
  if (header_len > 65536 || data_at > bytes.size()) throw bad("truncated header");
  const std::string header = bytes.substr(8 + len_bytes, header_len);
  const std::string descr = npy_header_value(header, "descr"), order = npy_header_value(header, "fortran_order");
  const size_t width = descr == "'<f8'" ? 8 : descr == "'<f4'" ? 4 : 0;
  if (width == 0) throw bad("dtype " + (descr.empty() ? std::string("missing") : descr) + " is not float32 or float64");
  if (order != "False") throw bad("Fortran order");
  std::string shape = npy_header_value(header, "shape");
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') throw bad("malformed shape");
  int64_t numel = 1;
  std::stringstream dims(shape.substr(1, shape.size() - 2));
  for (std::string d; std::getline(dims, d, ',');) {
    if (d.empty()) continue;
    const int64_t n = parse_int("shape", d);
    if (n < 0 || n > max_npy_elements || (numel *= n) > max_npy_elements) throw bad("shape " + shape + " is too large");
  }
  if (bytes.size() - data_at != static_cast<size_t>(numel) * width) {
    throw bad(std::to_string(bytes.size() - data_at) + " bytes of data for shape " + shape);
  }
  Tensor t(Shape{numel});
  for (int64_t i = 0; i < numel; ++i) {
    if (width == 8) {
      double v;
      std::memcpy(&v, bytes.data() + data_at + static_cast<size_t>(i) * 8, 8);
      t[i] = static_cast<real>(v);
    } else {
      float v;
      std::memcpy(&v, bytes.data() + data_at + static_cast<size_t>(i) * 4, 4);
      t[i] = static_cast<real>(v);
    }
  }
  return t;
}

Tensor read_saved_lambda(const fs::path& path, const std::string& what) {
  std::error_code ec;
  const bool dir = fs::is_directory(path, ec);
  if (!dir && path.extension() == ".npy") return read_npy(path);
  const fs::path run = dir ? path : path.parent_path();
  if (!dir && path.filename() != "lambda.bin") {
    throw usage_error(what + " '" + path.string() + "': expected a run directory, a .npy file or a run's lambda.bin");
  }
  if (!fs::exists(run / "result.json", ec)) {
    throw usage_error(what + " '" + path.string() + "': " + (run / "result.json").string() +
                      " not found (a run's λ is written when it ends; an unfinished run can be continued with "
                      "`train --resume`)");
  }
  const nlohmann::json res = sys::read_json(run / "result.json");
  const nlohmann::json lam = res.is_object() ? res.value("lambda", nlohmann::json()) : nlohmann::json();
  if (!lam.is_object() || !lam.contains("shape") || !lam["shape"].is_array() || !lam.contains("dtype") ||
      !lam["dtype"].is_string()) {
    throw usage_error(what + " '" + path.string() + "': " + (run / "result.json").string() + " has no λ record");
  }
  std::vector<int64_t> dims;
  for (const auto& d : lam["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > max_npy_elements) {
      throw usage_error((run / "result.json").string() + ": bad λ shape " + lam["shape"].dump());
    }
    dims.push_back(d.get<int64_t>());
  }
  return read_tensor_bin(run / "lambda.bin", Shape(dims), lam["dtype"].get<std::string>());
}

nlohmann::json lambda_summary(const Tensor& lambda, const nlohmann::json& layout) {
  nlohmann::json lam;
  lam["file"] = "lambda.bin";
  lam["npy"] = "lambda.npy";
  lam["dtype"] = sizeof(real) == 8 ? "float64" : "float32";
  lam["shape"] = lambda.shape().to_vector();
  if (!layout.is_null()) lam["layout"] = layout;
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

CurveLog::CurveLog(const fs::path& path, int64_t keep_bytes) : file_(path, keep_bytes), bytes_(keep_bytes) {
  const std::string kept = sys::read_file(path);  // exactly keep_bytes now: the file was cut back
  rows_ = static_cast<int64_t>(std::count(kept.begin(), kept.end(), '\n'));
}

void add_curve_record(nlohmann::json& result, const CurveLog& curve) {
  result["curve_rows"] = curve.rows();
}

void write_run_result(const fs::path& dir, const Tensor& lambda, const nlohmann::json& result) {
  write_tensor_bin(dir / "lambda.bin", lambda);
  sys::write_file_atomic(dir / "lambda.npy", npy_bytes(lambda));
  sys::write_json_atomic(dir / "result.json", result);
}

}  // namespace bilevel

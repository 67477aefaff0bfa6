#pragma once
// The files of a run directory (README "Run directory"):
//
//   config.json  fully resolved options, seed, version, build, threads (written first)
//   curve.jsonl  one row per logged outer step (appended as the run goes)
//   lambda.bin   final λ, raw `real` values (dtype and shape in result.json)
//   result.json  status, final metrics, totals (written last, atomically)
//
// Every write goes through lib/sys, so each one is checked and a failure names the file.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "sys/files.hpp"
#include "tensor/tensor.hpp"

namespace bilevel {

// curve.jsonl: one JSON object per line, each line written to the OS whole as soon as it is logged.
class CurveLog {
 public:
  explicit CurveLog(const std::filesystem::path& path) : file_(path) {}
  void write_row(const nlohmann::json& row) { file_.append(row.dump() + "\n"); }
  void close() { file_.close(); }

 private:
  sys::OutputFile file_;
};

// Raw little-endian `real` values, written atomically; the dtype and shape go in result.json.
void write_tensor_bin(const std::filesystem::path& path, const Tensor& t);
// Reads values written as `dtype` (float32 | float64) into a `real` tensor of `shape`. Throws usage_error
// naming the file for an unknown dtype or a size that does not match the shape.
Tensor read_tensor_bin(const std::filesystem::path& path, const Shape& shape, const std::string& dtype);

// result.json's "lambda" record: file, dtype, shape, norm, min, max, mean, and the values when λ has ≤ 16.
nlohmann::json lambda_summary(const Tensor& lambda);

// Writes lambda.bin, then result.json (both atomically: a killed run never leaves a half result).
void write_run_result(const std::filesystem::path& dir, const Tensor& lambda, const nlohmann::json& result);

}  // namespace bilevel

#pragma once
// The files of a run directory (README "Run directory"):
//
//   config.json      fully resolved options, seed, version, build, threads, command line, start time, host
//                    (written first)
//   curve.jsonl      one row per logged outer step (appended as the run goes)
//   checkpoint.json  the state to continue from (run/checkpoint.hpp), every checkpoint_every steps
//   lambda.bin       final λ, raw `real` values (dtype, shape and layout in result.json)
//   lambda.npy       the same values as a NumPy array: np.load("RUN/lambda.npy")
//   result.json      status, final metrics, totals (written last, atomically)
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
  // Continues a curve after a checkpoint: keeps its first `keep_bytes` bytes (rows logged after the
  // checkpoint are cut off, to be logged again) and appends after them.
  CurveLog(const std::filesystem::path& path, int64_t keep_bytes);
  void write_row(const nlohmann::json& row) {
    const std::string line = row.dump() + "\n";
    file_.append(line);
    bytes_ += static_cast<int64_t>(line.size());
    ++rows_;
  }
  void close() { file_.close(); }
  int64_t bytes() const { return bytes_; }  // the file's length: whole rows only
  int64_t rows() const { return rows_; }

 private:
  sys::OutputFile file_;
  int64_t bytes_ = 0, rows_ = 0;
};

// result.json's record of its curve ("curve_rows": a pure function of the run, unlike its length in bytes,
// which holds timings), so that a reader can tell a curve that belongs to the result from one that was cut,
// spliced or replaced afterwards.
void add_curve_record(nlohmann::json& result, const CurveLog& curve);
// (run/compare_runs.hpp: curve_mismatch tells whether a curve still matches its result.)

// Raw little-endian `real` values, written atomically; the dtype and shape go in result.json.
void write_tensor_bin(const std::filesystem::path& path, const Tensor& t);
// Reads values written as `dtype` (float32 | float64) into a `real` tensor of `shape`. Throws usage_error
// naming the file for an unknown dtype or a size that does not match the shape.
Tensor read_tensor_bin(const std::filesystem::path& path, const Shape& shape, const std::string& dtype);

// A NumPy .npy file (format 1.0) of a 1-D `real` tensor: np.load gives a float32 (float64 build) array.
std::string npy_bytes(const Tensor& t);
// Reads a 1-D (or any C-order shape, flattened) little-endian float32 or float64 .npy file into a `real`
// tensor. Throws usage_error naming the file for anything else (another dtype, Fortran order, a bad header).
Tensor read_npy(const std::filesystem::path& path);

// result.json's "lambda" record: file, npy, dtype, shape, layout (Problem::lambda_layout: name, offset, shape
// of each block), norm, min, max, mean, and the values when λ has ≤ 16 entries.
nlohmann::json lambda_summary(const Tensor& lambda, const nlohmann::json& layout = nullptr);

// Writes lambda.bin and lambda.npy, then result.json (each atomically: a killed run never leaves a half result).
void write_run_result(const std::filesystem::path& dir, const Tensor& lambda, const nlohmann::json& result);

// The λ a run directory holds (lambda.bin, with the dtype and shape of its result.json), or the λ of a .npy or
// lambda.bin file (a lambda.bin file needs its run's result.json beside it). `what` names the option or
// argument in messages. Throws usage_error naming the file when there is none or it is damaged.
Tensor read_saved_lambda(const std::filesystem::path& path, const std::string& what);

}  // namespace bilevel

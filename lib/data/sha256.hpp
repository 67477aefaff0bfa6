#pragma once
// SHA-256 (FIPS 180-4) of bytes and of files, as lower-case hex: the checksums the dataset manifest
// pins (datasets/manifest.json) and `bilevel-opt datasets verify` recomputes.
#include <cstddef>
#include <cstdint>
#include <string>

namespace bilevel::data {

// Incremental hasher: update() any number of times, then hex_digest() once.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t bytes);
  std::string hex_digest();  // finalises; the object must not be updated afterwards

 private:
  void block(const unsigned char* p);
  uint32_t h_[8];
  unsigned char buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string sha256_hex(const std::string& bytes);
// Hash of a file's raw bytes (compressed files are hashed as stored). Throws std::runtime_error naming
// the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace bilevel::data

#pragma once
// Shared by the libFuzzer targets (one file per target in this folder; see CMakeLists.txt).
//
// A target feeds the fuzzer's bytes to the same parser entry point the program uses (from memory), treats
// data_error — the parser refusing bad input, exit 2 in the program — as the expected outcome, and lets
// anything else escape: another exception, a sanitizer report or a broken invariant (BILEVEL_FUZZ_CHECK)
// is a crash that libFuzzer saves and reports.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "data/data_dir.hpp"

// A property every accepted input must have; aborts (a libFuzzer crash) with the message when it fails.
#define BILEVEL_FUZZ_CHECK(cond)                                                   \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

namespace bilevel::fuzz {

inline std::string_view bytes_of(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f && static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// `bytes` as one gzip member (level 1: fuzzing wants many executions, not small output).
inline std::string gzip(std::string_view bytes) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&z, static_cast<uLong>(bytes.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Runs `parse`; returns false when the parser refused the input with a data_error (the expected outcome
// for bad input), true when it accepted it. Every other exception escapes and is reported as a crash.
template <class F>
bool accepted(F&& parse) {
  try {
    parse();
    return true;
  } catch (const data::data_error&) {
    return false;
  }
}

}  // namespace bilevel::fuzz

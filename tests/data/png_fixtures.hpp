#pragma once
// PNG files built by hand (chunks, zlib, CRC) for the decoder tests: formats our encoder does not write
// (partial transparency, colour palettes), damaged chunks, and headers that lie about the image size.
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/png.hpp"

namespace bilevel::testing {

inline void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

// Appends chunk `type` with `data` and its CRC.
inline void put_chunk(std::vector<uint8_t>& out, const char* type, const std::vector<uint8_t>& data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put_be32(out, static_cast<uint32_t>(crc32(0, out.data() + start, static_cast<uInt>(out.size() - start))));
}

// A non-interlaced PNG: IHDR(width, height, bit_depth, color_type), the `before_idat` chunks (e.g. PLTE, tRNS),
// IDAT = zlib(each row prefixed by filter byte 0), IEND. `rows` holds the packed scanlines back to back.
struct RawChunk {
  std::string type;
  std::vector<uint8_t> data;
};
inline std::vector<uint8_t> raw_png(uint32_t width, uint32_t height, int bit_depth, int color_type,
                                    const std::vector<uint8_t>& rows, const std::vector<RawChunk>& before_idat = {}) {
  std::vector<uint8_t> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {static_cast<uint8_t>(bit_depth), static_cast<uint8_t>(color_type), 0, 0, 0});
  put_chunk(png, "IHDR", ihdr);
  for (const auto& c : before_idat) put_chunk(png, c.type.c_str(), c.data);
  std::vector<uint8_t> filtered;
  const size_t row_bytes = height ? rows.size() / height : 0;
  for (uint32_t y = 0; y < height; ++y) {
    filtered.push_back(0);
    filtered.insert(filtered.end(), rows.begin() + static_cast<long>(y * row_bytes),
                    rows.begin() + static_cast<long>((y + 1) * row_bytes));
  }
  uLongf zlen = compressBound(static_cast<uLong>(filtered.size()));
  std::vector<uint8_t> z(zlen);
  if (compress(z.data(), &zlen, filtered.data(), static_cast<uLong>(filtered.size())) != Z_OK) {
    throw std::runtime_error("zlib compress failed");
  }
  z.resize(zlen);
  put_chunk(png, "IDAT", z);
  put_chunk(png, "IEND", {});
  return png;
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

}  // namespace bilevel::testing

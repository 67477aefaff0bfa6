#pragma once
// PNG images through libpng: decoding any PNG to 8-bit grey, encoding 8-bit grey (in any storage format, so
// tests can write the bit depths and colour types real files use).
//
// Decoding accepts every colour type (grey, grey+alpha, palette, RGB, RGBA), bit depths 1/2/4/8/16 and Adam7
// interlacing, and returns one byte per pixel as stored in the picture (0 black … 255 white): sub-byte grey is
// scaled to 0..255, 16-bit is reduced to its high byte, colour becomes luminance (libpng's sRGB weights
// 0.2126/0.7152/0.0722), and transparency (alpha channel or tRNS) is composited over white. The image's
// declared width, height and pixel count are checked against PngLimits after the header and *before* anything
// is allocated for pixels; libpng's own chunk-memory limit is set too, so a crafted file cannot make the
// decoder allocate more than about max_pixels + max_chunk_bytes.
//
// Errors: every libpng error (bad signature, CRC mismatch, truncated data, corrupt zlib stream, invalid
// header) and every limit violation is a data_error "<name>: <what> (<what a valid input is>)". libpng reports
// errors by longjmp; the code that calls libpng keeps no C++ object with a destructor in the frames a longjmp
// can skip (see png.cpp), so no destructor is ever bypassed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bilevel::data {

// An 8-bit grey image, row-major, width × height bytes.
struct GrayImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;
  uint8_t at(int64_t y, int64_t x) const { return pixels[static_cast<size_t>(y * width + x)]; }
};

// Bounds on untrusted input. The defaults admit any reasonable picture (a 4096² scan) and reject memory
// bombs: a 1×10⁹ header, a 10 GB file.
struct PngLimits {
  uint32_t max_width = 4096;
  uint32_t max_height = 4096;
  uint64_t max_pixels = uint64_t{1} << 24;        // 16.8 Mpixel
  uint64_t max_file_bytes = uint64_t{64} << 20;   // read_png only: larger files are refused before reading
  uint64_t max_chunk_bytes = uint64_t{8} << 20;   // libpng's limit for one decompressed ancillary chunk
};

// Decodes a PNG held in memory (the fuzzing entry point: it never reads files, never aborts, and throws
// nothing but data_error and std::bad_alloc). `name` only labels the error messages.
GrayImage decode_png(const uint8_t* data, size_t size, const PngLimits& limits = {},
                     const std::string& name = "<memory>");

// Reads and decodes the file `path` (refused unreadable, not a regular file, or larger than
// limits.max_file_bytes before it is read). Errors name `path`.
GrayImage read_png(const std::string& path, const PngLimits& limits = {});

// How encode_png stores an image. The grey values are quantised to the bit depth (v·(2^d−1)/255, rounded)
// or expanded (16-bit: v·257); palette images use a grey palette of 2^d entries; colour types repeat the grey
// value in R, G and B; alpha channels are opaque (255 / 65535).
struct PngFormat {
  enum class Color { gray, gray_alpha, palette, rgb, rgba };
  Color color = Color::gray;
  int bit_depth = 8;     // gray: 1, 2, 4, 8, 16; palette: 1, 2, 4, 8; the others: 8, 16
  bool interlaced = false;  // Adam7
};

// Encodes `image` (width, height ≥ 1, pixels.size() == width·height) as PNG bytes. Invalid image or format
// is an internal error (a bug in the caller).
std::vector<uint8_t> encode_png(const GrayImage& image, const PngFormat& format = {});

// Writes `image` as an 8-bit grey PNG to `path`, whole or not at all (sys::write_file_atomic: every write,
// the fsync and the rename checked; io_error naming the file otherwise). Callers refuse a `path` that exists
// and is not a regular file before calling (the rename would replace it).
void write_png(const std::string& path, const GrayImage& image);

}  // namespace bilevel::data

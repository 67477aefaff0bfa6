#include "data/png.hpp"

#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/errors.hpp"
#include "data/data_dir.hpp"
#include "sys/files.hpp"

namespace bilevel::data {

namespace {

// libpng reports errors by calling our error function, which must not return: it records the message and
// longjmps back to the setjmp in decode_rows / encode_rows. Everything those functions and the callbacks
// touch lives in a Job owned by the caller's frame (and is destroyed there, normally), so the longjmp skips
// no destructor: the frames it unwinds hold only plain pointers and integers.
struct ErrorSink {
  char message[256] = {0};
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* sink = static_cast<ErrorSink*>(png_get_error_ptr(png));
  std::snprintf(sink->message, sizeof sink->message, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // warnings (bad ancillary CRCs, …) are not errors

// ---- decoding ----------------------------------------------------------------------------------------------

struct DecodeJob {
  ErrorSink sink;
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  PngLimits limits;
  png_structp png = nullptr;
  png_infop info = nullptr;
  png_uint_32 width = 0, height = 0;
  int channels = 0;
  bool over_limit = false;  // the header declared a size beyond the limits (message in sink)
  std::vector<uint8_t> raw;  // height × width × channels after the transforms
  std::vector<png_bytep> rows;

  ~DecodeJob() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

void on_png_read(png_structp png, png_bytep out, size_t n) {
  auto* job = static_cast<DecodeJob*>(png_get_io_ptr(png));
  if (n > job->size - job->pos) png_error(png, "truncated: the data ends inside a chunk");
  std::memcpy(out, job->data + job->pos, n);
  job->pos += n;
}

// Sets up the transforms to 8-bit grey (+ alpha), checks the declared size, allocates and reads the rows.
// Returns false on a libpng error or a limit violation (message in job.sink). May throw std::bad_alloc
// (then job's destructor frees libpng's structures).
bool decode_rows(DecodeJob& job) {
  if (setjmp(png_jmpbuf(job.png))) return false;
  png_set_read_fn(job.png, &job, on_png_read);
  png_set_chunk_malloc_max(job.png, static_cast<png_alloc_size_t>(job.limits.max_chunk_bytes));
  png_read_info(job.png, job.info);
  int bit_depth = 0, color_type = 0;
  png_get_IHDR(job.png, job.info, &job.width, &job.height, &bit_depth, &color_type, nullptr, nullptr, nullptr);
  if (job.width > job.limits.max_width || job.height > job.limits.max_height ||
      uint64_t{job.width} * job.height > job.limits.max_pixels) {
    std::snprintf(job.sink.message, sizeof job.sink.message,
                  "declared size %ux%u exceeds the limit (at most %ux%u and %llu pixels)", job.width, job.height,
                  job.limits.max_width, job.limits.max_height,
                  static_cast<unsigned long long>(job.limits.max_pixels));
    job.over_limit = true;
    return false;
  }
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(job.png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(job.png);
  if (png_get_valid(job.png, job.info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(job.png);
  if (bit_depth == 16) png_set_scale_16(job.png);
  if ((color_type & PNG_COLOR_MASK_COLOR) != 0) png_set_rgb_to_gray_fixed(job.png, 1, -1, -1);
  png_set_interlace_handling(job.png);
  png_read_update_info(job.png, job.info);
  job.channels = png_get_channels(job.png, job.info);
  const size_t row_bytes = png_get_rowbytes(job.png, job.info);
  if ((job.channels != 1 && job.channels != 2) || png_get_bit_depth(job.png, job.info) != 8 ||
      row_bytes != size_t{job.width} * static_cast<size_t>(job.channels)) {
    png_error(job.png, "unexpected pixel format after conversion to 8-bit grey");
  }
  job.raw.resize(row_bytes * job.height);
  job.rows.resize(job.height);
  for (png_uint_32 y = 0; y < job.height; ++y) job.rows[y] = job.raw.data() + size_t{y} * row_bytes;
  png_read_image(job.png, job.rows.data());
  png_read_end(job.png, nullptr);  // checks the CRCs up to IEND: a file cut after the pixels is refused
  return true;
}

// ---- encoding ----------------------------------------------------------------------------------------------

struct EncodeJob {
  ErrorSink sink;
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::vector<uint8_t> out;
  std::vector<uint8_t> packed;  // the rows in the stored format
  std::vector<png_bytep> rows;
  std::vector<png_color> palette;

  ~EncodeJob() {
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
  }
};

void on_png_write(png_structp png, png_bytep data, size_t n) {
  auto* job = static_cast<EncodeJob*>(png_get_io_ptr(png));
  bool ok = true;
  try {
    job->out.insert(job->out.end(), data, data + n);
  } catch (...) {
    ok = false;
  }
  if (!ok) png_error(png, "out of memory");
}

void on_png_flush(png_structp) {}

bool encode_rows(EncodeJob& job, uint32_t width, uint32_t height, int color_type, int bit_depth, bool interlaced) {
  if (setjmp(png_jmpbuf(job.png))) return false;
  png_set_write_fn(job.png, &job, on_png_write, on_png_flush);
  png_set_IHDR(job.png, job.info, width, height, bit_depth, color_type,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!job.palette.empty()) png_set_PLTE(job.png, job.info, job.palette.data(), static_cast<int>(job.palette.size()));
  png_write_info(job.png, job.info);
  png_write_image(job.png, job.rows.data());  // handles the Adam7 passes itself
  png_write_end(job.png, nullptr);
  return true;
}

// Stores `sample` as sample number `index` of `row` with `bits` bits per sample (sub-byte: MSB first; 16-bit:
// big-endian), as PNG lays out scanlines.
void put_sample(uint8_t* row, int64_t index, int bits, uint32_t sample) {
  if (bits == 16) {
    row[2 * index] = static_cast<uint8_t>(sample >> 8);
    row[2 * index + 1] = static_cast<uint8_t>(sample & 0xff);
  } else if (bits == 8) {
    row[index] = static_cast<uint8_t>(sample);
  } else {
    const int64_t bit = index * bits;
    const int shift = 8 - bits - static_cast<int>(bit % 8);
    row[bit / 8] = static_cast<uint8_t>(row[bit / 8] | (sample << shift));
  }
}

}  // namespace

GrayImage decode_png(const uint8_t* data, size_t size, const PngLimits& limits, const std::string& name) {
  if (size == 0) throw data_error(name + ": empty file (expected a PNG image)");
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
    throw data_error(name + ": not a PNG file (no PNG signature; expected a PNG image)");
  }
  DecodeJob job;
  job.data = data;
  job.size = size;
  job.limits = limits;
  job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job.sink, on_png_error, on_png_warning);
  if (!job.png) throw std::bad_alloc();
  job.info = png_create_info_struct(job.png);
  if (!job.info) throw std::bad_alloc();
  if (!decode_rows(job)) {
    if (job.over_limit) throw data_error(name + ": PNG " + job.sink.message);
    throw data_error(name + ": corrupt or invalid PNG (libpng: " + job.sink.message + ")");
  }
  GrayImage img;
  img.width = job.width;
  img.height = job.height;
  if (job.channels == 1) {
    img.pixels = std::move(job.raw);
    return img;
  }
  // Grey + alpha over a white background: v = (g·a + 255·(255 − a)) / 255, rounded.
  img.pixels.resize(size_t{job.width} * job.height);
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    const uint32_t g = job.raw[2 * i], a = job.raw[2 * i + 1];
    img.pixels[i] = static_cast<uint8_t>((g * a + 255 * (255 - a) + 127) / 255);
  }
  return img;
}

GrayImage read_png(const std::string& path, const PngLimits& limits) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw data_error(path + ": no such file (expected a PNG image)");
  if (!fs::is_regular_file(st)) throw data_error(path + ": not a regular file (expected a PNG image)");
  const uintmax_t bytes = fs::file_size(path, ec);
  if (ec) throw data_error(path + ": cannot read (" + ec.message() + ")");
  if (bytes > limits.max_file_bytes) {
    throw data_error(path + ": " + std::to_string(bytes) + " bytes, more than the limit of " +
                     std::to_string(limits.max_file_bytes) + " for a PNG image");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw data_error(path + ": cannot read (" + std::strerror(errno) + ")");
  std::vector<uint8_t> buf(static_cast<size_t>(bytes));
  in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(bytes));
  if (static_cast<uintmax_t>(in.gcount()) != bytes) throw data_error(path + ": cannot read all " + std::to_string(bytes) + " bytes");
  return decode_png(buf.data(), buf.size(), limits, path);
}

std::vector<uint8_t> encode_png(const GrayImage& image, const PngFormat& format) {
  using Color = PngFormat::Color;
  BILEVEL_CHECK(image.width >= 1 && image.height >= 1 && image.width <= 1000000 && image.height <= 1000000 &&
                    image.pixels.size() == static_cast<size_t>(image.width * image.height),
                "encode_png: bad image geometry");
  const int d = format.bit_depth;
  const bool sub_byte_ok = format.color == Color::gray || format.color == Color::palette;
  BILEVEL_CHECK(d == 8 || (d == 16 && format.color != Color::palette) || (sub_byte_ok && (d == 1 || d == 2 || d == 4)),
                "encode_png: bit depth " + std::to_string(d) + " is not valid for this colour type");
  int color_type = PNG_COLOR_TYPE_GRAY, samples = 1;
  switch (format.color) {
    case Color::gray: break;
    case Color::gray_alpha: color_type = PNG_COLOR_TYPE_GRAY_ALPHA; samples = 2; break;
    case Color::palette: color_type = PNG_COLOR_TYPE_PALETTE; break;
    case Color::rgb: color_type = PNG_COLOR_TYPE_RGB; samples = 3; break;
    case Color::rgba: color_type = PNG_COLOR_TYPE_RGB_ALPHA; samples = 4; break;
  }
  EncodeJob job;
  const uint32_t max_sample = (1u << d) - 1;
  if (format.color == Color::palette) {
    for (uint32_t i = 0; i <= max_sample; ++i) {
      const auto g = static_cast<png_byte>((i * 255 + max_sample / 2) / max_sample);
      job.palette.push_back(png_color{g, g, g});
    }
  }
  const size_t row_bytes = (static_cast<size_t>(image.width) * samples * d + 7) / 8;
  job.packed.assign(row_bytes * static_cast<size_t>(image.height), 0);
  for (int64_t y = 0; y < image.height; ++y) {
    uint8_t* row = job.packed.data() + static_cast<size_t>(y) * row_bytes;
    for (int64_t x = 0; x < image.width; ++x) {
      const uint32_t v = image.at(y, x);
      const uint32_t q = d == 16 ? v * 257 : (v * max_sample + 127) / 255;
      for (int s = 0; s < samples; ++s) {
        const bool alpha = (samples == 2 && s == 1) || (samples == 4 && s == 3);
        put_sample(row, x * samples + s, d, alpha ? max_sample : q);
      }
    }
    job.rows.push_back(row);
  }
  job.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job.sink, on_png_error, on_png_warning);
  if (!job.png) throw std::bad_alloc();
  job.info = png_create_info_struct(job.png);
  if (!job.info) throw std::bad_alloc();
  if (!encode_rows(job, static_cast<uint32_t>(image.width), static_cast<uint32_t>(image.height), color_type, d,
                   format.interlaced)) {
    if (std::strcmp(job.sink.message, "out of memory") == 0) throw std::bad_alloc();
    throw internal_error(std::string("encode_png: libpng: ") + job.sink.message);
  }
  return std::move(job.out);
}

void write_png(const std::string& path, const GrayImage& image) {
  const std::vector<uint8_t> bytes = encode_png(image);
  sys::write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace bilevel::data

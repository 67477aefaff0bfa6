#include "data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "base/errors.hpp"

namespace bilevel::data {

namespace {

constexpr int64_t kPiece = int64_t(1) << 20;  // compressed data grows its buffer by at most this per read

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "×" : "") + std::to_string(d[i]);
  return s.empty() ? "()" : s;
}

// Reads exactly n bytes (n small: magic and header) or says the input ends early.
void read_exact(ByteInput& in, void* dst, size_t n, const std::string& part) {
  const size_t got = in.read(dst, n);
  if (got < n) {
    in.fail("truncated: the " + part + " needs " + std::to_string(n) + " bytes, the file ends after " +
            std::to_string(got));
  }
}

[[noreturn]] void fail_truncated(ByteInput& in, const std::string& part, int64_t need, int64_t have) {
  in.fail("truncated: the " + part + " needs " + std::to_string(need) + " bytes, the file ends after " +
          std::to_string(have));
}

}  // namespace

IdxArray read_idx(const std::string& path, const std::vector<int64_t>& expected_dims, const std::string& fetch_hint) {
  ByteInput in = ByteInput::open_file(
      path, fetch_hint, expected_dims.empty() ? "" : " (expected an IDX file of " + dims_text(expected_dims) + " bytes)");
  return read_idx(in, expected_dims);
}

IdxArray read_idx(ByteInput& in, const std::vector<int64_t>& expected_dims) {
  unsigned char magic[4];
  read_exact(in, magic, 4, "IDX magic number");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] < 1 || magic[3] > 4) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3]);
    in.fail(std::string("not an IDX file of unsigned bytes: magic ") + buf +
            ", expected 00 00 08 0N (N = 1..4 dimensions)" +
            (expected_dims.empty() ? "" : ", here 00 00 08 0" + std::to_string(expected_dims.size())));
  }
  IdxArray out;
  const int ndim = magic[3];
  unsigned char dimbuf[16];
  read_exact(in, dimbuf, static_cast<size_t>(4 * ndim), "IDX header");
  int64_t total = 1;
  bool too_big = false;
  for (int i = 0; i < ndim; ++i) {
    const int64_t d = (int64_t(dimbuf[4 * i]) << 24) | (int64_t(dimbuf[4 * i + 1]) << 16) |
                      (int64_t(dimbuf[4 * i + 2]) << 8) | int64_t(dimbuf[4 * i + 3]);
    out.dims.push_back(d);
    too_big = too_big || __builtin_mul_overflow(total, d, &total) || total > kMaxDecompressedBytes;
  }
  if (!expected_dims.empty() && out.dims != expected_dims) {
    in.fail("IDX header says " + dims_text(out.dims) + ", expected " + dims_text(expected_dims));
  }
  if (too_big) {
    in.fail("IDX header dimensions " + dims_text(out.dims) + " promise more than " +
            std::to_string(kMaxDecompressedBytes) + " bytes of data, the limit for one data file");
  }
  const std::string part = "data (" + dims_text(out.dims) + ")";
  if (!in.compressed()) {
    // The length is known: refuse a header the file cannot back before allocating for it.
    const int64_t have = in.remaining();
    if (have < total) fail_truncated(in, part, total, have);
    if (have > total) {
      in.fail("trailing bytes after the " + dims_text(out.dims) + " data bytes the header promises (" +
              std::to_string(have - total) + " more)");
    }
    out.data.resize(static_cast<size_t>(total));
    const size_t got = in.read(out.data.data(), out.data.size());
    if (static_cast<int64_t>(got) < total) fail_truncated(in, part, total, static_cast<int64_t>(got));
  } else {
    // The length is unknown until the end: grow with what really arrives.
    int64_t got = 0;
    while (got < total) {
      const int64_t piece = std::min(total - got, kPiece);
      out.data.resize(static_cast<size_t>(got + piece));
      const size_t r = in.read(out.data.data() + got, static_cast<size_t>(piece));
      got += static_cast<int64_t>(r);
      if (static_cast<int64_t>(r) < piece) fail_truncated(in, part, total, got);
    }
  }
  // Nothing may follow; reading to the end also makes zlib check the gzip CRC and length.
  unsigned char extra;
  if (in.read(&extra, 1) > 0) {
    in.fail("trailing bytes after the " + dims_text(out.dims) + " data bytes the header promises");
  }
  return out;
}

void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data,
               bool gzip) {
  int64_t total = 1;
  bool overflow = false;
  for (int64_t d : dims) overflow = overflow || d < 0 || __builtin_mul_overflow(total, d, &total);
  if (dims.empty() || dims.size() > 4 || overflow || static_cast<int64_t>(data.size()) != total) {
    throw internal_error("write_idx: " + std::to_string(data.size()) + " bytes for dimensions " + dims_text(dims));
  }
  using GzFile = std::unique_ptr<gzFile_s, int (*)(gzFile)>;
  GzFile f(gzopen(path.c_str(), gzip ? "wb6" : "wbT"), &gzclose);
  if (!f) throw io_error(path + ": cannot open for writing");
  std::vector<unsigned char> head{0, 0, 0x08, static_cast<unsigned char>(dims.size())};
  for (int64_t d : dims)
    for (int s = 24; s >= 0; s -= 8) head.push_back(static_cast<unsigned char>((d >> s) & 0xff));
  bool ok = gzwrite(f.get(), head.data(), static_cast<unsigned>(head.size())) == static_cast<int>(head.size());
  if (!data.empty()) ok = ok && gzwrite(f.get(), data.data(), static_cast<unsigned>(data.size())) == static_cast<int>(data.size());
  if (!ok || gzclose(f.release()) != Z_OK) throw io_error(path + ": write failed");
}

}  // namespace bilevel::data

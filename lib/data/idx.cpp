#include "data/idx.hpp"

#include <zlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

#include "base/errors.hpp"
#include "data/data_dir.hpp"

namespace bilevel::data {

namespace {

using GzFile = std::unique_ptr<gzFile_s, int (*)(gzFile)>;

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "×" : "") + std::to_string(d[i]);
  return s.empty() ? "()" : s;
}

[[noreturn]] void fail(const std::string& path, const std::string& what, const std::string& hint) {
  std::string msg = path + ": " + what;
  if (!hint.empty()) msg += "; fetch it with " + hint;
  throw data_error(msg);
}

// Reads exactly n bytes or says why not: "truncated" when the stream ends early, zlib's message when the
// compressed stream is corrupt.
void read_exact(gzFile f, void* dst, int64_t n, const std::string& path, const std::string& part,
                const std::string& hint) {
  auto* p = static_cast<unsigned char*>(dst);
  int64_t got = 0;
  while (got < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - got, 1 << 30));
    const int r = gzread(f, p + got, chunk);
    if (r < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      fail(path, "corrupt compressed data while reading the " + part + " (zlib: " + msg + ")", hint);
    }
    if (r == 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      std::string why = "truncated: the " + part + " needs " + std::to_string(n) + " bytes, the file ends after " +
                        std::to_string(got);
      if (errnum != Z_OK) why += " (zlib: " + std::string(msg) + ")";
      fail(path, why, hint);
    }
    got += r;
  }
}

}  // namespace

IdxArray read_idx(const std::string& path, const std::vector<int64_t>& expected_dims, const std::string& fetch_hint) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    fail(path, std::string("missing") +
                   (expected_dims.empty() ? "" : " (expected an IDX file of " + dims_text(expected_dims) + " bytes)"),
         fetch_hint);
  }
  GzFile f(gzopen(path.c_str(), "rb"), &gzclose);
  if (!f) fail(path, "cannot open for reading", fetch_hint);
  gzbuffer(f.get(), 1 << 17);

  unsigned char magic[4];
  read_exact(f.get(), magic, 4, path, "IDX magic number", fetch_hint);
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] < 1 || magic[3] > 4) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3]);
    fail(path,
         std::string("not an IDX file of unsigned bytes: magic ") + buf + ", expected 00 00 08 0N (N = 1..4 dimensions)" +
             (expected_dims.empty() ? "" : ", here 00 00 08 0" + std::to_string(expected_dims.size())),
         fetch_hint);
  }
  IdxArray out;
  const int ndim = magic[3];
  unsigned char dimbuf[16];
  read_exact(f.get(), dimbuf, 4 * ndim, path, "IDX header", fetch_hint);
  int64_t total = 1;
  for (int i = 0; i < ndim; ++i) {
    const int64_t d = (int64_t(dimbuf[4 * i]) << 24) | (int64_t(dimbuf[4 * i + 1]) << 16) |
                      (int64_t(dimbuf[4 * i + 2]) << 8) | int64_t(dimbuf[4 * i + 3]);
    out.dims.push_back(d);
    total *= d;
  }
  if (!expected_dims.empty() && out.dims != expected_dims) {
    fail(path, "IDX header says " + dims_text(out.dims) + ", expected " + dims_text(expected_dims), fetch_hint);
  }
  if (total > (int64_t(1) << 34)) fail(path, "IDX header dimensions " + dims_text(out.dims) + " are implausible", fetch_hint);
  out.data.resize(static_cast<size_t>(total));
  read_exact(f.get(), out.data.data(), total, path, "data (" + dims_text(out.dims) + ")", fetch_hint);
  // Nothing may follow; reading to the end also makes zlib check the gzip CRC and length.
  unsigned char extra;
  const int r = gzread(f.get(), &extra, 1);
  if (r < 0) {
    int errnum = 0;
    const char* msg = gzerror(f.get(), &errnum);
    fail(path, std::string("corrupt compressed data after the last byte of data (zlib: ") + msg + ")", fetch_hint);
  }
  if (r > 0) fail(path, "trailing bytes after the " + dims_text(out.dims) + " data bytes the header promises", fetch_hint);
  int errnum = 0;
  const char* msg = gzerror(f.get(), &errnum);
  if (errnum != Z_OK) fail(path, std::string("corrupt compressed data (zlib: ") + msg + ")", fetch_hint);
  return out;
}

void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data,
               bool gzip) {
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  if (dims.empty() || dims.size() > 4 || static_cast<int64_t>(data.size()) != total) {
    throw internal_error("write_idx: " + std::to_string(data.size()) + " bytes for dimensions " + dims_text(dims));
  }
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

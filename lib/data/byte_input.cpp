#define ZLIB_CONST  // inflate's input pointer is const: memory input is read in place
#include "data/byte_input.hpp"

#include <zlib.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <new>

#include "base/errors.hpp"
#include "data/data_dir.hpp"

namespace bilevel::data {

namespace {
constexpr size_t kChunk = size_t(1) << 16;  // stored bytes read from a file at a time; read-ahead for lines
constexpr size_t kMaxPull = UINT_MAX;      // zlib counts input and output in unsigned int
}  // namespace

// zlib's inflate state. On the heap: zlib keeps a pointer back to the z_stream, so it must not move.
struct ByteInput::Inflater {
  z_stream z{};
  bool member_ended = false;  // the last gzip member ended (its CRC and length checked)
  bool done = false;          // ... and no stored bytes follow it
  Inflater() {
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();  // 16: gzip wrapper only
  }
  ~Inflater() { inflateEnd(&z); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
};

ByteInput::ByteInput(std::string name, std::string hint) : name_(std::move(name)), hint_(std::move(hint)) {}
ByteInput::ByteInput(ByteInput&&) noexcept = default;
ByteInput& ByteInput::operator=(ByteInput&&) noexcept = default;
ByteInput::~ByteInput() = default;

ByteInput ByteInput::open_file(const std::string& path, const std::string& fetch_hint,
                               const std::string& missing_detail) {
  ByteInput in(path, fetch_hint);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) in.fail("missing" + missing_detail);
  in.file_.reset(std::fopen(path.c_str(), "rb"));
  struct stat st {};
  if (!in.file_ || fstat(fileno(in.file_.get()), &st) != 0) {
    in.fail(std::string("cannot open for reading (") + std::strerror(errno) + ")");
  }
  in.source_size_ = static_cast<int64_t>(st.st_size);
  in.chunk_.resize(kChunk);
  in.start();
  return in;
}

ByteInput ByteInput::from_memory(std::string_view bytes, const std::string& name, const std::string& fetch_hint) {
  ByteInput in(name, fetch_hint);
  in.mem_ = bytes;
  in.source_size_ = static_cast<int64_t>(bytes.size());
  in.start();
  return in;
}

void ByteInput::fail(const std::string& what, int64_t line) const {
  std::string msg = name_ + (line > 0 ? ":" + std::to_string(line) : "") + ": " + what;
  if (!hint_.empty()) msg += "; fetch it with " + hint_;
  throw data_error(msg);
}

void ByteInput::start() {
  const unsigned char* head = reinterpret_cast<const unsigned char*>(mem_.data());
  size_t have = mem_.size();
  if (file_) {  // read the first chunk ahead; pull_source serves it first
    chunk_len_ = std::fread(chunk_.data(), 1, chunk_.size(), file_.get());
    if (std::ferror(file_.get())) throw io_error(name_ + ": read error (" + std::strerror(errno) + ")");
    head = chunk_.data();
    have = chunk_len_;
  }
  if (have >= 2 && head[0] == 0x1f && head[1] == 0x8b) zs_ = std::make_unique<Inflater>();
}

int64_t ByteInput::remaining() const {
  if (zs_) return -1;
  return source_size_ - pulled_ + static_cast<int64_t>(buf_len_ - buf_pos_);
}

size_t ByteInput::pull_source(const unsigned char** chunk, size_t max) {
  max = std::min(max, kMaxPull);
  if (!file_) {
    const size_t n = std::min(max, mem_.size() - static_cast<size_t>(pulled_));
    *chunk = reinterpret_cast<const unsigned char*>(mem_.data()) + pulled_;
    pulled_ += static_cast<int64_t>(n);
    return n;
  }
  if (chunk_pos_ == chunk_len_) {
    chunk_pos_ = 0;
    chunk_len_ = std::fread(chunk_.data(), 1, chunk_.size(), file_.get());
    if (std::ferror(file_.get())) throw io_error(name_ + ": read error (" + std::strerror(errno) + ")");
  }
  const size_t n = std::min(max, chunk_len_ - chunk_pos_);
  *chunk = chunk_.data() + chunk_pos_;
  chunk_pos_ += n;
  pulled_ += static_cast<int64_t>(n);
  return n;
}

size_t ByteInput::inflate_into(unsigned char* dst, size_t n) {
  Inflater& s = *zs_;
  size_t produced = 0;
  while (produced < n && !s.done) {
    if (s.z.avail_in == 0) {
      const unsigned char* p = nullptr;
      const size_t got = pull_source(&p, kMaxPull);
      if (got == 0) {
        if (s.member_ended) {
          s.done = true;
          break;
        }
        fail("truncated compressed data: the gzip stream ends after " + std::to_string(decoded_ + int64_t(produced)) +
             " decompressed bytes");
      }
      s.z.next_in = p;
      s.z.avail_in = static_cast<uInt>(got);
    }
    if (s.member_ended) {  // stored bytes after a complete member: another member, or garbage
      if (s.z.next_in[0] != 0x1f) fail("trailing bytes after the end of the gzip stream");
      if (inflateReset(&s.z) != Z_OK) throw internal_error("inflateReset failed");
      s.member_ended = false;
    }
    const size_t want = std::min(n - produced, kMaxPull);
    const uInt in_before = s.z.avail_in;
    s.z.next_out = dst + produced;
    s.z.avail_out = static_cast<uInt>(want);
    const int r = inflate(&s.z, Z_NO_FLUSH);
    produced += want - s.z.avail_out;
    if (r == Z_STREAM_END) {
      s.member_ended = true;
    } else if (r == Z_MEM_ERROR) {
      throw std::bad_alloc();
    } else if (r != Z_OK && r != Z_BUF_ERROR) {
      fail(std::string("corrupt compressed data (zlib: ") + (s.z.msg ? s.z.msg : zError(r)) + ")");
    } else if (s.z.avail_out == want && s.z.avail_in == in_before) {
      fail("corrupt compressed data (zlib made no progress)");  // cannot happen with input and output space
    }
  }
  decoded_ += static_cast<int64_t>(produced);
  if (decoded_ > max_decoded_) {
    fail("decompresses to more than " + std::to_string(max_decoded_) +
         " bytes, the limit for one data file (a damaged or hostile gzip stream?)");
  }
  return produced;
}

size_t ByteInput::read_decoded(unsigned char* dst, size_t n) {
  if (zs_) return inflate_into(dst, n);
  size_t produced = 0;
  while (produced < n) {
    const unsigned char* p = nullptr;
    const size_t got = pull_source(&p, n - produced);
    if (got == 0) break;
    std::memcpy(dst + produced, p, got);
    produced += got;
  }
  return produced;
}

size_t ByteInput::read(void* dst, size_t n) {
  auto* out = static_cast<unsigned char*>(dst);
  const size_t buffered = std::min(n, buf_len_ - buf_pos_);
  if (buffered > 0) std::memcpy(out, buf_.data() + buf_pos_, buffered);
  buf_pos_ += buffered;
  if (buffered == n) return n;
  return buffered + read_decoded(out + buffered, n - buffered);
}

bool ByteInput::read_line(std::string& line) {
  line.clear();
  while (true) {
    if (buf_pos_ == buf_len_) {
      buf_.resize(kChunk);
      buf_pos_ = 0;
      buf_len_ = read_decoded(buf_.data(), buf_.size());
      if (buf_len_ == 0) return !line.empty();
    }
    const unsigned char* begin = buf_.data() + buf_pos_;
    const auto* nl = static_cast<const unsigned char*>(std::memchr(begin, '\n', buf_len_ - buf_pos_));
    const size_t take = nl ? static_cast<size_t>(nl - begin) : buf_len_ - buf_pos_;
    line.append(reinterpret_cast<const char*>(begin), take);
    buf_pos_ += take;
    if (nl) {
      ++buf_pos_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return true;
    }
  }
}

}  // namespace bilevel::data

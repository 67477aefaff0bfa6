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
//
// A write never replaces or follows what is not a regular file: a target that exists as a directory, a
// symbolic link, a device, a FIFO or a socket is refused (usage_error, exit 2) before anything is written.
// Test hook: BILEVEL_FAULT=write:NAME[@N] makes the N-th (default: first) write to a file named NAME fail with
// ENOSPC, as a disk that fills up would.
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
// Throws usage_error if `path` exists (lstat: a link is not followed) and is not a regular file.
void refuse_non_regular(const std::filesystem::path& path);
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

// Checks, before any work is done, that `target` of option `flag` can be written: "-" (standard output) always;
// otherwise not an existing non-regular file, a name of at most NAME_MAX bytes and a path of at most PATH_MAX,
// in an existing, writable directory. Throws option_error "FLAG 'TARGET': …".
void check_output_target(const std::string& target, const std::string& flag);
// Writes a whole output the user named: "-" to standard output (checked, flushed), else write_file_atomic.
void write_output(const std::string& target, std::string_view bytes);

// Checks that standard output took everything written to it (a full disk or a closed pipe behind `>`); throws
// io_error "cannot write to standard output: …" otherwise.
void check_stdout();

// An exclusive (or shared) advisory lock (flock) on DIR/.lock, held until destruction. The exclusive holder
// writes "PID HOST WHAT" into the file, so a refused process can name it. A lock dies with its process, so a
// killed holder never leaves a stale lock.
class DirLock {
 public:
  enum class Mode { exclusive, shared };
  // Throws option_error "FLAG 'DIR' is in use by WHAT (pid P on HOST); …" when another process holds it.
  // `name`: the lock file in DIR (several independent locks may live in one directory).
  DirLock(const std::filesystem::path& dir, const std::string& what, const std::string& flag,
          Mode mode = Mode::exclusive, const std::string& name = file_name);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  // Whether some other process holds DIR/.lock now; `holder` gets its description ("" when unknown).
  static bool held_by_other(const std::filesystem::path& dir, std::string* holder = nullptr);
  static constexpr const char* file_name = ".lock";
  // Whether `name` is one of the lock files DirLock writes (".lock", ".lock.…"): not part of a run's data.
  static bool is_lock_file(const std::string& name);

 private:
  int fd_ = -1;
  bool exclusive_ = false;
};

// Creates `dir` (and parents) and checks it is writable; throws option_error "FLAG 'DIR': …" otherwise, so the
// message names the option the directory came from.
void ensure_writable_dir(const std::filesystem::path& dir, const std::string& flag = "--out");

}  // namespace bilevel::sys

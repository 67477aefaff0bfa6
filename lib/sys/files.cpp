#include "sys/files.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>

#include "base/errors.hpp"
#include "sys/host.hpp"
#include "sys/process.hpp"

namespace bilevel::sys {

namespace fs = std::filesystem;

namespace {

std::string os_error() { return std::strerror(errno); }

[[noreturn]] void throw_write_error(const std::string& what, const fs::path& path, const std::string& err) {
  throw io_error("cannot " + what + " " + path.string() + ": " + err);
}

// BILEVEL_FAULT=write:NAME[@N]: ENOSPC for the N-th write (counted per process) to a file named NAME.
int injected_write_error(const fs::path& path) {
  const char* env = std::getenv("BILEVEL_FAULT");
  if (env == nullptr || std::strncmp(env, "write:", 6) != 0) return 0;
  std::string spec(env + 6);
  long nth = 1;
  if (const auto at = spec.rfind('@'); at != std::string::npos) {
    nth = std::strtol(spec.c_str() + at + 1, nullptr, 10);
    spec.resize(at);
  }
  if (path.filename().string() != spec) return 0;
  static std::mutex m;
  static std::map<std::string, long> seen;
  const std::lock_guard<std::mutex> lock(m);
  return ++seen[spec] == nth ? ENOSPC : 0;
}

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Writes all of `bytes` to `fd`, retrying short writes and EINTR. Returns 0 or the errno of the failure.
int write_all(int fd, std::string_view bytes, const fs::path& path) {
  if (const int err = injected_write_error(path)) return err;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

// The part of a temp name after ".tmp.": this host (with '/' and '.' replaced, so the name splits
// unambiguously) and the writer's pid.
std::string temp_host_tag() {
  std::string h = host_name();
  for (char& c : h)
    if (c == '/' || c == '.') c = '_';
  return h.empty() ? "host" : h;
}

fs::path temp_path_for(const fs::path& path) {
  std::string name = ".";
  name += path.filename().string();
  name += ".tmp.";
  name += temp_host_tag();
  name += ".";
  name += std::to_string(::getpid());
  return path.parent_path() / name;
}

}  // namespace

void refuse_non_regular(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw usage_error(path.string() + " exists and is " + file_kind(st.st_mode) +
                      ", not a regular file: refusing to replace it (choose another name)");
  }
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  refuse_non_regular(path);
  const fs::path tmp = temp_path_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) throw_write_error("write", tmp, os_error());
  int err = write_all(fd, bytes, path);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    throw_write_error("write", path, std::strerror(err));  // the file the user knows, not the temporary
  }
  try {
    refuse_non_regular(path);  // again: it may have appeared while the bytes were written
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string e = os_error();
    ::unlink(tmp.c_str());
    throw io_error("cannot rename " + tmp.string() + " to " + path.string() + ": " + e);
  }
}

void write_json_atomic(const fs::path& path, const nlohmann::json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

void remove_stale_temps(const fs::path& dir) {
  const std::string mine = ".tmp." + temp_host_tag() + ".";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto at = name.find(mine);
    if (name.empty() || name[0] != '.' || at == std::string::npos) continue;
    const std::string pid_text = name.substr(at + mine.size());
    long pid = 0;
    const auto res = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
    if (pid_text.empty() || res.ec != std::errc() || res.ptr != pid_text.data() + pid_text.size() || pid <= 0) continue;
    if (!process_exists(static_cast<int>(pid))) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

namespace {

// Opens `path` for writing without following a symbolic link and without blocking on a FIFO, and refuses
// anything but a regular file (usage_error). Returns the descriptor, in blocking mode again.
int open_regular_for_write(const fs::path& path, bool create) {
  refuse_non_regular(path);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0), 0644);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENXIO) refuse_non_regular(path);
    throw_write_error("write", path, os_error());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    refuse_non_regular(path);
    throw usage_error(path.string() + " is not a regular file: refusing to write to it");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const std::string e = os_error();
    ::close(fd);
    throw_write_error("write", path, e);
  }
  return fd;
}

}  // namespace

OutputFile::OutputFile(const fs::path& path) : path_(path) {
  fd_ = open_regular_for_write(path, /*create=*/true);
  if (::ftruncate(fd_, 0) != 0) throw_write_error("truncate", path_, os_error());
}

OutputFile::OutputFile(const fs::path& path, int64_t keep_bytes) : path_(path) {
  fd_ = open_regular_for_write(path, /*create=*/false);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw_write_error("write", path_, os_error());
  if (!S_ISREG(st.st_mode) || st.st_size < keep_bytes || keep_bytes < 0) {
    ::close(fd_);
    fd_ = -1;
    throw usage_error(path_.string() + ": " + std::to_string(static_cast<int64_t>(st.st_size)) +
                      " bytes, expected at least " + std::to_string(keep_bytes) + " (the checkpoint's share)");
  }
  if (::ftruncate(fd_, static_cast<off_t>(keep_bytes)) != 0 || ::lseek(fd_, 0, SEEK_END) < 0) {
    throw_write_error("truncate", path_, os_error());
  }
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void OutputFile::append(std::string_view bytes) {
  BILEVEL_CHECK(fd_ >= 0, "append to " + path_.string() + " after close");
  if (const int err = write_all(fd_, bytes, path_)) throw_write_error("write", path_, std::strerror(err));
}

void OutputFile::close() {
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw_write_error("write", path_, os_error());
}

std::string read_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw usage_error("cannot read " + path.string() + ": " + os_error());
  std::string out;
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string e = os_error();
      ::close(fd);
      throw usage_error("cannot read " + path.string() + ": " + e);
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

nlohmann::json read_json(const fs::path& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse errors, and numbers beyond double range (1e400)
    throw usage_error("corrupt JSON in " + path.string() + ": " + e.what());
  }
}

void check_output_target(const std::string& target, const std::string& flag) {
  if (target == "-") return;
  if (target.empty()) throw option_error(flag + ": empty file name");
  const fs::path path(target);
  auto refuse = [&](const std::string& why) -> option_error { return option_error(flag + " '" + target + "': " + why); };
  if (path.filename().string().size() > NAME_MAX) {
    throw refuse("the file name is longer than " + std::to_string(NAME_MAX) + " bytes");
  }
  if (target.size() >= PATH_MAX) throw refuse("the path is longer than " + std::to_string(PATH_MAX - 1) + " bytes");
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw refuse(std::string("exists and is ") + file_kind(st.st_mode) +
                 ", not a regular file: refusing to replace it (give a file name, or - for standard output)");
  }
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw refuse("the folder " + dir.string() + " does not exist");
  if (::access(dir.c_str(), W_OK) != 0) throw refuse("the folder " + dir.string() + " is not writable");
}

void write_output(const std::string& target, std::string_view bytes) {
  if (target != "-") {
    write_file_atomic(target, bytes);
    return;
  }
  std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  check_stdout();
}

void check_stdout() {
  std::cout.flush();
  if (!std::cout) throw io_error("cannot write to standard output");
  if (std::fflush(stdout) != 0) throw io_error(std::string("cannot write to standard output: ") + os_error());
}

// ---------------------------------------------------------------------------------------------------------
// Directory locks.

namespace {

// "PID HOST WHAT" of the lock file, "" if unreadable or empty.
std::string lock_holder_text(int fd) {
  char buf[512];
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

// "another-sweep (pid 123 on host)" from "123 host another-sweep".
std::string describe_holder(const std::string& text) {
  const auto a = text.find(' ');
  const auto b = a == std::string::npos ? a : text.find(' ', a + 1);
  if (b == std::string::npos) return text.empty() ? "another process" : text;
  return text.substr(b + 1) + " (pid " + text.substr(0, a) + " on " + text.substr(a + 1, b - a - 1) + ")";
}

int open_lock_file(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENXIO) refuse_non_regular(file);
    throw_write_error("create the lock", file, os_error());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    refuse_non_regular(file);
  }
  return fd;
}

}  // namespace

DirLock::DirLock(const fs::path& dir, const std::string& what, const std::string& flag, Mode mode,
                 const std::string& name) {
  fd_ = open_lock_file(dir / name);
  int rc;
  do {
    rc = ::flock(fd_, (mode == Mode::exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    const std::string holder = lock_holder_text(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw_write_error("lock", dir / name, std::strerror(err));
    throw option_error(flag + " '" + dir.string() + "' is in use by " +
                       (holder.empty() ? std::string("another process (a sharded sweep)") : describe_holder(holder)) +
                       "; wait for it to end or stop it, or choose another directory");
  }
  exclusive_ = mode == Mode::exclusive;
  if (exclusive_) {
    const std::string text = std::to_string(::getpid()) + " " + temp_host_tag() + " " + what + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
      const std::string e = os_error();
      ::close(fd_);
      fd_ = -1;
      throw_write_error("write", dir / name, e);
    }
  }
}

DirLock::~DirLock() {
  if (fd_ < 0) return;
  if (exclusive_) (void)!::ftruncate(fd_, 0);  // no stale holder text for the next (maybe shared) holder
  ::close(fd_);  // releases the lock; the file stays (removing it would race with a new holder)
}

bool DirLock::is_lock_file(const std::string& name) { return name == file_name || name.rfind(".lock.", 0) == 0; }

bool DirLock::held_by_other(const fs::path& dir, std::string* holder) {
  const fs::path file = dir / file_name;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  if (held && holder != nullptr) *holder = describe_holder(lock_holder_text(fd));
  ::close(fd);  // also releases the probe's own lock
  return held;
}

void ensure_writable_dir(const fs::path& dir, const std::string& flag) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw option_error(flag + " '" + dir.string() + "': cannot create directory (" +
                       (ec ? ec.message() : std::string("not a directory")) + ")");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    throw option_error(flag + " '" + dir.string() + "': directory is not writable");
  }
}

}  // namespace bilevel::sys

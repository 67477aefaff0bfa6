#include "sys/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

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

// Writes all of `bytes` to `fd`, retrying short writes and EINTR. Returns 0 or the errno of the failure.
int write_all(int fd, std::string_view bytes) {
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

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  const fs::path tmp = temp_path_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_write_error("write", tmp, os_error());
  int err = write_all(fd, bytes);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    throw_write_error("write", tmp, std::strerror(err));
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

OutputFile::OutputFile(const fs::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_write_error("write", path_, os_error());
}

OutputFile::OutputFile(const fs::path& path, int64_t keep_bytes) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd_ < 0) throw_write_error("write", path_, os_error());
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
  if (const int err = write_all(fd_, bytes)) throw_write_error("write", path_, std::strerror(err));
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
  } catch (const nlohmann::json::parse_error& e) {
    throw usage_error("corrupt JSON in " + path.string() + ": " + e.what());
  }
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

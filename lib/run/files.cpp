#include "run/files.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "base/options.hpp"

namespace bilevel {

namespace fs = std::filesystem;

void write_file_atomic(const fs::path& path, const std::string& contents) {
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw io_error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw io_error("cannot write " + tmp.string() + ": " + err);
    }
    done += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw io_error("cannot rename " + tmp.string() + " to " + path.string() + ": " + err);
  }
}

void write_json_atomic(const fs::path& path, const nlohmann::json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw usage_error("cannot read " + path.string() + ": " + std::strerror(errno));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw usage_error("corrupt JSON in " + path.string() + ": " + e.what());
  }
}

void write_tensor_bin(const fs::path& path, const Tensor& t) {
  write_file_atomic(path, std::string(reinterpret_cast<const char*>(t.data()),
                                      static_cast<size_t>(t.numel()) * sizeof(real)));
}

Tensor read_tensor_bin(const fs::path& path, const Shape& shape, const std::string& dtype) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw usage_error("cannot read " + path.string() + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  const size_t width = dtype == "float64" ? 8 : dtype == "float32" ? 4 : 0;
  if (width == 0) throw usage_error(path.string() + ": unknown dtype '" + dtype + "' (float32 or float64)");
  if (bytes.size() != static_cast<size_t>(shape.numel()) * width) {
    throw usage_error(path.string() + ": " + std::to_string(bytes.size()) + " bytes, expected " +
                             std::to_string(shape.numel() * static_cast<int64_t>(width)) + " for " + dtype + " " +
                             shape.str());
  }
  Tensor t(shape);
  for (int64_t i = 0; i < shape.numel(); ++i) {
    if (width == 8) {
      double v;
      std::memcpy(&v, bytes.data() + i * 8, 8);
      t[i] = static_cast<real>(v);
    } else {
      float v;
      std::memcpy(&v, bytes.data() + i * 4, 4);
      t[i] = static_cast<real>(v);
    }
  }
  return t;
}

void ensure_writable_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw option_error("--out '" + dir.string() + "': cannot create directory (" +
                       (ec ? ec.message() : std::string("not a directory")) + ")");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    throw option_error("--out '" + dir.string() + "': directory is not writable");
  }
}

int64_t peak_rss_bytes() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

nlohmann::json json_number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace bilevel

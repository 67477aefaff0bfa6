// checkpoint.json as text and back, without the optimizer, problem or estimator (run/checkpoint.hpp): the part of
// the checkpoint reader that sees the file's bytes, linked alone by the fuzz target fuzz/checkpoint.cpp.
#include <charconv>
#include <cmath>
#include <cstring>

#include "base/errors.hpp"
#include "run/checkpoint.hpp"

namespace bilevel {

namespace fs = std::filesystem;

namespace {

constexpr int checkpoint_version = 1;
constexpr int64_t max_checkpoint_tensor = int64_t(1) << 31;  // elements: far above any λ or chain state

const char* real_dtype() { return sizeof(real) == 8 ? "float64" : "float32"; }

// Raw little-endian bytes of a `real` tensor as hex, with its shape.
nlohmann::json tensor_json(const Tensor& t) {
  static const char digits[] = "0123456789abcdef";
  const auto* bytes = reinterpret_cast<const unsigned char*>(t.data());
  const size_t n = static_cast<size_t>(t.numel()) * sizeof(real);
  std::string hex(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    hex[2 * i] = digits[bytes[i] >> 4];
    hex[2 * i + 1] = digits[bytes[i] & 15];
  }
  return {{"shape", t.shape().to_vector()}, {"dtype", real_dtype()}, {"hex", hex}};
}

struct Reader {
  fs::path file;

  [[noreturn]] void fail(const std::string& what) const {
    throw usage_error(file.string() + ": " + what + " (not a checkpoint of this run; remove it to start over)");
  }
  const nlohmann::json& field(const nlohmann::json& j, const std::string& key) const {
    if (!j.is_object() || !j.contains(key)) fail("missing '" + key + "'");
    return j.at(key);
  }
  double number(const nlohmann::json& j, const std::string& key) const {
    const nlohmann::json& v = field(j, key);
    if (!v.is_string()) fail("'" + key + "' is not a hex-float string");
    return exact_double_parse(v.get<std::string>(), file.string() + " '" + key + "'");
  }
  int64_t integer(const nlohmann::json& j, const std::string& key) const {
    const nlohmann::json& v = field(j, key);
    if (!v.is_number_integer()) fail("'" + key + "' is not an integer");
    return v.get<int64_t>();
  }
  Tensor tensor(const nlohmann::json& j, const std::string& key) const {
    const nlohmann::json& t = field(j, key);
    const nlohmann::json& shape = field(t, "shape");
    const nlohmann::json& hex = field(t, "hex");
    if (field(t, "dtype") != real_dtype()) fail("'" + key + "' is not " + std::string(real_dtype()) + " (another build)");
    if (!shape.is_array() || shape.size() > 4 || !hex.is_string()) fail("'" + key + "' is malformed");
    std::vector<int64_t> dims;
    int64_t numel = 1;
    for (const auto& d : shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > max_checkpoint_tensor) fail("bad shape of '" + key + "'");
      dims.push_back(d.get<int64_t>());
      numel *= dims.back();
      if (numel > max_checkpoint_tensor) fail("'" + key + "' is too large");
    }
    const std::string& h = hex.get_ref<const std::string&>();
    if (h.size() != static_cast<size_t>(numel) * sizeof(real) * 2) fail("'" + key + "' has the wrong number of bytes");
    Tensor out{Shape(dims)};
    auto* bytes = reinterpret_cast<unsigned char*>(out.data());
    auto nibble = [&](char c) -> unsigned {
      if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
      if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
      fail("'" + key + "' is not hex");
    };
    for (size_t i = 0; i < h.size() / 2; ++i) bytes[i] = static_cast<unsigned char>(nibble(h[2 * i]) << 4 | nibble(h[2 * i + 1]));
    return out;
  }
};

nlohmann::json counters_json(const RunCounters& c) {
  return {{"step", c.step},
          {"grad_evals", c.grad_evals},
          {"hvps", c.hvps},
          {"cost", exact_double_text(c.cost)},
          {"peak_bytes", c.peak_bytes},
          {"est_seconds", exact_double_text(c.est_seconds)},
          {"eval_seconds", exact_double_text(c.eval_seconds)},
          {"wall_seconds", exact_double_text(c.wall_seconds)}};
}

RunCounters read_counters(const Reader& r, const nlohmann::json& j) {
  RunCounters c;
  c.step = r.integer(j, "step");
  c.grad_evals = r.integer(j, "grad_evals");
  c.hvps = r.integer(j, "hvps");
  c.cost = r.number(j, "cost");
  c.peak_bytes = r.integer(j, "peak_bytes");
  c.est_seconds = r.number(j, "est_seconds");
  c.eval_seconds = r.number(j, "eval_seconds");
  c.wall_seconds = r.number(j, "wall_seconds");
  if (c.step < 0 || c.grad_evals < 0 || c.hvps < 0 || !(c.cost >= 0)) r.fail("negative counters");
  return c;
}

// Named scalars in order, each as [name, hex-float].
nlohmann::json named_json(const std::vector<std::pair<std::string, double>>& values) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& [k, v] : values) a.push_back({k, exact_double_text(v)});
  return a;
}

std::vector<std::pair<std::string, double>> read_named(const Reader& r, const nlohmann::json& j, const std::string& key) {
  const nlohmann::json& a = r.field(j, key);
  if (!a.is_array()) r.fail("'" + key + "' is not a list");
  std::vector<std::pair<std::string, double>> out;
  for (const auto& e : a) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_string()) r.fail("malformed '" + key + "'");
    out.emplace_back(e[0].get<std::string>(), exact_double_parse(e[1].get<std::string>(), r.file.string() + " '" + key + "'"));
  }
  return out;
}

}  // namespace

std::string exact_double_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::hex);
  return "0x" + std::string(buf, res.ptr);
}

double exact_double_parse(const std::string& text, const std::string& what) {
  if (text == "nan") return NAN;
  if (text == "inf") return INFINITY;
  if (text == "-inf") return -INFINITY;
  const bool neg = !text.empty() && text[0] == '-';
  const std::string body = text.substr(neg ? 1 : 0);
  double v = 0;
  if (body.rfind("0x", 0) == 0) {
    const auto res = std::from_chars(body.data() + 2, body.data() + body.size(), v, std::chars_format::hex);
    if (res.ec == std::errc() && res.ptr == body.data() + body.size()) return neg ? -v : v;
  }
  throw usage_error(what + ": '" + text + "' is not a hex-float number");
}

std::string checkpoint_text(const CheckpointFields& f) {
  nlohmann::json j;
  j["version"] = checkpoint_version;
  j["identity"] = f.identity;
  j["counters"] = counters_json(f.counters);
  j["curve_bytes"] = f.curve_bytes;
  j["lambda"] = tensor_json(f.lambda);
  j["optimizer"] = {{"first_moment", tensor_json(f.first_moment)},
                    {"second_moment", tensor_json(f.second_moment)},
                    {"steps_taken", f.steps_taken}};
  nlohmann::json losses = nlohmann::json::array();
  for (double v : f.recent_losses) losses.push_back(exact_double_text(v));
  j["recent_losses"] = losses;
  j["last_eval"] = named_json(f.last_eval);
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& [name, t] : f.estimator.tensors) tensors.push_back({{"name", name}, {"tensor", tensor_json(t)}});
  j["estimator"] = {{"tensors", tensors}, {"scalars", named_json(f.estimator.scalars)}};
  return j.dump() + "\n";
}

CheckpointFields parse_checkpoint(std::string_view text, const fs::path& file) {
  const Reader r{file};
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    r.fail(std::string("not JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("version") || j["version"] != checkpoint_version) r.fail("unknown checkpoint version");
  CheckpointFields f;
  f.identity = r.field(j, "identity");
  f.counters = read_counters(r, r.field(j, "counters"));
  f.curve_bytes = r.integer(j, "curve_bytes");
  if (f.curve_bytes < 0) r.fail("negative 'curve_bytes'");
  f.lambda = r.tensor(j, "lambda");
  const nlohmann::json& opt = r.field(j, "optimizer");
  f.first_moment = r.tensor(opt, "first_moment");
  f.second_moment = r.tensor(opt, "second_moment");
  f.steps_taken = r.integer(opt, "steps_taken");
  if (f.first_moment.numel() != f.lambda.numel() || f.second_moment.numel() != f.lambda.numel() || f.steps_taken < 0) {
    r.fail("optimizer state of sizes " + f.first_moment.shape().str() + " and " + f.second_moment.shape().str() +
           " at step " + std::to_string(f.steps_taken) + " does not fit λ of " + f.lambda.shape().str());
  }
  const nlohmann::json& losses = r.field(j, "recent_losses");
  if (!losses.is_array() || losses.size() > 10) r.fail("malformed 'recent_losses'");
  for (const auto& v : losses) {
    if (!v.is_string()) r.fail("malformed 'recent_losses'");
    f.recent_losses.push_back(exact_double_parse(v.get<std::string>(), r.file.string() + " 'recent_losses'"));
  }
  f.last_eval = read_named(r, j, "last_eval");
  const nlohmann::json& est = r.field(j, "estimator");
  const nlohmann::json& tensors = r.field(est, "tensors");
  if (!tensors.is_array()) r.fail("malformed 'estimator'");
  for (const auto& t : tensors) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) r.fail("malformed 'estimator'");
    f.estimator.tensors.emplace_back(t["name"].get<std::string>(), r.tensor(t, "tensor"));
  }
  f.estimator.scalars = read_named(r, est, "scalars");
  return f;
}

}  // namespace bilevel

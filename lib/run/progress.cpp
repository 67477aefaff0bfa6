#include "run/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "sys/host.hpp"

namespace bilevel {

using clock_type = std::chrono::steady_clock;

std::string clock_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto total = static_cast<long long>(std::llround(s));
  char buf[32];
  if (total >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", total / 60, total % 60);
  }
  return buf;
}

std::string short_count(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a < 1e4) std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (a < 1e6) std::snprintf(buf, sizeof buf, "%.4gk", v / 1e3);
  else if (a < 1e9) std::snprintf(buf, sizeof buf, "%.4gM", v / 1e6);
  else std::snprintf(buf, sizeof buf, "%.4gG", v / 1e9);
  return buf;
}

ProgressLine::ProgressLine(const Budget& budget, double earlier_wall, std::string unit)
    : budget_(budget), earlier_wall_(earlier_wall), unit_(std::move(unit)), start_(clock_type::now()),
      last_draw_(start_) {}

namespace {

// The budget that binds first: its done/total text, e.g. "370/1000 steps", "148k/400k cost", "12/60 s".
std::string budget_text(const Budget& b, const RunCounters& c, const std::string& unit) {
  const double fs = b.steps > 0 ? static_cast<double>(c.step) / static_cast<double>(b.steps) : -1;
  const double fc = b.cost > 0 ? c.cost / b.cost : -1;
  const double ft = b.seconds > 0 ? c.est_seconds / b.seconds : -1;
  if (fc >= fs && fc >= ft) return short_count(c.cost) + "/" + short_count(b.cost) + " cost";
  if (ft > fs) return short_count(c.est_seconds) + "/" + short_count(b.seconds) + " s";
  return std::to_string(c.step) + "/" + std::to_string(b.steps) + " " + unit;
}

std::string bar(double f, int width) {
  static const char* eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
  const int cells = static_cast<int>(std::floor(f * width * 8));
  std::string s;
  for (int i = 0; i < cells / 8; ++i) s += "█";
  int used = cells / 8;
  if (used < width && cells % 8) s += eighths[cells % 8], ++used;
  s.append(static_cast<size_t>(width - used), ' ');
  return s;
}

}  // namespace

std::string ProgressLine::text(const RunCounters& c, const std::vector<std::pair<std::string, double>>& values,
                               double elapsed, double rate) const {
  const double f = budget_.fraction(c);
  const double session = elapsed - earlier_wall_;
  const double eta = f > 0 && session > 0 ? session * (1 - f) / f : NAN;
  char head[160];
  std::snprintf(head, sizeof head, "%3.0f%% |%s| %s [%s<%s, %.3g %s/s]", 100 * f, bar(f, 16).c_str(),
                budget_text(budget_, c, unit_).c_str(), clock_text(elapsed).c_str(), clock_text(eta).c_str(), rate,
                unit_.c_str());
  std::string line = head;
  for (const auto& [k, v] : values) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "  %s %.4g", k.c_str(), v);
    line += buf;
  }
  return line;
}

void ProgressLine::update(const RunCounters& c, const std::vector<std::pair<std::string, double>>& values, bool force) {
  const auto now = clock_type::now();
  if (start_step_ < 0) start_step_ = c.step;
  if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double session = std::chrono::duration<double>(now - start_).count();
  const double rate = session > 0 ? static_cast<double>(c.step - start_step_) / session : 0;
  std::string line = text(c, values, earlier_wall_ + session, rate);
  // Cut to the terminal's width counting code points (the bar's blocks are 3 bytes, one column each).
  const int width = sys::terminal_columns(STDERR_FILENO, 100) - 1;
  size_t cut = 0;
  int cols = 0;
  while (cut < line.size() && cols < width) {
    ++cut;
    while (cut < line.size() && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) ++cut;
    ++cols;
  }
  line.resize(cut);
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::clear() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace bilevel

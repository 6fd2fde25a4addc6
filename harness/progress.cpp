#include "harness/progress.h"

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

namespace crucible {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = static_cast<long>(s + 0.5);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
}

Progress::Progress(size_t total, size_t done, size_t correct, std::FILE* out, int tty, std::string label)
    : total_(total), done_(done), correct_(correct), start_done_(done), out_(out),
      tty_(tty < 0 ? ::isatty(fileno(out)) != 0 : tty != 0), label_(std::move(label)),
      start_(Clock::now()), last_print_(Clock::now()), last_print_done_(done) {
  std::lock_guard<std::mutex> lock(mu_);
  draw_locked(true);
}

size_t Progress::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

std::string Progress::line_locked() const {
  double el = std::chrono::duration<double>(Clock::now() - start_).count();
  size_t fresh = done_ - start_done_;
  double rate = el > 0 ? fresh / el : 0;
  size_t left = total_ > done_ ? total_ - done_ : 0;
  std::string eta = left == 0 ? "0s" : rate > 0 ? format_duration(left / rate) : "?";
  double pct = total_ ? 100.0 * done_ / total_ : 100.0;
  std::string acc = done_ ? fmt::format("{:.1f}%", 100.0 * correct_ / done_) : "-";
  if (tty_) {
    const int width = 24;
    int filled = total_ ? static_cast<int>(width * done_ / total_) : width;
    std::string bar(filled, '#');
    bar.append(width - filled, '.');
    return fmt::format("{} [{}] {}/{} samples {:.0f}%  {:.1f}/s  ETA {}  acc {}", label_, bar, done_, total_,
                       pct, rate, eta, acc);
  }
  return fmt::format("{}: {}/{} samples ({:.0f}%), {:.1f}/s, elapsed {}, ETA {}, accuracy {}", label_, done_,
                     total_, pct, rate, format_duration(el), eta, acc);
}

void Progress::draw_locked(bool force) {
  auto now = Clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  if (tty_) {
    if (!force && since < 0.1) return;
    std::fprintf(out_, "\r\033[K%s", line_locked().c_str());
    std::fflush(out_);
    drew_ = true;
  } else {
    size_t step = total_ >= 10 ? total_ / 10 : 1;
    if (!force && done_ - last_print_done_ < step && since < 10.0) return;
    std::fprintf(out_, "%s\n", line_locked().c_str());
    std::fflush(out_);
  }
  last_print_ = now;
  last_print_done_ = done_;
}

void Progress::add(size_t samples, size_t correct) {
  std::lock_guard<std::mutex> lock(mu_);
  done_ += samples;
  correct_ += correct;
  if (!finished_) draw_locked(false);
}

void Progress::message(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  if (tty_ && drew_) {
    std::fprintf(out_, "\r\033[K%s\n", line.c_str());
    if (!finished_) {
      std::fprintf(out_, "%s", line_locked().c_str());
    } else {
      drew_ = false;
    }
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s\n", line_locked().c_str());
  } else if (last_print_done_ != done_ || done_ == start_done_) {
    std::fprintf(out_, "%s\n", line_locked().c_str());
  }
  std::fflush(out_);
}

}  // namespace crucible

// Progress on a stream (stderr by default). On a TTY: one live line redrawn in place
// ("[####....] done/total samples  rate/s  ETA  acc"); otherwise a plain line every ~10% of the
// work or every 10 s, whichever comes first. Thread-safe.
#pragma once
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace crucible {

class Progress {
 public:
  // `done`/`correct`: samples already finished before this session (resume); they count toward
  // done/total and accuracy, not toward the rate. tty: -1 = detect with isatty(fileno(out)).
  Progress(size_t total, size_t done, size_t correct, std::FILE* out = stderr, int tty = -1,
           std::string label = "eval");
  void add(size_t samples, size_t correct);
  // Prints a message on its own line (keeps the live bar intact).
  void message(const std::string& line);
  // Final line (always printed).
  void finish();

  size_t done() const;
  bool is_tty() const { return tty_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::string line_locked() const;
  void draw_locked(bool force);

  mutable std::mutex mu_;
  size_t total_, done_, correct_, start_done_;
  std::FILE* out_;
  bool tty_;
  std::string label_;
  Clock::time_point start_, last_print_;
  size_t last_print_done_;
  bool finished_ = false;
  bool drew_ = false;
};

std::string format_duration(double seconds);  // "42s", "3m05s", "2h01m"

}  // namespace crucible

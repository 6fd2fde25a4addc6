#include "tasks/code/checker.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace crucible::code {
namespace {

std::vector<std::string_view> tokens(const std::string& s) {
  std::vector<std::string_view> t;
  size_t i = 0, n = s.size();
  while (i < n) {
    while (i < n && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t b = i;
    while (i < n && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > b) t.emplace_back(s.data() + b, i - b);
  }
  return t;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool parse_double(std::string_view s, double* out) {
  if (s.empty() || s.size() > 400) return false;
  std::string t(s);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return false;
  if (std::isnan(v)) return false;
  *out = v;
  return true;
}

// Strips trailing whitespace of each line and trailing blank lines (exact comparison).
std::string normalise_exact(const std::string& s) {
  std::string out;
  std::istringstream in(s);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    lines.push_back(line);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (auto& l : lines) out += l + "\n";
  return out;
}

CheckResult ok() { return {1.0, false, false, "ok"}; }
CheckResult wrong(std::string m) { return {0.0, false, false, std::move(m)}; }

std::string first_line(const std::string& s) {
  size_t nl = s.find('\n');
  return s.substr(0, nl);
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace

const char* checker_kind_name(CheckerKind k) {
  switch (k) {
    case CheckerKind::kTokens: return "tokens";
    case CheckerKind::kExact: return "exact";
    case CheckerKind::kFloat: return "float";
    case CheckerKind::kCaseInsensitive: return "case_insensitive";
    case CheckerKind::kTestlib: return "testlib";
    case CheckerKind::kCms: return "cms";
    case CheckerKind::kPythonCf: return "python_cf";
  }
  return "?";
}

CheckerSpec checker_from_kattis_flags(const std::string& flags) {
  CheckerSpec s;
  s.kind = CheckerKind::kTokens;
  std::istringstream in(flags);
  std::string w;
  while (in >> w) {
    double v;
    std::string arg;
    if (w == "float_tolerance" && in >> arg && parse_double(arg, &v)) {
      s.kind = CheckerKind::kFloat;
      s.abs_tol = s.rel_tol = v;
    } else if (w == "float_absolute_tolerance" && in >> arg && parse_double(arg, &v)) {
      s.kind = CheckerKind::kFloat;
      s.abs_tol = v;
      if (flags.find("float_relative_tolerance") == std::string::npos) s.rel_tol = 0;
    } else if (w == "float_relative_tolerance" && in >> arg && parse_double(arg, &v)) {
      s.kind = CheckerKind::kFloat;
      s.rel_tol = v;
      if (flags.find("float_absolute_tolerance") == std::string::npos) s.abs_tol = 0;
    } else if (w == "case_sensitive") {
      s.case_sensitive = true;
    } else if (w == "space_change_sensitive") {
      s.space_sensitive = true;
    }
  }
  // Kattis' default validator is case-insensitive unless `case_sensitive` is given.
  if (flags.find("case_sensitive") == std::string::npos) s.case_sensitive = false;
  if (s.kind == CheckerKind::kTokens && !s.case_sensitive) s.kind = CheckerKind::kCaseInsensitive;
  return s;
}

CheckResult compare_builtin(const CheckerSpec& spec, const std::string& output, const std::string& answer) {
  if (spec.kind == CheckerKind::kExact || spec.space_sensitive) {
    if (normalise_exact(output) == normalise_exact(answer)) return ok();
    if (spec.kind == CheckerKind::kExact) return wrong("output differs from the answer");
  }
  auto a = tokens(output), b = tokens(answer);
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    bool same = spec.kind == CheckerKind::kCaseInsensitive || !spec.case_sensitive ? iequal(a[i], b[i])
                                                                                   : a[i] == b[i];
    if (!same && spec.kind == CheckerKind::kFloat) {
      double x, y;
      if (parse_double(b[i], &y) && parse_double(a[i], &x)) {
        double d = std::fabs(x - y);
        same = d <= spec.abs_tol || d <= spec.rel_tol * std::fabs(y);
      } else if (!spec.case_sensitive) {
        same = iequal(a[i], b[i]);
      }
    }
    if (!same)
      return wrong("token " + std::to_string(i + 1) + ": expected '" + std::string(b[i].substr(0, 80)) +
                   "', got '" + std::string(a[i].substr(0, 80)) + "'");
  }
  if (a.size() != b.size())
    return wrong("expected " + std::to_string(b.size()) + " tokens, got " + std::to_string(a.size()));
  if (spec.space_sensitive) return wrong("whitespace differs");
  return ok();
}

Checker::Checker(const sandbox::Sandbox& sb, const Compiler& compiler, CheckerSpec spec)
    : sb_(sb), spec_(std::move(spec)) {
  bool external = spec_.kind == CheckerKind::kTestlib || spec_.kind == CheckerKind::kCms ||
                  spec_.kind == CheckerKind::kPythonCf;
  if (!external) return;
  if (spec_.sources.empty()) {
    error_ = "external checker without sources";
    return;
  }
  Language lang = spec_.kind == CheckerKind::kPythonCf ? Language::kPython
                                                       : language_from_path(spec_.sources.front().name).value_or(Language::kCpp);
  compiled_ = compiler.compile(lang, spec_.sources);
  if (!compiled_.ok) error_ = "checker does not compile: " + compiled_.error;
}

CheckResult Checker::check(const std::string& input, const std::string& output, const std::string& answer) const {
  bool external = spec_.kind == CheckerKind::kTestlib || spec_.kind == CheckerKind::kCms ||
                  spec_.kind == CheckerKind::kPythonCf;
  if (!external) return compare_builtin(spec_, output, answer);
  CheckResult r;
  if (!error_.empty()) {
    r.failed = true;
    r.message = error_;
    return r;
  }
  sandbox::RunSpec spec;
  if (spec_.kind == CheckerKind::kPythonCf) {
    // open-r1/codeforces: `python3 checker.py input.txt correct_output.txt solution_output.txt`.
    spec.files.push_back({"input.txt", input, false});
    spec.files.push_back({"correct_output.txt", answer, false});
    spec.files.push_back({"solution_output.txt", output, false});
    spec.files.push_back({"checker.py", compiled_.binary, false});
    spec.argv = {"python3", "checker.py", "input.txt", "correct_output.txt", "solution_output.txt"};
  } else {
    spec.files.push_back({"input.txt", input, false});
    spec.files.push_back({"answer.txt", answer, false});
    spec.files.push_back({"output.txt", output, false});
    if (spec_.kind == CheckerKind::kTestlib)
      program_spec(compiled_, &spec, {"input.txt", "output.txt", "answer.txt"});
    else
      program_spec(compiled_, &spec, {"input.txt", "answer.txt", "output.txt"});
  }
  sandbox::Limits lim;
  lim.cpu_ms = 20000;
  lim.wall_ms = 40000;
  lim.memory_bytes = 1ll << 30;
  lim.processes = 4;
  int64_t files = static_cast<int64_t>(input.size() + output.size() + answer.size());
  lim.file_bytes = std::max<int64_t>(64ll << 20, files + (16ll << 20));
  lim.output_bytes = 1 << 20;
  sandbox::RunResult rr = sb_.run(spec, lim);
  std::string out = trim(first_line(rr.stdout_data));
  std::string err = trim(rr.stderr_data);
  r.message = err.empty() ? trim(rr.stdout_data) : err;
  if (r.message.size() > 500) r.message = r.message.substr(0, 500) + "...";
  double v = 0;
  auto clamp01 = [](double x) { return std::max(0.0, std::min(1.0, x)); };
  if (rr.status == sandbox::RunStatus::internal || rr.status == sandbox::RunStatus::time_limit ||
      rr.status == sandbox::RunStatus::wall_limit || rr.status == sandbox::RunStatus::memory_limit ||
      rr.status == sandbox::RunStatus::signaled || rr.status == sandbox::RunStatus::security) {
    r.failed = true;
    r.message = std::string("checker ") + sandbox::to_string(rr.status) + ": " + rr.reason;
    return r;
  }
  if (spec_.kind == CheckerKind::kTestlib) {
    switch (rr.exit_code) {
      case 0: r.score = 1; break;
      case 1: r.score = 0; break;
      case 2: r.score = 0; r.presentation = true; break;
      case 7: {
        std::string src = trim(rr.stdout_data).empty() ? err : trim(rr.stdout_data);
        std::istringstream in(src);
        std::string w;
        bool got = false;
        while (in >> w) {
          if (w.rfind("points", 0) == 0) continue;
          if (parse_double(w, &v)) { got = true; break; }
        }
        if (!got) { r.failed = true; r.message = "testlib points without a score: " + r.message; }
        else r.score = clamp01(v);
        break;
      }
      default: r.failed = true; r.message = "checker failed (exit " + std::to_string(rr.exit_code) + "): " + r.message;
    }
    return r;
  }
  if (spec_.kind == CheckerKind::kPythonCf) {
    // As open-r1 scores it: passed iff the checker exits 0 and its stdout is exactly "1" (after
    // trimming). Anything else, a crash on malformed output included, is a rejection.
    r.score = rr.exit_code == 0 && trim(rr.stdout_data) == "1" ? 1.0 : 0.0;
    if (rr.exit_code != 0)
      r.message = "checker exited " + std::to_string(rr.exit_code) + (err.empty() ? "" : ": " + r.message);
    return r;
  }
  // cms
  if (parse_double(out, &v)) {
    r.score = clamp01(v);
    return r;
  }
  r.failed = true;
  r.message = "checker printed no score (exit " + std::to_string(rr.exit_code) + "): " + r.message;
  return r;
}

}  // namespace crucible::code

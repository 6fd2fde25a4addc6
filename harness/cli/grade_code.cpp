// `crucible grade code`: judge one submission file against a problem package (CMS/IOI or Kattis)
// with the same judge that CodeGrader uses for evaluations and RL rewards.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "harness/cli/commands.h"
#include "sandbox/sandbox.h"
#include "tasks/code/code_grader.h"
#include "tasks/code/judge.h"
#include "tasks/code/kattis_time_limit.h"
#include "tasks/code/problem_formats.h"

namespace crucible::cli {
namespace {

constexpr int kExitUsage = 2;

struct CodeArgs {
  std::string problem, submission, language, time_limit, reward = "pass_fail", cache_dir, interactor;
  int row = 0;
  bool json = false, all_tests = false, no_samples = false, no_cache = false;
  int workers = 0;
};

// --problem: a package directory, or a file holding open-r1/codeforces rows (one JSON object, or
// JSONL: row number `row`, 0-based).
Result<code::CodeProblem> load_problem_arg(const std::string& path, int row, const code::LoadOptions& lo) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return code::load_problem_dir(path, lo);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io(path + ": cannot read");
  std::ostringstream ss;
  ss << in.rdbuf();
  nlohmann::json whole = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!whole.is_discarded() && whole.is_object()) {
    if (row != 0) return Status::invalid(path + ": one row only; --row " + std::to_string(row) + " does not exist");
    return code::load_codeforces_row(whole, lo);
  }
  std::istringstream lines(ss.str());
  std::string line;
  int i = 0;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (i++ != row) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return Status::parse(path + ": row " + std::to_string(row) + " is not a JSON object");
    return code::load_codeforces_row(j, lo);
  }
  return Status::invalid(path + ": not a problem directory, a JSON row or a JSONL file with row " + std::to_string(row));
}

// --interactor FILE: the interactor's source; a testlib.h next to it goes along as a header.
Result<std::vector<code::SourceFile>> interactor_sources(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<code::SourceFile> files;
  auto read = [](const fs::path& p, std::string* out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    *out = ss.str();
    return true;
  };
  fs::path src(path);
  auto lang = code::language_from_path(src.filename().string());
  if (!lang || *lang == code::Language::kPython)
    return Status::invalid(path + ": expected a C++ source (.cpp, .cc, .cxx)");
  std::string text;
  if (!read(src, &text)) return Status::io(path + ": cannot read");
  files.push_back({src.filename().string(), text, true});
  fs::path lib = src.parent_path() / "testlib.h";
  if (src.filename() != "testlib.h" && fs::is_regular_file(lib, ec) && read(lib, &text))
    files.push_back({"testlib.h", text, false});
  return files;
}

int run_grade_code(const CodeArgs& a) {
  using namespace crucible::code;
  std::optional<Language> lang = a.language.empty() ? language_from_path(a.submission) : language_from_name(a.language);
  if (!lang) {
    std::cerr << "crucible grade code: cannot tell the language of '" << a.submission
              << "'; pass --language cpp|c|python\n";
    return kExitUsage;
  }
  std::ifstream in(a.submission, std::ios::binary);
  if (!in) {
    std::cerr << "crucible grade code: cannot read " << a.submission << "\n";
    return kExitUsage;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  LoadOptions lo;
  lo.include_samples = !a.no_samples;
  sandbox::Sandbox sb;
  json derivation;
  if (a.time_limit == "kattis") {
    // Kattis: slowest accepted submission x time multiplier (runs them once; cached).
    KattisTimeLimitOptions ko;
    if (!a.cache_dir.empty()) ko.cache_dir = ko.compile.cache_dir = a.cache_dir;
    ko.use_cache = ko.compile.use_cache = !a.no_cache;
    ko.workers = a.workers;
    auto d = derive_kattis_time_limit(sb, a.problem, ko);
    if (!d.is_ok()) {
      std::cerr << "crucible grade code: --time-limit kattis: " << d.status().message() << "\n";
      return kExitUsage;
    }
    lo.time_limit_override_ms = d->time_limit_ms;
    derivation = d->to_json();
  } else if (!a.time_limit.empty()) {
    int64_t ms = sandbox::parse_duration_ms(a.time_limit);
    if (ms <= 0) {
      std::cerr << "crucible grade code: bad --time-limit '" << a.time_limit << "'\n";
      return kExitUsage;
    }
    lo.time_limit_override_ms = ms;
  }
  auto prob = load_problem_arg(a.problem, a.row, lo);
  if (!prob.is_ok()) {
    std::cerr << "crucible grade code: " << prob.status().message() << "\n";
    return kExitUsage;
  }
  if (!a.interactor.empty()) {
    if (!prob->interactor_files.empty()) {
      std::cerr << "crucible grade code: --interactor: " << prob->id << " already has an interactor\n";
      return kExitUsage;
    }
    if (prob->task_type == TaskType::kCommunication) {
      std::cerr << "crucible grade code: --interactor: " << prob->id << " is a Communication task\n";
      return kExitUsage;
    }
    auto files = interactor_sources(a.interactor);
    if (!files.is_ok()) {
      std::cerr << "crucible grade code: --interactor: " << files.status().message() << "\n";
      return kExitUsage;
    }
    prob->task_type = TaskType::kInteractive;
    prob->interactor_protocol = InteractorProtocol::kTestlib;
    prob->interactor_files = std::move(*files);
  } else if (prob->task_type == TaskType::kInteractive && prob->interactor_files.empty()) {
    // Judging it would give a verdict without an interactor: refuse instead.
    std::cerr << "crucible grade code: unsupported: interactive problem without interactor (" << prob->id
              << "); pass a testlib-style interactor with --interactor FILE\n";
    return kExitUsage;
  }
  JudgeOptions jo;
  jo.workers = a.workers;
  jo.all_tests = a.all_tests;
  if (!cf_reward_from_name(a.reward, &jo.cf_reward)) {
    std::cerr << "crucible grade code: --reward must be pass_fail, partial or weighted_sum\n";
    return kExitUsage;
  }
  if (!a.cache_dir.empty()) jo.compile.cache_dir = a.cache_dir;
  jo.compile.use_cache = !a.no_cache;
  JudgeResult r = judge_submission(sb, *prob, ss.str(), *lang, jo);
  json j = r.to_json();
  j["problem"] = prob->id;
  j["time_limit_ms"] = prob->time_limit_ms;
  j["time_limit_stated"] = prob->time_limit_stated;
  j["memory_limit_bytes"] = prob->memory_bytes;
  j["language"] = language_name(*lang);
  if (!derivation.is_null()) j["time_limit_derivation"] = derivation;
  if (a.json) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << fmt::format("problem {}  time limit {} ms{}  memory {} MiB  language {}\n", prob->id,
                           prob->time_limit_ms,
                           !derivation.is_null()
                               ? fmt::format(" (Kattis: slowest accepted {} ms x {})",
                                             derivation["slowest_ms"].get<int64_t>(), derivation["multiplier"].get<double>())
                               : (prob->time_limit_stated ? "" : " (default)"),
                           prob->memory_bytes >> 20, language_name(*lang));
  if (!r.message.empty()) std::cout << "message: " << r.message << "\n";
  for (auto& t : r.tests) {
    if (t.skipped) {
      std::cout << fmt::format("  {:<40} skipped\n", t.name);
      continue;
    }
    std::cout << fmt::format("  {:<40} {:<14} {:>6} ms {:>8.1f} MiB  score {:.3g}{}\n", t.name,
                             verdict_name(t.verdict), t.time_ms, t.memory_bytes / 1048576.0, t.score,
                             t.verdict == Verdict::kCorrect || t.message.empty() ? "" : "  " + t.message.substr(0, 100));
  }
  for (auto& s : r.subtasks)
    std::cout << fmt::format("subtask {:<24} {:>7.2f} / {:<7.2f} {}\n", s.name, s.points, s.max_points,
                             verdict_name(s.verdict));
  std::cout << fmt::format("verdict {}  points {:.2f} / {:.2f}  score {:.4f}\n", verdict_name(r.verdict),
                           r.points, r.max_points, r.score);
  return 0;
}

void setup(CLI::App& root, int& exit_code) {
  CLI::App* grade = grade_group(root);
  auto args = std::make_shared<CodeArgs>();
  CLI::App* c = grade->add_subcommand(
      "code", "Judge a submission against a CMS/IOI or Kattis problem package in the sandbox:\n"
              "compile (cached), run every test, check, score (IOI subtasks / ICPC pass-fail).");
  c->add_option("--problem", args->problem,
                "problem package directory (problem.json or problem.yaml), or a file with "
                "open-r1/codeforces rows (a JSON object, or JSONL: see --row)")
      ->required()->check(CLI::ExistingPath);
  c->add_option("--row", args->row, "open-r1/codeforces JSONL: the row to judge (0-based)")->capture_default_str();
  c->add_option("--interactor", args->interactor,
                "testlib-style interactor source (C++; a testlib.h beside it is included) for a problem "
                "that has none, e.g. an open-r1/codeforces row (they carry interaction_format but no "
                "interactor): makes the problem interactive. Run as `interactor input.txt output.txt "
                "answer.txt` with its stdin/stdout wired to the solution; exit 0 accepted, 1/2/4/8 "
                "wrong, 7 points, 3 FAIL. Without it an interactive problem with no interactor is an "
                "error (never judged as a batch problem)")
      ->check(CLI::ExistingFile);
  c->add_option("--submission", args->submission, "source file")->required()->check(CLI::ExistingFile);
  c->add_option("--language", args->language, "cpp, c or python (default: from the file extension)");
  c->add_flag("--json", args->json, "print one JSON object {verdict, score, points, subtasks, tests, ...}");
  c->add_option("--workers", args->workers, "tests run in parallel (default: CPU cores)");
  c->add_option("--time-limit", args->time_limit,
                "override the CPU time limit per test (e.g. 2s, 500ms), or 'kattis': slowest of "
                "submissions/accepted x time multiplier (runs them once, cached)");
  c->add_flag("--all-tests", args->all_tests, "run every test (no stop at a subtask's first failure)");
  c->add_flag("--no-samples", args->no_samples, "Kattis: judge data/secret only");
  c->add_option("--reward", args->reward, "ICPC/CodeForces score: pass_fail, partial, weighted_sum")
      ->capture_default_str();
  c->add_option("--cache-dir", args->cache_dir, "compile cache directory");
  c->add_flag("--no-cache", args->no_cache, "do not read or write the compile cache");
  c->footer("Interactive problems: Kattis packages with `validation: custom interactive` (or `type: "
            "interactive`) use their output validator as interactor (exit 42 accepted, 43 wrong); "
            "CodeForces problems use --interactor.\n"
            "Exit status: 0 when judged (whatever the verdict), 2 on bad arguments or package.");
  c->callback([args, &exit_code] { exit_code = run_grade_code(*args); });
}

Register reg_grade_code("grade", setup);

struct EnsureTasks {
  EnsureTasks() { crucible::code::ensure_code_tasks_registered(); }
} ensure_tasks;

}  // namespace
}  // namespace crucible::cli

// Registers the code tasks `ioi` (CMS packages), `icpc` (Kattis packages) and `codeforces`
// (open-r1/codeforces JSONL rows) in TaskRegistry::global() at static-initialisation time.
// data_path: a package directory, or a directory of package directories (ioi / icpc); a JSONL
// file (codeforces).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/jsonl.h"
#include "tasks/code/code_grader.h"
#include "tasks/task_registry.h"

namespace crucible::code {
namespace {
namespace fs = std::filesystem;

const char* kCodeTemplate =
    "Solve the following competitive programming problem. Reason about it, then give a complete "
    "solution in C++17 in a single ```cpp code block; it reads from standard input and writes to "
    "standard output.\n\n{problem}";

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string statement_of(const fs::path& dir) {
  for (auto rel : {"problem_statement/problem.en.tex", "problem_statement/problem.tex", "statement.md",
                   "statement/statement.md", "statement.txt"}) {
    if (fs::exists(dir / rel)) return read_text(dir / rel);
  }
  return "Problem " + dir.filename().string();
}

Result<std::vector<Problem>> load_packages(const TaskLoadOptions& o, bool cms) {
  fs::path root(o.data_path);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return Status::not_found(o.data_path + ": not a directory");
  auto is_pkg = [&](const fs::path& d) {
    return cms ? fs::exists(d / "problem.json") : (fs::exists(d / "problem.yaml") || fs::is_directory(d / "data"));
  };
  std::vector<fs::path> dirs;
  if (is_pkg(root)) dirs.push_back(root);
  else
    for (auto& e : fs::directory_iterator(root, ec))
      if (e.is_directory() && is_pkg(e.path())) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  if (dirs.empty()) return Status::not_found(o.data_path + ": no problem packages");
  std::vector<Problem> out;
  for (auto& d : dirs) {
    Problem p;
    p.id = d.filename().string();
    p.statement = statement_of(d);
    p.meta["problem_dir"] = fs::absolute(d).string();
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<Problem>> load_cf(const TaskLoadOptions& o) {
  auto rows = read_jsonl(o.data_path);
  if (!rows.is_ok()) return rows.status();
  std::vector<Problem> out;
  for (auto& r : *rows) {
    Problem p;
    const json& v = r.value;
    p.id = v.value("id", o.data_path + ":" + std::to_string(r.line));
    std::string st = v.value("description", v.value("statement", std::string()));
    if (v.contains("input_format") && v["input_format"].is_string()) st += "\n\nInput\n" + v["input_format"].get<std::string>();
    if (v.contains("output_format") && v["output_format"].is_string()) st += "\n\nOutput\n" + v["output_format"].get<std::string>();
    p.statement = st;
    p.meta["codeforces_row"] = v;
    out.push_back(std::move(p));
  }
  return out;
}

TaskSpec code_spec(const std::string& name, const std::string& desc,
                   std::function<Result<std::vector<Problem>>(const TaskLoadOptions&)> load) {
  TaskSpec s;
  s.name = name;
  s.description = desc;
  s.default_n = 1;
  s.make_grader = [] { return std::make_shared<const CodeGrader>(); };
  s.load = std::move(load);
  s.make_prompt = [] {
    PromptConfig c;
    auto t = PromptTemplate::parse(kCodeTemplate, "code template");
    if (t.is_ok()) c.templ = *t;
    return c;
  };
  return s;
}

struct RegisterCodeTasks {
  RegisterCodeTasks() {
    auto& reg = TaskRegistry::global();
    reg.add(code_spec("ioi", "IOI/CMS packages (subtask GroupMin scoring); data: package dir or dir of packages",
                      [](const TaskLoadOptions& o) { return load_packages(o, true); }));
    reg.add(code_spec("icpc", "Kattis/ICPC packages (accepted iff every test passes)",
                      [](const TaskLoadOptions& o) { return load_packages(o, false); }));
    reg.add(code_spec("codeforces", "open-r1/codeforces JSONL rows (official_tests, generated_checker)", load_cf));
  }
};

}  // namespace

// Referenced from code_grader.cpp's translation unit users? No: a static library drops unused
// objects, so the CLI and tests call ensure_code_tasks_registered() (idempotent).
void ensure_code_tasks_registered() {
  static RegisterCodeTasks once;
}

}  // namespace crucible::code

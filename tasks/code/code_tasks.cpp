// Registers the code tasks `ioi`, `icpc` and `codeforces` in TaskRegistry::global().
//
// data_path (crucible eval --data):
//  - ioi:  a CMS package directory, a directory of CMS packages, or a JSONL file of
//          open-r1/ioi rows (one row per subtask; tests read from `tests_dir`, default
//          <JSONL dir>/tests/<id>/<test>.in|.out) or of manifest rows {"problem_dir": DIR}.
//  - icpc: a Kattis package directory, a directory of Kattis packages, or a JSONL manifest of
//          {"problem_dir": DIR, "time_limit": seconds | "kattis"} rows.
//  - codeforces: a JSONL file of open-r1/codeforces rows.
// Relative paths inside a JSONL file are relative to the file's directory. Every task scores
// avg@n / pass@k of accepted samples (the full IOI score for ioi); ioi adds `ioi_score`: the
// public IOI benchmark's problem score from at most 50 selected submissions (ioi_selection.h).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/jsonl.h"
#include "tasks/code/code_grader.h"
#include "tasks/code/ioi_selection.h"
#include "tasks/code/kattis_time_limit.h"
#include "tasks/task_registry.h"

namespace crucible::code {
namespace {
namespace fs = std::filesystem;

const char* kCodeTemplate =
    "Solve the following competitive programming problem. Reason about it, then give a complete "
    "solution in C++17 in a single ```cpp code block; it reads from standard input and writes to "
    "standard output.\n\n{problem}";

const char* kIoiTemplate =
    "Solve the following IOI competitive programming problem. Reason about it, then give a complete "
    "solution in C++17 in a single ```cpp code block. Implement the routines the statement describes, "
    "without a main function and without reading standard input or writing standard output: the "
    "official grader calls your routines.\n\n{problem}";

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

std::string str_field(const json& row, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (row.contains(k)) {
      if (row[k].is_string()) return row[k].get<std::string>();
      if (row[k].is_number_integer()) return std::to_string(row[k].get<long long>());
    }
  return "";
}

fs::path resolve(const fs::path& base, const std::string& p) {
  fs::path x(p);
  return x.is_absolute() ? x : base / x;
}

// Target subtask + subtask list of a CMS package (the IOI aggregate reads them from meta).
Status add_ioi_meta(Problem* p, const fs::path& dir) {
  auto cp = load_cms_problem(dir.string());
  if (!cp.is_ok()) return cp.status();
  json subs = json::array();
  for (auto& s : cp->subtasks) subs.push_back({{"name", s.name}, {"max_points", s.points}});
  p->meta["ioi_problem"] = p->id;
  p->meta["ioi_subtasks"] = subs;
  // A whole-problem prompt targets the full problem: the last subtask.
  if (!cp->subtasks.empty()) p->meta["target_subtask"] = cp->subtasks.back().name;
  return Status::ok();
}

// One problem from a package directory (+ optional manifest row fields).
Result<Problem> package_problem(const fs::path& dir, bool cms, const json& row) {
  Problem p;
  p.id = str_field(row, {"id", "problem_id"});
  if (p.id.empty()) p.id = dir.filename().string();
  p.statement = statement_of(dir);
  p.meta["problem_dir"] = fs::absolute(dir).lexically_normal().string();
  if (row.contains("language") && row["language"].is_string()) p.meta["language"] = row["language"];
  if (cms) {
    if (auto s = add_ioi_meta(&p, dir); !s.is_ok()) return s;
  } else if (row.contains("time_limit")) {
    const json& tl = row["time_limit"];
    if (tl.is_number() && tl.get<double>() > 0) {
      p.meta["time_limit_ms"] = static_cast<int64_t>(tl.get<double>() * 1000 + 0.5);
    } else if (tl.is_string() && tl.get<std::string>() == "kattis") {
      // Kattis: slowest accepted submission x time multiplier (runs them once; cached).
      sandbox::Sandbox sb;
      auto d = derive_kattis_time_limit(sb, p.meta["problem_dir"].get<std::string>());
      if (!d.is_ok()) return d.status();
      p.meta["time_limit_ms"] = d->time_limit_ms;
      p.meta["time_limit_derivation"] = d->to_json();
    } else {
      return Status::invalid(p.id + ": time_limit must be seconds (a number) or \"kattis\"");
    }
  }
  return p;
}

bool is_package(const fs::path& d, bool cms) {
  std::error_code ec;
  return cms ? fs::exists(d / "problem.json", ec)
             : (fs::exists(d / "problem.yaml", ec) || fs::is_directory(d / "data", ec));
}

Result<std::vector<Problem>> load_package_dirs(const fs::path& root, bool cms) {
  std::error_code ec;
  std::vector<fs::path> dirs;
  if (is_package(root, cms)) dirs.push_back(root);
  else
    for (auto& e : fs::directory_iterator(root, ec))
      if (e.is_directory() && is_package(e.path(), cms)) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  if (dirs.empty()) return Status::not_found(root.string() + ": no problem packages");
  std::vector<Problem> out;
  for (auto& d : dirs) {
    auto p = package_problem(d, cms, json::object());
    if (!p.is_ok()) return p.status();
    out.push_back(std::move(*p));
  }
  return out;
}

// open-r1/ioi rows: one row per subtask; rows of one problem share one judge problem (every
// subtask is judged, as the benchmark does), each row is one prompt targeting its subtask.
Result<std::vector<Problem>> load_ioi_rows(const std::vector<JsonlRecord>& rows, const fs::path& base,
                                           const std::string& path) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const json*>> by_problem;
  for (auto& r : rows) {
    const json& v = r.value;
    std::string pid = str_field(v, {"id", "problem_id", "name"});
    if (pid.empty() || !v.contains("subtask"))
      return Status::invalid(path + ":" + std::to_string(r.line) + ": an open-r1/ioi row needs id and subtask");
    std::string year = str_field(v, {"year"});
    std::string key = year.empty() ? pid : year + "/" + pid;
    if (!by_problem.count(key)) order.push_back(key);
    by_problem[key].push_back(&v);
  }
  std::vector<Problem> out;
  for (auto& key : order) {
    auto group = by_problem[key];
    std::stable_sort(group.begin(), group.end(), [](const json* a, const json* b) {
      return str_field(*a, {"subtask"}) < str_field(*b, {"subtask"});
    });
    const json& first = *group.front();
    json merged = json::object();
    for (auto& [k, v] : first.items())
      if (k != "subtask" && k != "score" && k != "test_names" && k != "statement" && k != "problem" &&
          k != "starting_code")
        merged[k] = v;
    merged["problem_id"] = str_field(first, {"id", "problem_id", "name"});
    json subs = json::array(), info = json::array();
    for (const json* r : group) {
      subs.push_back({{"subtask", str_field(*r, {"subtask"})},
                      {"score", r->value("score", 0.0)},
                      {"test_names", r->value("test_names", json::array())}});
      info.push_back({{"name", str_field(*r, {"subtask"})}, {"max_points", r->value("score", 0.0)}});
    }
    merged["subtasks"] = subs;
    std::string tests = str_field(first, {"tests_dir"});
    std::string tests_dir = resolve(base, tests.empty() ? "tests" : tests).lexically_normal().string();
    for (const json* r : group) {
      Problem p;
      p.id = key + "/" + str_field(*r, {"subtask"});
      p.statement = str_field(*r, {"problem"});
      if (p.statement.empty()) p.statement = str_field(*r, {"statement"});
      p.meta["ioi_row"] = merged;
      p.meta["tests_dir"] = tests_dir;
      p.meta["ioi_problem"] = key;
      p.meta["ioi_subtasks"] = info;
      p.meta["target_subtask"] = str_field(*r, {"subtask"});
      out.push_back(std::move(p));
    }
  }
  return out;
}

Result<std::vector<Problem>> load_manifest(const std::vector<JsonlRecord>& rows, const fs::path& base,
                                           const std::string& path, bool cms) {
  std::vector<Problem> out;
  for (auto& r : rows) {
    std::string dir = str_field(r.value, {"problem_dir"});
    if (dir.empty())
      return Status::invalid(path + ":" + std::to_string(r.line) + ": a manifest row needs problem_dir");
    fs::path d = resolve(base, dir);
    if (!is_package(d, cms))
      return Status::invalid(path + ":" + std::to_string(r.line) + ": " + d.string() + " is not a " +
                             (cms ? "CMS" : "Kattis") + " package");
    auto p = package_problem(d, cms, r.value);
    if (!p.is_ok()) return Status::invalid(path + ":" + std::to_string(r.line) + ": " + p.status().message());
    out.push_back(std::move(*p));
  }
  return out;
}

Result<std::vector<Problem>> load_packages(const TaskLoadOptions& o, bool cms) {
  fs::path root(o.data_path);
  std::error_code ec;
  if (fs::is_directory(root, ec)) return load_package_dirs(root, cms);
  auto rows = read_jsonl(o.data_path);
  if (!rows.is_ok()) return rows.status();
  if (rows->empty()) return Status::invalid(o.data_path + ": no rows");
  fs::path base = fs::absolute(root).parent_path();
  const json& first = rows->front().value;
  if (cms && first.is_object() && first.contains("test_names")) return load_ioi_rows(*rows, base, o.data_path);
  return load_manifest(*rows, base, o.data_path, cms);
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

// Mean and standard error (sample std / sqrt(n)), as harness/metrics.h computes them.
std::pair<double, double> mean_stderr(const std::vector<double>& xs) {
  if (xs.empty()) return {0, 0};
  double m = 0;
  for (double x : xs) m += x;
  m /= xs.size();
  if (xs.size() < 2) return {m, 0};
  double ss = 0;
  for (double x : xs) ss += (x - m) * (x - m);
  return {m, std::sqrt(ss / (xs.size() - 1)) / std::sqrt(static_cast<double>(xs.size()))};
}

// ioi_score: per IOI problem, the benchmark's selection over all its samples (every subtask
// prompt of an open-r1 problem together), then the mean over problems of points / max_points.
json ioi_aggregate(const std::vector<Problem>& problems, const std::vector<GradedSample>& samples) {
  struct Group {
    std::vector<IoiSubtaskInfo> subtasks;
    std::vector<IoiSubmission> subs;
    size_t rows = 0, rows_with_samples = 0;
    std::vector<char> seen;
  };
  std::map<std::string, Group> groups;
  std::vector<std::string> order;
  auto group_of = [&](const Problem& p) -> Group& {
    std::string key = p.meta.value("ioi_problem", p.id);
    auto it = groups.find(key);
    if (it != groups.end()) return it->second;
    order.push_back(key);
    Group& g = groups[key];
    for (auto& s : p.meta.value("ioi_subtasks", json::array()))
      g.subtasks.push_back({s.value("name", std::string()), s.value("max_points", 0.0)});
    return g;
  };
  std::vector<Group*> of_problem(problems.size());
  for (size_t i = 0; i < problems.size(); ++i) {
    of_problem[i] = &group_of(problems[i]);
    ++of_problem[i]->rows;
  }
  std::vector<char> has(problems.size(), 0);
  for (auto& s : samples) {
    if (s.problem_index >= problems.size() || !s.grade) continue;
    const Problem& p = problems[s.problem_index];
    Group& g = *of_problem[s.problem_index];
    has[s.problem_index] = 1;
    IoiSubmission sub = ioi_submission_from_details(s.grade->details, verdict_name(s.grade->verdict), g.subtasks);
    sub.id = p.id + "#" + std::to_string(s.sample);
    std::string target = p.meta.value("target_subtask", std::string());
    for (size_t k = 0; k < g.subtasks.size(); ++k)
      if (g.subtasks[k].name == target) sub.target_subtask = static_cast<int>(k);
    sub.cot_length = s.completion_tokens >= 0 ? s.completion_tokens : static_cast<int64_t>(s.completion_chars);
    g.subs.push_back(std::move(sub));
  }
  for (size_t i = 0; i < problems.size(); ++i) of_problem[i]->rows_with_samples += has[i];

  json per = json::array();
  std::vector<double> scores;
  double total = 0, max_total = 0;
  json incomplete = json::array();
  IoiSelectionOptions opt;
  for (auto& key : order) {
    Group& g = groups[key];
    if (g.rows_with_samples < g.rows) {  // some subtask prompts of this problem are not complete
      if (g.rows_with_samples > 0) incomplete.push_back(key);
      continue;
    }
    IoiSelection sel = select_ioi_submissions(g.subtasks, g.subs, opt);
    json j = sel.to_json(g.subs);
    j["problem"] = key;
    per.push_back(j);
    scores.push_back(sel.max_points > 0 ? sel.points / sel.max_points : 0.0);
    total += sel.points;
    max_total += sel.max_points;
  }
  auto [mean, se] = mean_stderr(scores);
  json out;
  out["metrics"] = json::object();
  if (!scores.empty()) out["metrics"]["ioi_score"] = {{"value", mean}, {"stderr", se}};
  out["ioi"] = {{"selection_limit", opt.limit}, {"problems", per}, {"total_points", total},
                {"max_points", max_total}, {"incomplete_problems", incomplete}};
  return out;
}

TaskSpec code_spec(const std::string& name, const std::string& desc, const char* templ,
                   std::function<Result<std::vector<Problem>>(const TaskLoadOptions&)> load) {
  TaskSpec s;
  s.name = name;
  s.description = desc;
  s.default_n = 1;
  s.make_grader = [] { return std::make_shared<const CodeGrader>(); };
  s.load = std::move(load);
  s.make_prompt = [templ] {
    PromptConfig c;
    auto t = PromptTemplate::parse(templ, "code template");
    if (t.is_ok()) c.templ = *t;
    return c;
  };
  return s;
}

struct RegisterCodeTasks {
  RegisterCodeTasks() {
    auto& reg = TaskRegistry::global();
    TaskSpec ioi = code_spec("ioi",
                             "IOI: CMS packages (dir, dir of packages, JSONL manifest) or open-r1/ioi rows; "
                             "subtask GroupMin scoring, ioi_score = best per subtask over <= 50 selected "
                             "submissions",
                             kIoiTemplate, [](const TaskLoadOptions& o) { return load_packages(o, true); });
    ioi.aggregate = ioi_aggregate;
    reg.add(std::move(ioi));
    reg.add(code_spec("icpc", "Kattis/ICPC packages (dir, dir of packages, JSONL manifest); accepted iff every test passes",
                      kCodeTemplate, [](const TaskLoadOptions& o) { return load_packages(o, false); }));
    reg.add(code_spec("codeforces", "open-r1/codeforces JSONL rows (official_tests, generated_checker)",
                      kCodeTemplate, load_cf));
  }
};

}  // namespace

// A static library drops unused objects, so the CLI and tests call ensure_code_tasks_registered()
// (idempotent).
void ensure_code_tasks_registered() {
  static RegisterCodeTasks once;
}

}  // namespace crucible::code

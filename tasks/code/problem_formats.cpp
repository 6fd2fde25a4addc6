#include "tasks/code/problem_formats.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace crucible::code {
namespace fs = std::filesystem;
namespace {

Result<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io(path + ": cannot read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  s = s.substr(b, e - b + 1);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) s = s.substr(1, s.size() - 2);
  return s;
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& ext, bool recursive) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  if (recursive) {
    for (auto& e : fs::recursive_directory_iterator(dir, ec))
      if (e.is_regular_file() && e.path().extension() == ext) out.push_back(e.path());
  } else {
    for (auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file() && e.path().extension() == ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Minimal YAML reader for problem.yaml: "key: value" lines; nested keys become "parent.key".
std::vector<std::pair<std::string, std::string>> read_simple_yaml(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  std::string line;
  std::vector<std::pair<size_t, std::string>> stack;  // (indent, key)
  while (std::getline(in, line)) {
    size_t hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    if (trim(line).empty()) continue;
    size_t indent = line.find_first_not_of(' ');
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = trim(line.substr(indent, colon - indent));
    std::string value = trim(line.substr(colon + 1));
    while (!stack.empty() && stack.back().first >= indent) stack.pop_back();
    std::string full;
    for (auto& s : stack) full += s.second + ".";
    full += key;
    if (value.empty()) stack.push_back({indent, key});
    else out.push_back({full, value});
  }
  return out;
}

void apply_override(CodeProblem* p, const LoadOptions& opt) {
  if (opt.time_limit_override_ms > 0) {
    p->time_limit_ms = opt.time_limit_override_ms;
    p->time_limit_stated = true;
  }
}

Subtask all_tests_subtask(const CodeProblem& p) {
  Subtask s;
  s.name = "all";
  s.points = 1;
  for (size_t i = 0; i < p.tests.size(); ++i) s.tests.push_back(i);
  return s;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> read_problem_yaml(const std::string& text) {
  return read_simple_yaml(text);
}

Result<std::string> test_input(const TestCase& t) {
  if (t.input_path.empty()) return t.input;
  return slurp(t.input_path);
}
Result<std::string> test_answer(const TestCase& t) {
  if (t.answer_path.empty()) return t.answer;
  return slurp(t.answer_path);
}

Result<CodeProblem> load_problem_dir(const std::string& dir, const LoadOptions& opt) {
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "problem.json", ec)) return load_cms_problem(dir, opt);
  if (fs::exists(fs::path(dir) / "problem.yaml", ec) || fs::is_directory(fs::path(dir) / "data", ec))
    return load_kattis_problem(dir, opt);
  return Status::invalid(dir + ": not a problem package (no problem.json or problem.yaml)");
}

Result<CodeProblem> load_cms_problem(const std::string& dir, const LoadOptions& opt) {
  fs::path root(dir);
  auto text = slurp((root / "problem.json").string());
  if (!text.is_ok()) return text.status();
  json pj = json::parse(*text, nullptr, false);
  if (pj.is_discarded() || !pj.is_object()) return Status::parse(dir + "/problem.json: not a JSON object");
  CodeProblem p;
  p.dir = dir;
  p.format = ProblemFormat::kCms;
  p.code = pj.value("code", root.filename().string());
  p.id = p.code;
  if (pj.contains("time_limit") && pj["time_limit"].is_number()) {
    p.time_limit_ms = static_cast<int64_t>(std::llround(pj["time_limit"].get<double>() * 1000));
    p.time_limit_stated = true;
  }
  if (pj.contains("memory_limit") && pj["memory_limit"].is_number())
    p.memory_bytes = pj["memory_limit"].get<int64_t>();
  p.score_precision = pj.value("score_precision", 2);
  std::string type = pj.value("task_type", "Batch");
  if (type == "Communication") {
    p.task_type = TaskType::kCommunication;
    // A JSON string (CMS export) or object; or CMS's list [num_processes, compilation, user_io].
    json tp = pj.contains("task_type_params") ? pj["task_type_params"] : json();
    if (tp.is_string()) tp = json::parse(tp.get<std::string>(), nullptr, false);
    if (tp.is_object()) {
      for (auto& [k, v] : tp.items()) {
        if (k.find("num_processes") != std::string::npos && v.is_number_integer()) p.num_processes = v.get<int>();
        if (k.find("user_io") != std::string::npos && v.is_string()) p.user_io_fifos = v.get<std::string>() == "fifo_io";
      }
    } else if (tp.is_array()) {
      if (!tp.empty() && tp[0].is_number_integer()) p.num_processes = tp[0].get<int>();
      if (tp.size() > 2 && tp[2].is_string()) p.user_io_fifos = tp[2].get<std::string>() == "fifo_io";
    }
  } else if (type != "Batch") {
    return Status::invalid(dir + ": unsupported CMS task type '" + type + "'");
  }

  // Tests.
  for (auto& in : sorted_files(root / "tests", ".in", false)) {
    TestCase t;
    t.name = in.stem().string();
    t.input_path = in.string();
    fs::path out = in;
    out.replace_extension(".out");
    if (!fs::exists(out)) out.replace_extension(".ans");
    t.answer_path = out.string();
    p.tests.push_back(std::move(t));
  }
  if (p.tests.empty()) return Status::invalid(dir + ": no tests/*.in");
  auto index_of = [&](const std::string& name) -> long {
    for (size_t i = 0; i < p.tests.size(); ++i)
      if (p.tests[i].name == name) return static_cast<long>(i);
    return -1;
  };
  for (auto& sf : sorted_files(root / "subtasks", ".json", false)) {
    auto st = slurp(sf.string());
    if (!st.is_ok()) return st.status();
    json sj = json::parse(*st, nullptr, false);
    if (sj.is_discarded() || !sj.is_object()) return Status::parse(sf.string() + ": not a JSON object");
    Subtask s;
    s.name = sf.stem().string();
    s.points = sj.value("score", 0.0);
    for (auto& tc : sj.value("testcases", json::array())) {
      long i = tc.is_string() ? index_of(tc.get<std::string>()) : -1;
      if (i < 0) return Status::invalid(sf.string() + ": unknown test " + tc.dump());
      s.tests.push_back(static_cast<size_t>(i));
    }
    p.subtasks.push_back(std::move(s));
  }
  if (p.subtasks.empty()) {
    Subtask s = all_tests_subtask(p);
    s.points = 100;
    p.subtasks.push_back(s);
  }

  // Graders / manager.
  fs::path gd = root / "graders";
  std::error_code ec;
  if (fs::is_directory(gd, ec)) {
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(gd, ec))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      std::string name = f.filename().string();
      auto body = slurp(f.string());
      if (!body.is_ok()) return body.status();
      std::string ext = f.extension().string();
      bool header = ext == ".h" || ext == ".hpp";
      if (p.task_type == TaskType::kCommunication) {
        if (name == "manager.cpp") p.manager_files.push_back({name, *body, true});
        else if (name == "testlib.h") p.manager_files.push_back({name, *body, false});
        else if (name == "stub.cpp") p.grader_files.push_back({name, *body, true});
        else if (header) {
          p.grader_files.push_back({name, *body, false});
          p.manager_files.push_back({name, *body, false});
        }
      } else {
        if (name == "grader.cpp") p.grader_files.push_back({name, *body, true});
        else if (header) p.grader_files.push_back({name, *body, false});
      }
    }
    if (p.task_type == TaskType::kCommunication && p.manager_files.empty())
      return Status::invalid(dir + ": Communication task without graders/manager.cpp");
  }

  fs::path cd = root / "checker";
  if (fs::exists(cd / "checker.cpp", ec)) {
    p.checker.kind = CheckerKind::kCms;
    auto body = slurp((cd / "checker.cpp").string());
    if (!body.is_ok()) return body.status();
    p.checker.sources.push_back({"checker.cpp", *body, true});
    for (auto& e : fs::directory_iterator(cd, ec)) {
      std::string ext = e.path().extension().string();
      if (ext == ".h" || ext == ".hpp") {
        auto h = slurp(e.path().string());
        if (h.is_ok()) p.checker.sources.push_back({e.path().filename().string(), *h, false});
      }
    }
  } else {
    p.checker.kind = CheckerKind::kTokens;  // CMS white-diff
  }
  apply_override(&p, opt);
  return p;
}

namespace {

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == '[' || c == ']') {
      if (!w.empty()) out.push_back(trim(w));
      w.clear();
    } else {
      w += c;
    }
  }
  if (!w.empty()) out.push_back(trim(w));
  return out;
}

// Items of a YAML block list under a top-level key ("type:\n  - pass-fail\n  - interactive").
std::vector<std::string> yaml_block_list(const std::string& text, const std::string& key) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    size_t hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    if (trim(line).empty()) continue;
    if (!line.empty() && line[0] != ' ' && line[0] != '-') {
      inside = trim(line) == key + ":";
      continue;
    }
    std::string t = trim(line);
    if (inside && t.size() > 1 && t[0] == '-') out.push_back(trim(t.substr(1)));
  }
  return out;
}

// The Kattis output validator used as interactor: the only program in output_validators/ (legacy:
// a directory or a single file) or output_validator/ (2023-07). C/C++ sources are compiled
// together with the headers beside them; Python is one file. build/run scripts are refused.
Result<std::vector<SourceFile>> kattis_validator_sources(const fs::path& root, const std::string& dir) {
  std::error_code ec;
  fs::path prog;
  if (fs::is_directory(root / "output_validator", ec)) {
    prog = root / "output_validator";
  } else if (fs::is_directory(root / "output_validators", ec)) {
    std::vector<fs::path> progs;
    for (auto& e : fs::directory_iterator(root / "output_validators", ec)) progs.push_back(e.path());
    if (progs.size() != 1)
      return Status::invalid(dir + ": interactive problem: expected one program in output_validators/, found " +
                             std::to_string(progs.size()));
    prog = progs.front();
  } else {
    return Status::invalid(dir + ": unsupported: interactive problem without an output validator "
                                 "(output_validators/<name>/) to act as interactor");
  }
  std::vector<fs::path> files;
  if (fs::is_regular_file(prog, ec)) {
    files.push_back(prog);
  } else {
    for (auto& e : fs::directory_iterator(prog, ec))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
  }
  std::vector<SourceFile> main_files, rest;
  int py = 0, c = 0, cpp = 0;
  for (auto& f : files) {
    std::string name = f.filename().string();
    if (name == "build" || name == "run")
      return Status::invalid(dir + ": unsupported: output validator " + prog.filename().string() +
                             " uses build/run scripts");
    auto text = slurp(f.string());
    if (!text.is_ok()) return text.status();
    auto lang = language_from_path(name);
    if (lang == Language::kPython) ++py;
    if (lang == Language::kC) ++c;
    if (lang == Language::kCpp) ++cpp;
    if (lang) main_files.push_back({name, std::move(*text), true});
    else rest.push_back({name, std::move(*text), false});  // headers (validate.h, ...) and data
  }
  if (main_files.empty())
    return Status::invalid(dir + ": output validator " + prog.filename().string() + " has no C, C++ or Python source");
  if (py > 0 && (py > 1 || c + cpp > 0))
    return Status::invalid(dir + ": unsupported: output validator " + prog.filename().string() +
                           " mixes languages or has several Python files");
  if (c > 0 && cpp > 0) {  // C++ program with C helpers: compile the C files as C++
    std::stable_partition(main_files.begin(), main_files.end(),
                          [](const SourceFile& f) { return language_from_path(f.name) == Language::kCpp; });
  }
  main_files.insert(main_files.end(), rest.begin(), rest.end());
  return main_files;
}

}  // namespace

Result<CodeProblem> load_kattis_problem(const std::string& dir, const LoadOptions& opt) {
  fs::path root(dir);
  CodeProblem p;
  p.dir = dir;
  p.format = ProblemFormat::kKattis;
  p.id = root.filename().string();
  if (p.id.empty()) p.id = root.parent_path().filename().string();
  p.time_limit_ms = opt.default_time_limit_ms;
  p.memory_bytes = 1024ll << 20;  // Kattis default
  std::string flags;
  std::error_code ec;
  bool interactive = false;
  if (fs::exists(root / "problem.yaml", ec)) {
    auto text = slurp((root / "problem.yaml").string());
    if (!text.is_ok()) return text.status();
    for (const std::string& t : yaml_block_list(*text, "type"))
      if (t == "interactive") interactive = true;
    for (auto& [k, v] : read_simple_yaml(*text)) {
      if (k == "validator_flags") flags = v;
      if (k == "type") {  // 2023-07: a string or a list ("interactive", "[pass-fail, interactive]")
        for (const std::string& t : split_words(v))
          if (t == "interactive") interactive = true;
      }
      if (k == "validation" && v != "default") {
        // Legacy: "custom" [score] [interactive]. Only custom interactive is judged (the validator
        // is the interactor); other custom validation is refused, never misjudged.
        auto words = split_words(v);
        bool custom_interactive = !words.empty() && words[0] == "custom" &&
                                  std::find(words.begin(), words.end(), "interactive") != words.end();
        if (!custom_interactive || std::find(words.begin(), words.end(), "score") != words.end())
          return Status::invalid(dir + ": custom output validation ('" + v + "') is not supported");
        interactive = true;
      }
      if (k == "limits.memory") p.memory_bytes = static_cast<int64_t>(std::atof(v.c_str()) * (1 << 20));
      if (k == "limits.time_limit" || k == "time_limit") {
        p.time_limit_ms = static_cast<int64_t>(std::llround(std::atof(v.c_str()) * 1000));
        p.time_limit_stated = true;
      }
    }
  }
  if (interactive) {
    auto sources = kattis_validator_sources(root, dir);
    if (!sources.is_ok()) return sources.status();
    p.task_type = TaskType::kInteractive;
    p.interactor_protocol = InteractorProtocol::kKattis;
    p.interactor_files = std::move(*sources);
    p.validator_flags = split_words(flags);
  } else if ((fs::is_directory(root / "output_validators", ec) && !fs::is_empty(root / "output_validators", ec)) ||
             fs::is_directory(root / "output_validator", ec)) {
    return Status::invalid(dir + ": custom output validators are not supported");
  }
  p.checker = checker_from_kattis_flags(flags);
  for (const char* group : {"sample", "secret"}) {
    if (std::string(group) == "sample" && !opt.include_samples) continue;
    for (auto& in : sorted_files(root / "data" / group, ".in", true)) {
      TestCase t;
      t.group = group;
      t.name = std::string(group) + "/" + fs::relative(in, root / "data" / group).replace_extension("").string();
      t.input_path = in.string();
      fs::path ans = in;
      ans.replace_extension(".ans");
      t.answer_path = ans.string();
      p.tests.push_back(std::move(t));
    }
  }
  if (p.tests.empty()) return Status::invalid(dir + ": no data/{sample,secret}/*.in");
  apply_override(&p, opt);
  return p;
}

Result<CodeProblem> load_codeforces_row(const json& row, const LoadOptions& opt) {
  if (!row.is_object()) return Status::invalid("codeforces row: not an object");
  CodeProblem p;
  p.format = ProblemFormat::kCodeforces;
  p.id = row.value("id", row.value("contest_id", json()).dump() + row.value("index", std::string()));
  if (row.contains("time_limit") && row["time_limit"].is_number()) {
    p.time_limit_ms = static_cast<int64_t>(std::llround(row["time_limit"].get<double>() * 1000));
    p.time_limit_stated = true;
  }
  if (row.contains("memory_limit") && row["memory_limit"].is_number())
    p.memory_bytes = static_cast<int64_t>(row["memory_limit"].get<double>() * (1 << 20));
  const json* tests = nullptr;
  if (row.contains("official_tests") && row["official_tests"].is_array()) tests = &row["official_tests"];
  else if (row.contains("examples") && row["examples"].is_array()) tests = &row["examples"];
  if (!tests || tests->empty()) return Status::invalid("codeforces row " + p.id + ": no official_tests");
  size_t i = 0;
  for (auto& t : *tests) {
    TestCase tc;
    tc.name = std::to_string(++i);
    tc.input = t.value("input", "");
    tc.answer = t.value("output", "");
    p.tests.push_back(std::move(tc));
  }
  if (row.contains("interaction_format") && row["interaction_format"].is_string() &&
      !row["interaction_format"].get<std::string>().empty()) {
    p.interactor = row["interaction_format"].get<std::string>();
    p.task_type = TaskType::kInteractive;
  }
  if (row.contains("interactor") && row["interactor"].is_string() && !row["interactor"].get<std::string>().empty()) {
    p.interactor_files.push_back({"interactor.cpp", row["interactor"].get<std::string>(), true});
    p.task_type = TaskType::kInteractive;
  }
  if (row.contains("generated_checker") && row["generated_checker"].is_string() &&
      !row["generated_checker"].get<std::string>().empty()) {
    p.checker.kind = CheckerKind::kPythonCf;
    p.checker.sources.push_back({"checker.py", row["generated_checker"].get<std::string>(), true});
  } else {
    p.checker.kind = CheckerKind::kTokens;
  }
  apply_override(&p, opt);
  return p;
}

Result<CodeProblem> load_ioi_row(const json& row, const std::string& tests_dir, const LoadOptions& opt) {
  if (!row.is_object()) return Status::invalid("ioi row: not an object");
  CodeProblem p;
  p.format = ProblemFormat::kCms;
  auto str = [&](const char* k) { return row.contains(k) && row[k].is_string() ? row[k].get<std::string>() : std::string(); };
  std::string pid = str("problem_id");
  if (pid.empty()) pid = str("id");
  if (pid.empty()) pid = str("name");
  if (pid.empty()) pid = "problem";
  p.code = pid;  // the solution is compiled as <id>.cpp, next to the grader's <id>.h
  if (str("task_type") == "Communication") p.task_type = TaskType::kCommunication;
  if (row.contains("time_limit") && row["time_limit"].is_number()) {
    p.time_limit_ms = static_cast<int64_t>(std::llround(row["time_limit"].get<double>() * 1000));
    p.time_limit_stated = true;
  }
  if (row.contains("memory_limit") && row["memory_limit"].is_number()) {
    double m = row["memory_limit"].get<double>();
    p.memory_bytes = static_cast<int64_t>(m >= 65536 ? m : m * (1 << 20));
  }
  if (row.contains("score_precision") && row["score_precision"].is_number_integer())
    p.score_precision = row["score_precision"].get<int>();
  json subtasks = json::array();
  if (row.contains("subtasks") && row["subtasks"].is_array()) subtasks = row["subtasks"];
  else subtasks.push_back({{"subtask", row.value("subtask", std::string("all"))},
                           {"score", row.value("score", 100.0)},
                           {"test_names", row.value("test_names", json::array())}});
  p.id = subtasks.size() == 1 ? pid + "/" + subtasks[0].value("subtask", std::string("all")) : pid;
  for (auto& sj : subtasks) {
    Subtask s;
    s.name = sj.value("subtask", std::string("all"));
    s.points = sj.value("score", 0.0);
    for (auto& tn : sj.value("test_names", json::array())) {
      if (!tn.is_string()) continue;
      std::string n = tn.get<std::string>();
      size_t idx = p.tests.size();
      for (size_t i = 0; i < p.tests.size(); ++i)
        if (p.tests[i].name == n) idx = i;
      if (idx == p.tests.size()) {
        TestCase t;
        t.name = n;
        fs::path base = fs::path(tests_dir) / pid / n;
        if (!fs::exists(base.string() + ".in")) base = fs::path(tests_dir) / n;
        t.input_path = base.string() + ".in";
        t.answer_path = base.string() + ".out";
        p.tests.push_back(std::move(t));
      }
      s.tests.push_back(idx);
    }
    p.subtasks.push_back(std::move(s));
  }
  if (p.tests.empty()) return Status::invalid("ioi row " + p.id + ": no test_names");
  if (row.contains("grader_files") && row["grader_files"].is_array()) {
    for (auto& g : row["grader_files"]) {
      if (!g.is_array() || g.size() != 2 || !g[0].is_string() || !g[1].is_string()) continue;
      std::string name = g[0].get<std::string>();
      std::string body = g[1].get<std::string>();
      if (name == "checker.cpp" || name == "checker/checker.cpp") {
        p.checker.kind = CheckerKind::kCms;
        p.checker.sources.insert(p.checker.sources.begin(), {"checker.cpp", body, true});
      } else if (name.find("testlib.h") != std::string::npos) {
        p.checker.sources.push_back({"testlib.h", body, false});
      } else {
        std::string base = fs::path(name).filename().string();
        if (p.task_type == TaskType::kCommunication && base == "manager.cpp") {
          p.manager_files.push_back({base, body, true});
          continue;
        }
        bool src = base == "grader.cpp" || (p.task_type == TaskType::kCommunication && base == "stub.cpp");
        p.grader_files.push_back({base, body, src});
      }
    }
  }
  if (p.checker.sources.empty() || p.checker.sources.front().name != "checker.cpp") {
    p.checker.kind = CheckerKind::kTokens;
    p.checker.sources.clear();
  }
  apply_override(&p, opt);
  return p;
}

}  // namespace crucible::code

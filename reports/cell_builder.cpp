// build_cell: one leaderboard cell from one run, or from several runs merged.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "reports/leaderboard_model.h"
#include "reports/stats.h"

namespace crucible::reports {
namespace {

std::string text_of(const json& j) {
  if (j.is_null()) return "";
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

double num_or(const json& obj, const char* key, double dflt) {
  if (!obj.is_object()) return dflt;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : dflt;
}

// "pass@8" -> ("pass", 8); "avg@n" -> ("avg", 0).
std::pair<std::string, long> split_metric(const std::string& name) {
  auto at = name.find('@');
  if (at == std::string::npos) return {name, 0};
  std::string k = name.substr(at + 1);
  long v = 0;
  if (!k.empty() && std::all_of(k.begin(), k.end(), ::isdigit)) v = std::stol(k.substr(0, 9));
  return {name.substr(0, at), v};
}

int family_rank(const std::string& family) {
  if (family == "avg") return 0;
  if (family == "pass") return 1;
  if (family == "maj") return 2;
  return 3;
}

void sort_metrics(std::vector<std::pair<std::string, Metric>>* m) {
  std::stable_sort(m->begin(), m->end(), [](const auto& a, const auto& b) {
    auto [fa, ka] = split_metric(a.first);
    auto [fb, kb] = split_metric(b.first);
    return std::make_tuple(family_rank(fa), fa, ka) < std::make_tuple(family_rank(fb), fb, kb);
  });
}

std::vector<Subtask> parse_subtasks(const json& arr) {
  std::vector<Subtask> out;
  if (!arr.is_array()) return out;
  for (size_t i = 0; i < arr.size(); ++i) {
    const json& s = arr[i];
    if (!s.is_object()) continue;
    Subtask t;
    t.name = s.contains("name") ? text_of(s["name"]) : fmt::format("subtask {}", i + 1);
    t.points = num_or(s, "points", num_or(s, "score", 0));
    t.max_points = num_or(s, "max_points", num_or(s, "max_score", 0));
    out.push_back(std::move(t));
  }
  return out;
}

ProblemResult parse_problem(const json& p) {
  ProblemResult r;
  r.id = p.contains("id") ? text_of(p["id"]) : text_of(p.value("problem_id", json()));
  r.n = static_cast<int>(num_or(p, "n", 0));
  r.correct = num_or(p, "correct", 0);
  r.avg = num_or(p, "avg", r.n > 0 ? r.correct / r.n : 0);
  if (p.contains("majority_answer")) r.majority_answer = text_of(p["majority_answer"]);
  if (p.contains("prompt")) r.prompt = text_of(p["prompt"]);
  r.subtasks = parse_subtasks(p.value("subtasks", json()));
  if (p.contains("points") && p["points"].is_number()) r.points = p["points"].get<double>();
  if (p.contains("max_points") && p["max_points"].is_number()) r.max_points = p["max_points"].get<double>();
  if (!r.subtasks.empty()) {
    double pts = 0, mx = 0;
    for (const auto& s : r.subtasks) pts += s.points, mx += s.max_points;
    if (!r.points) r.points = pts;
    if (!r.max_points && mx > 0) r.max_points = mx;
  }
  if (p.contains("solved")) {
    const json& s = p["solved"];
    if (s.is_boolean()) r.solved = s.get<bool>();
    else if (s.is_number()) r.solved = s.get<double>() > 0;
  }
  return r;
}

// Cell straight from one run's results.json.
Cell cell_from_run(const RunRecord& run) {
  Cell c;
  c.benchmark = run.task;
  const json& res = run.results;
  c.n = static_cast<int>(num_or(res, "n", num_or(run.run.value("sampling", json::object()), "n", 0)));
  for (const auto& [name, v] : res["metrics"].items()) {
    Metric m;
    if (v.is_number()) m.value = v.get<double>() * 100;
    else if (v.is_object()) {
      m.value = num_or(v, "value", 0) * 100;
      m.se = num_or(v, "stderr", -0.01) * 100;
    } else continue;
    auto [family, k] = split_metric(name);
    std::string key = name;
    if (family == "avg") {
      key = "avg@n";
      if (c.n == 0 && k > 0) c.n = static_cast<int>(k);
    }
    c.metrics.emplace_back(key, m);
  }
  sort_metrics(&c.metrics);
  if (res.contains("per_problem") && res["per_problem"].is_array())
    for (const auto& p : res["per_problem"])
      if (p.is_object()) c.problems.push_back(parse_problem(p));
  c.num_problems = static_cast<size_t>(num_or(res, "num_problems", static_cast<double>(c.problems.size())));
  c.num_samples = static_cast<size_t>(num_or(res, "num_samples", static_cast<double>(run.samples.size())));
  if (res.contains("verdict_counts") && res["verdict_counts"].is_object()) c.verdict_counts = res["verdict_counts"];
  c.samples = run.samples;
  c.runs = {run.dir};
  for (const auto& note : run.notes) c.notes.push_back(run.dir + ": " + note);
  return c;
}

bool same_grade(const SampleRecord& a, const SampleRecord& b) {
  return a.correct == b.correct && a.verdict == b.verdict && a.extracted == b.extracted &&
         std::fabs(a.score - b.score) < 1e-9;
}

std::string describe(const SampleRecord& s) {
  return fmt::format("{} ({}, extracted \"{}\")", s.correct ? "correct" : "wrong", s.verdict, s.extracted);
}

struct ProblemAcc {
  int n = 0;
  double correct = 0;
  std::vector<std::string> answers;  // extracted answers, in order, for the majority answer
};

std::string majority_of(const std::vector<std::string>& answers) {
  std::vector<std::pair<std::string, int>> counts;
  for (const auto& a : answers) {
    if (a.empty()) continue;
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& p) { return p.first == a; });
    if (it == counts.end()) counts.emplace_back(a, 1);
    else ++it->second;
  }
  const std::pair<std::string, int>* best = nullptr;
  for (const auto& p : counts)
    if (!best || p.second > best->second) best = &p;
  return best ? best->first : "";
}

// Per-problem extras (prompt, IOI points, solved) merged across runs: best points, any solved.
void merge_extras(ProblemResult* into, const ProblemResult& from) {
  if (into->prompt.empty()) into->prompt = from.prompt;
  if (from.points && (!into->points || *from.points > *into->points)) into->points = from.points;
  if (from.max_points && !into->max_points) into->max_points = from.max_points;
  for (const auto& s : from.subtasks) {
    auto it = std::find_if(into->subtasks.begin(), into->subtasks.end(),
                           [&](const Subtask& t) { return t.name == s.name; });
    if (it == into->subtasks.end()) into->subtasks.push_back(s);
    else it->points = std::max(it->points, s.points);
  }
  if (from.solved) into->solved = into->solved.value_or(false) || *from.solved;
}

void recompute_metrics(Cell* c) {
  int min_n = 0;
  std::vector<double> avgs;
  for (const auto& p : c->problems) {
    if (p.n <= 0) continue;
    min_n = min_n == 0 ? p.n : std::min(min_n, p.n);
    avgs.push_back(p.correct / p.n);
  }
  c->n = min_n;
  c->num_problems = avgs.size();
  MeanSe avg = mean_se(avgs);
  c->metrics = {{"avg@n", {avg.mean * 100, avg.se * 100}}};
  for (long k = 1; min_n > 0 && k <= min_n; k *= 2) {
    std::vector<double> xs;
    for (const auto& p : c->problems)
      if (p.n > 0) xs.push_back(pass_at_k(p.n, static_cast<int>(std::lround(p.correct)), static_cast<int>(k)));
    MeanSe m = mean_se(xs);
    c->metrics.emplace_back(fmt::format("pass@{}", k), Metric{m.mean * 100, m.se * 100});
  }
}

struct MergeState {
  std::map<std::tuple<std::string, std::string, int>, size_t> index;  // (seed, problem, sample)
  std::map<std::string, ProblemAcc> acc;
  std::vector<std::string> order;
  size_t identical_dups = 0;
  size_t conflicts = 0;
};

void add_sample(const RunRecord& run, const SampleRecord& s, Cell* c, MergeState* st,
                std::vector<std::string>* warnings) {
  auto key = std::make_tuple(run.seed, s.problem_id, s.sample);
  auto it = st->index.find(key);
  if (it != st->index.end()) {
    const SampleRecord& kept = c->samples[it->second];
    if (same_grade(kept, s)) {
      ++st->identical_dups;
    } else {
      ++st->conflicts;
      warnings->push_back(fmt::format(
          "conflicting duplicate sample for {} / {}: problem {} sample {} (seed {}): kept {} from the "
          "first run, ignored {} from {}",
          run.model, run.task, s.problem_id, s.sample, run.seed.empty() ? "none" : run.seed,
          describe(kept), describe(s), run.dir));
    }
    return;
  }
  st->index.emplace(key, c->samples.size());
  c->samples.push_back(s);
  auto [pit, inserted] = st->acc.try_emplace(s.problem_id);
  if (inserted) st->order.push_back(s.problem_id);
  ++pit->second.n;
  pit->second.correct += s.correct ? 1 : 0;
  pit->second.answers.push_back(s.extracted);
}

// Merge by sample key when every run has samples.jsonl.
void merge_samples(const std::vector<const RunRecord*>& runs, Cell* c, std::vector<std::string>* warnings) {
  MergeState st;
  for (const RunRecord* r : runs)
    for (const auto& s : r->samples) add_sample(*r, s, c, &st, warnings);
  std::map<std::string, ProblemResult> extras;
  for (const RunRecord* r : runs) {
    Cell one = cell_from_run(*r);
    for (const auto& p : one.problems) merge_extras(&extras[p.id], p);
  }
  for (const auto& id : st.order) {
    const ProblemAcc& a = st.acc[id];
    ProblemResult p = extras.count(id) ? extras[id] : ProblemResult{};
    p.id = id;
    p.n = a.n;
    p.correct = a.correct;
    p.avg = a.n ? a.correct / a.n : 0;
    p.majority_answer = majority_of(a.answers);
    if (p.prompt.empty())
      for (const auto& s : c->samples)
        if (s.problem_id == id && !s.prompt.empty()) { p.prompt = s.prompt; break; }
    c->problems.push_back(std::move(p));
  }
  c->num_samples = c->samples.size();
  std::map<std::string, int> verdicts;
  for (const auto& s : c->samples) ++verdicts[s.verdict.empty() ? "unknown" : s.verdict];
  c->verdict_counts = verdicts;
  if (st.identical_dups)
    c->notes.push_back(fmt::format("{} duplicate sample(s) with identical grades counted once", st.identical_dups));
  if (st.conflicts)
    c->notes.push_back(fmt::format("{} conflicting duplicate sample(s): the first run's grade was kept", st.conflicts));
}

// Merge per-problem counts from results.json when some run has no samples.jsonl.
void merge_counts(const std::vector<const RunRecord*>& runs, Cell* c) {
  std::map<std::string, size_t> pos;
  for (const RunRecord* r : runs) {
    Cell one = cell_from_run(*r);
    for (const auto& p : one.problems) {
      auto [it, inserted] = pos.try_emplace(p.id, c->problems.size());
      if (inserted) {
        c->problems.push_back(p);
        continue;
      }
      ProblemResult& into = c->problems[it->second];
      into.n += p.n;
      into.correct += p.correct;
      into.avg = into.n ? into.correct / into.n : 0;
      merge_extras(&into, p);
    }
    for (auto& s : one.samples) c->samples.push_back(std::move(s));
    c->num_samples += one.num_samples;
  }
  std::string msg = fmt::format(
      "{} / {}: merged {} runs from per-problem counts (some run has no samples.jsonl), so duplicate "
      "samples could not be detected",
      runs.front()->model, runs.front()->task, runs.size());
  c->notes.push_back(msg);
}

}  // namespace

Cell build_cell(const std::vector<const RunRecord*>& runs, std::vector<std::string>* warnings) {
  if (runs.size() == 1) return cell_from_run(*runs.front());
  Cell c;
  c.benchmark = runs.front()->task;
  c.merged = true;
  bool all_samples = std::all_of(runs.begin(), runs.end(), [](const RunRecord* r) { return r->has_samples; });
  if (all_samples) merge_samples(runs, &c, warnings);
  else merge_counts(runs, &c);
  recompute_metrics(&c);
  for (const RunRecord* r : runs) {
    c.runs.push_back(r->dir);
    for (const auto& note : r->notes) c.notes.push_back(r->dir + ": " + note);
  }
  c.notes.push_back(fmt::format("merged from {} runs; avg@n and pass@k recomputed from samples, maj@k omitted",
                                runs.size()));
  return c;
}

}  // namespace crucible::reports

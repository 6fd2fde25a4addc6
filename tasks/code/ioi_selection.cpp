#include "tasks/code/ioi_selection.h"

#include <algorithm>
#include <deque>
#include <set>
#include <tuple>

namespace crucible::code {
namespace {

double at(const std::vector<double>& v, size_t i) { return i < v.size() ? v[i] : 0.0; }

bool solves(const IoiSubmission& s, size_t subtask) { return at(s.fraction, subtask) >= 1.0 - 1e-9; }

// Index of the subtask a submission targets (out of range -> the last one).
size_t target_of(const IoiSubmission& s, size_t n) {
  if (s.target_subtask < 0 || static_cast<size_t>(s.target_subtask) >= n) return n - 1;
  return static_cast<size_t>(s.target_subtask);
}

}  // namespace

double ioi_best_per_subtask_points(const std::vector<IoiSubtaskInfo>& subtasks,
                                   const std::vector<IoiSubmission>& submissions,
                                   const std::vector<size_t>& chosen, std::vector<IoiSubtaskBest>* best) {
  std::vector<IoiSubtaskBest> b(subtasks.size());
  for (size_t k = 0; k < subtasks.size(); ++k) {
    b[k].name = subtasks[k].name;
    b[k].max_points = subtasks[k].max_points;
  }
  for (size_t i : chosen) {
    if (i >= submissions.size()) continue;
    for (size_t k = 0; k < subtasks.size(); ++k) {
      double p = at(submissions[i].points, k);
      if (p > b[k].points) {
        b[k].points = p;
        b[k].submission = static_cast<long>(i);
      }
    }
  }
  double total = 0;
  for (auto& x : b) total += x.points;
  if (best) *best = std::move(b);
  return total;
}

IoiSelection select_ioi_submissions(const std::vector<IoiSubtaskInfo>& subtasks,
                                    const std::vector<IoiSubmission>& subs, const IoiSelectionOptions& opt) {
  IoiSelection out;
  const size_t n = subtasks.size();
  for (auto& s : subtasks) out.max_points += s.max_points;
  if (n == 0 || subs.empty()) {
    out.points = ioi_best_per_subtask_points(subtasks, subs, {}, &out.subtasks);
    return out;
  }

  // 2. Groups by target subtask, each ordered by (examples score, CoT length) descending, stable.
  auto key = [&](size_t i) { return std::make_tuple(at(subs[i].fraction, 0), subs[i].cot_length); };
  std::vector<std::deque<size_t>> group(n);
  for (size_t i = 0; i < subs.size(); ++i)
    if (subs[i].compiled) group[target_of(subs[i], n)].push_back(i);
  for (auto& g : group)
    std::stable_sort(g.begin(), g.end(), [&](size_t a, size_t b) { return key(a) > key(b); });

  // 3. Round robin from the last subtask down.
  std::vector<char> exhausted(n, 0);
  for (size_t k = 0; k < n; ++k) exhausted[k] = group[k].empty();
  std::set<size_t> solved_idx;  // subtasks solved by a selected submission (by index)
  auto skip = [&](size_t k) {
    if (k == 0 || exhausted[k]) return true;  // the examples count as solved from the start
    return !opt.reference_quirk && solved_idx.count(k) > 0;
  };
  auto finished = [&] {
    if (opt.reference_quirk) {
      // |exhausted names ∪ {examples name}| + |solved indices| (names and indices never collide).
      size_t names = 1;
      for (size_t k = 1; k < n; ++k) names += exhausted[k] ? 1 : 0;
      return names + solved_idx.size() >= n;
    }
    for (size_t k = 1; k < n; ++k)
      if (!exhausted[k] && !solved_idx.count(k)) return false;
    return true;
  };
  std::vector<size_t> chosen;
  size_t k = n - 1;
  while (chosen.size() < opt.limit && !finished()) {
    if (!skip(k)) {
      size_t i = group[k].front();
      group[k].pop_front();
      chosen.push_back(i);
      for (size_t t = 0; t < n; ++t)
        if (solves(subs[i], t)) solved_idx.insert(t);
      if (group[k].empty()) exhausted[k] = 1;
    }
    k = (k + n - 1) % n;
  }

  // 4. Fill with the rest: (examples score, CoT length, target index) descending, stable over the
  // groups concatenated in subtask order.
  std::vector<size_t> rest;
  for (auto& g : group) rest.insert(rest.end(), g.begin(), g.end());
  auto key3 = [&](size_t i) {
    return std::make_tuple(at(subs[i].fraction, 0), subs[i].cot_length, target_of(subs[i], n));
  };
  std::stable_sort(rest.begin(), rest.end(), [&](size_t a, size_t b) { return key3(a) > key3(b); });
  for (size_t i : rest) {
    if (chosen.size() >= opt.limit) break;
    chosen.push_back(i);
  }

  // 5. Scores.
  out.selected = chosen;
  out.points = ioi_best_per_subtask_points(subtasks, subs, chosen, &out.subtasks);
  std::vector<size_t> all;  // every submission that could be submitted
  for (size_t i = 0; i < subs.size(); ++i)
    if (subs[i].compiled) all.push_back(i);
  out.all_points = ioi_best_per_subtask_points(subtasks, subs, all);
  for (size_t i : all) {
    double t = 0;
    for (size_t s = 0; s < n; ++s) t += at(subs[i].points, s);
    out.best_single_points = std::max(out.best_single_points, t);
  }
  return out;
}

nlohmann::json IoiSelection::to_json(const std::vector<IoiSubmission>& subs) const {
  nlohmann::json j;
  j["points"] = points;
  j["max_points"] = max_points;
  j["score"] = max_points > 0 ? points / max_points : 0.0;
  j["all_submissions_points"] = all_points;
  j["best_single_submission_points"] = best_single_points;
  j["submissions"] = subs.size();
  size_t compiled = 0;
  for (auto& s : subs) compiled += s.compiled ? 1 : 0;
  j["compiled"] = compiled;
  j["selected"] = selected.size();
  j["subtasks"] = nlohmann::json::array();
  for (auto& b : subtasks) {
    nlohmann::json st = {{"name", b.name}, {"max_points", b.max_points}, {"points", b.points}};
    st["best_submission"] = b.submission >= 0 ? nlohmann::json(subs[b.submission].id) : nlohmann::json(nullptr);
    j["subtasks"].push_back(st);
  }
  return j;
}

IoiSubmission ioi_submission_from_details(const nlohmann::json& details, const std::string& verdict,
                                          const std::vector<IoiSubtaskInfo>& subtasks) {
  IoiSubmission s;
  s.points.assign(subtasks.size(), 0.0);
  s.fraction.assign(subtasks.size(), 0.0);
  if (verdict == "compile_error" || verdict == "no_answer") {
    s.compiled = false;
    return s;
  }
  if (!details.is_object() || !details.contains("subtasks") || !details["subtasks"].is_array()) return s;
  for (const auto& st : details["subtasks"]) {
    if (!st.is_object()) continue;
    std::string name = st.value("name", std::string());
    for (size_t k = 0; k < subtasks.size(); ++k) {
      if (subtasks[k].name != name) continue;
      double pts = st.value("points", 0.0), mx = st.value("max_points", subtasks[k].max_points);
      s.points[k] = pts;
      if (mx > 0) s.fraction[k] = std::max(0.0, std::min(1.0, pts / mx));
      else s.fraction[k] = st.value("verdict", std::string()) == "correct" ? 1.0 : 0.0;
      if (st.value("verdict", std::string()) == "correct") s.fraction[k] = 1.0;
      break;
    }
  }
  return s;
}

}  // namespace crucible::code

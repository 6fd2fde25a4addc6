#include "reports/html_drilldown.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "reports/cell_format.h"
#include "reports/escape.h"

namespace crucible::reports {
namespace {

std::string completion_html(const std::string& text, const HtmlOptions& opt) {
  size_t keep = opt.max_completion_chars == 0 ? text.size() : std::min(text.size(), opt.max_completion_chars);
  std::string_view kept = utf8_prefix(text, keep);
  std::string_view head = utf8_prefix(kept, opt.visible_chars);
  std::string_view rest = kept.substr(head.size());
  std::string omitted;
  if (kept.size() < text.size())
    omitted = fmt::format("\n[... {} more bytes not included in this report; see samples.jsonl]", text.size() - kept.size());
  std::string out = "<pre class=\"completion\">" + html_escape(head);
  if (!rest.empty() || !omitted.empty()) {
    out += "<span class=\"rest\" hidden>" + html_escape(rest) + html_escape(omitted) + "</span></pre>";
    std::string more = fmt::format("show all ({} bytes)", text.size());
    out += fmt::format("<button type=\"button\" class=\"more\" data-more=\"{0}\" data-less=\"show less\">{0}</button>",
                       more);
  } else {
    out += "</pre>";
  }
  if (text.empty()) out = "<pre class=\"completion empty\">(empty completion)</pre>";
  return out;
}

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// details.tests (or details.test_results): an array of objects -> a small table.
std::string tests_table(const json& tests) {
  std::vector<std::string> cols;
  for (size_t i = 0; i < tests.size() && i < 20; ++i)
    if (tests[i].is_object())
      for (const auto& [k, v] : tests[i].items())
        if (!v.is_structured() && cols.size() < 8 && std::find(cols.begin(), cols.end(), k) == cols.end())
          cols.push_back(k);
  std::ostringstream os;
  os << "<table class=\"tests\"><thead><tr>";
  for (const auto& c : cols) os << "<th>" << html_escape(c) << "</th>";
  os << "</tr></thead><tbody>";
  size_t shown = std::min<size_t>(tests.size(), 200);
  for (size_t i = 0; i < shown; ++i) {
    os << "<tr>";
    for (const auto& c : cols)
      os << "<td>" << (tests[i].is_object() && tests[i].contains(c) ? html_escape(scalar_text(tests[i][c])) : "") << "</td>";
    os << "</tr>";
  }
  os << "</tbody></table>";
  if (shown < tests.size()) os << fmt::format("<div class=\"muted\">{} more tests not shown</div>", tests.size() - shown);
  return os.str();
}

std::string details_html(const json& d) {
  if (!d.is_object() || d.empty()) return "";
  std::string out;
  for (const char* key : {"tests", "test_results"})
    if (d.contains(key) && d[key].is_array() && !d[key].empty())
      out += "<div class=\"muted\">test results</div>" + tests_table(d[key]);
  std::string dump = d.dump(2, ' ', false, json::error_handler_t::replace);
  std::string_view shown = utf8_prefix(dump, 8000);
  out += "<details class=\"grader-details\"><summary>grader details</summary><pre>" + html_escape(shown) +
         (shown.size() < dump.size() ? "\n[... truncated]" : "") + "</pre></details>";
  return out;
}

std::string sample_html(const SampleRecord& s, const HtmlOptions& opt) {
  std::string cls = s.correct ? "correct" : "wrong";
  std::string out = fmt::format("<div class=\"sample {}\" data-sample=\"{}\"><div class=\"meta\">sample {} · ", cls,
                                s.sample, s.sample);
  out += "<span class=\"badge verdict\">" + html_escape(s.verdict.empty() ? cls : s.verdict) + "</span>";
  out += " · extracted <code>" + (s.extracted.empty() ? "(none)" : html_escape(s.extracted)) + "</code>";
  if (!s.finish_reason.empty()) out += " · finish " + html_escape(s.finish_reason);
  if (s.score != (s.correct ? 1.0 : 0.0)) out += fmt::format(" · score {:.3g}", s.score);
  out += "</div>" + completion_html(s.completion, opt) + details_html(s.details) + "</div>";
  return out;
}

std::string problem_summary(const ProblemResult& p) {
  std::string s = "<code>" + html_escape(p.id) + "</code> · ";
  s += fmt::format("{:g}/{} correct ({:.0f}%)", p.correct, p.n, p.avg * 100);
  if (!p.majority_answer.empty()) s += " · majority <code>" + html_escape(p.majority_answer) + "</code>";
  if (p.points) s += fmt::format(" · {:g}{} pts", *p.points, p.max_points ? fmt::format("/{:g}", *p.max_points) : "");
  if (p.solved) s += *p.solved ? " · solved" : " · unsolved";
  return s;
}

std::string problem_html(const ProblemResult& p, const std::vector<const SampleRecord*>& samples,
                         const HtmlOptions& opt) {
  std::ostringstream os;
  os << "<details class=\"problem\" data-problem=\"" << html_escape(p.id) << "\"><summary>" << problem_summary(p)
     << "</summary>";
  if (!p.prompt.empty())
    os << "<details class=\"prompt\"><summary>prompt</summary><pre>" << html_escape(p.prompt) << "</pre></details>";
  else
    os << "<div class=\"muted\">problem " << html_escape(p.id) << " (prompt not stored in the run)</div>";
  size_t limit = opt.samples_per_problem > 0 ? static_cast<size_t>(opt.samples_per_problem) : samples.size();
  for (size_t i = 0; i < samples.size() && i < limit; ++i) os << sample_html(*samples[i], opt);
  if (samples.empty()) os << "<div class=\"muted\">no samples stored</div>";
  if (samples.size() > limit)
    os << fmt::format("<div class=\"muted\">showing {} of {} samples (use --samples-per-problem 0 for all)</div>",
                      limit, samples.size());
  os << "</details>";
  return os.str();
}

}  // namespace

std::string render_drilldown(const Row& row, const Cell& cell, const HtmlOptions& opt) {
  std::map<std::string, std::vector<const SampleRecord*>> by_problem;
  for (const auto& s : cell.samples) by_problem[s.problem_id].push_back(&s);
  for (auto& [id, v] : by_problem)
    std::stable_sort(v.begin(), v.end(), [](const SampleRecord* a, const SampleRecord* b) { return a->sample < b->sample; });
  std::vector<ProblemResult> problems = cell.problems;
  std::set<std::string> known;
  for (const auto& p : problems) known.insert(p.id);
  for (const auto& [id, v] : by_problem)
    if (!known.count(id)) {  // samples of problems not scored (incomplete run)
      ProblemResult p;
      p.id = id;
      p.n = static_cast<int>(v.size());
      for (const auto* s : v) p.correct += s->correct;
      p.avg = p.n ? p.correct / p.n : 0;
      problems.push_back(p);
    }
  std::ostringstream os;
  os << "<details class=\"run\" data-model=\"" << html_escape(row.key) << "\" data-benchmark=\""
     << html_escape(cell.benchmark) << "\"><summary><b>" << html_escape(row.key) << "</b> · "
     << html_escape(cell.benchmark) << " · " << (cell.avg() ? html_escape(fmt_metric(*cell.avg())) : "–") << " · "
     << html_escape(cell_detail(cell)) << fmt::format(" · {} problems", problems.size()) << "</summary>";
  os << "<div class=\"meta\">runs:";
  for (const auto& r : cell.runs) os << " <code>" << html_escape(r) << "</code>";
  os << "</div>";
  for (const auto& n : cell.notes) os << "<div class=\"muted\">" << html_escape(n) << "</div>";
  for (const auto& p : problems) {
    auto it = by_problem.find(p.id);
    static const std::vector<const SampleRecord*> kNone;
    os << problem_html(p, it == by_problem.end() ? kNone : it->second, opt);
  }
  os << "</details>";
  return os.str();
}

}  // namespace crucible::reports

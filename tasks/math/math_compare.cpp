// compare_answers: the staged pipeline (see math_compare.h).
//   1. size guard: over max_input_chars -> normalised text equality only (noted);
//   2. "string": normalised text equality (no CAS);
//   3. "exact": plain integer / integer-fraction literals compared without GiNaC;
//   4. parse both with latex_parser under ginac_mutex(), then values_equal (equivalence.h).
// Every exception is caught here: compare_answers never throws.
#include "tasks/math/math_compare.h"

#include <chrono>
#include <mutex>

#include "tasks/math/answer_text.h"
#include "tasks/math/equivalence.h"
#include "tasks/math/latex_parser.h"

namespace crucible::math {
namespace {

CompareResult compare_impl(std::string_view gold, std::string_view pred, const CompareOptions& opts) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  CompareResult r;
  r.method = "string";
  const std::string_view g = trim_answer(gold), p = trim_answer(pred);
  if (g.size() > static_cast<size_t>(opts.max_input_chars) ||
      p.size() > static_cast<size_t>(opts.max_input_chars)) {
    r.equal = normalize_answer_text(g) == normalize_answer_text(p);
    r.note = "answer longer than max_input_chars: text comparison only";
    return r;
  }
  const std::string ng = normalize_answer_text(g), np = normalize_answer_text(p);
  if (ng.empty() || np.empty()) {
    r.note = "empty answer";
    return r;
  }
  if (ng == np) {
    r.equal = true;
    return r;
  }
  if (std::optional<bool> lit = compare_plain_literals(ng, np)) {
    r.equal = *lit;
    r.gold_parsed = r.pred_parsed = true;
    r.method = "exact";
    return r;
  }

  std::lock_guard<std::mutex> lock(ginac_mutex());  // outlives every GiNaC object below
  ParseContext pctx;
  pctx.max_depth = opts.max_depth;
  pctx.deadline = start + std::chrono::microseconds(static_cast<long>(opts.time_budget_ms * 1000));
  Result<Value> gv = parse_answer(g, pctx);
  Result<Value> pv = parse_answer(p, pctx);
  r.gold_parsed = gv.is_ok();
  r.pred_parsed = pv.is_ok();
  if (!gv.is_ok() || !pv.is_ok()) {
    r.equal = false;
    r.note = !gv.is_ok() ? "gold: " + gv.status().message() : "pred: " + pv.status().message();
    return r;
  }
  EquivContext ectx;
  ectx.opts = &opts;
  ectx.parse = &pctx;
  ectx.deadline = pctx.deadline;
  r.equal = values_equal(*gv, *pv, ectx);
  r.method = ectx.method.empty() ? "structure" : ectx.method;
  r.note = ectx.note;
  return r;
}

}  // namespace

CompareResult compare_answers(std::string_view gold, std::string_view pred, const CompareOptions& opts) {
  try {
    return compare_impl(gold, pred, opts);
  } catch (const std::exception& e) {
    CompareResult r;
    r.method = "error";
    r.note = std::string("internal error: ") + e.what();
    return r;
  } catch (...) {
    CompareResult r;
    r.method = "error";
    r.note = "internal error";
    return r;
  }
}

}  // namespace crucible::math

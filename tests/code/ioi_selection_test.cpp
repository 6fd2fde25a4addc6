// The public IOI benchmark's 50-submission selection (tasks/code/ioi_selection.h) on hand-computed
// cases: best per subtask across submissions, compile errors never selected, the round robin's
// order (targets from the last subtask down, examples score then CoT length), the fill phase, the
// reference implementation's early end, and the 50 limit.
#include <gtest/gtest.h>

#include "tasks/code/ioi_selection.h"

using namespace crucible::code;

namespace {

// Subtasks: 00-samples (0 points), 01-a (30), 02-b (70).
std::vector<IoiSubtaskInfo> three() { return {{"00-samples", 0}, {"01-a", 30}, {"02-b", 70}}; }

IoiSubmission sub(const std::string& id, int target, double samples, int64_t cot, double a, double b,
                  bool compiled = true) {
  IoiSubmission s;
  s.id = id;
  s.target_subtask = target;
  s.compiled = compiled;
  s.cot_length = cot;
  s.points = {0, a, b};
  s.fraction = {samples, a / 30, b / 70};
  return s;
}

}  // namespace

TEST(IoiSelection, AllSelectedUnderTheLimitBestPerSubtask) {
  // 00-samples 0, 01 20, 02 30, 03 50 (aplusb's shape).
  std::vector<IoiSubtaskInfo> st = {{"00-samples", 0}, {"01", 20}, {"02", 30}, {"03", 50}};
  auto mk = [](std::string id, std::vector<double> pts, std::vector<double> frac, bool compiled = true) {
    IoiSubmission s;
    s.id = id;
    s.points = pts;
    s.fraction = frac;
    s.compiled = compiled;
    return s;
  };
  std::vector<IoiSubmission> subs = {
      mk("A", {0, 20, 15, 0}, {1, 1, 0.5, 0}),  // 35 points alone
      mk("B", {0, 0, 30, 0}, {1, 0, 1, 0}),      // 30 points alone
      mk("C", {0, 0, 0, 0}, {0, 0, 0, 0}, false),  // compile error
  };
  IoiSelection r = select_ioi_submissions(st, subs);
  EXPECT_EQ(r.selected, (std::vector<size_t>{0, 1}));  // C never selected
  // 20 (A on 01) + 30 (B on 02) + 0 = 50: no single submission has it.
  EXPECT_DOUBLE_EQ(r.points, 50);
  EXPECT_DOUBLE_EQ(r.max_points, 100);
  EXPECT_DOUBLE_EQ(r.best_single_points, 35);
  EXPECT_DOUBLE_EQ(r.all_points, 50);
  ASSERT_EQ(r.subtasks.size(), 4u);
  EXPECT_EQ(r.subtasks[1].submission, 0);
  EXPECT_EQ(r.subtasks[2].submission, 1);
  EXPECT_EQ(r.subtasks[3].submission, -1);
  auto j = r.to_json(subs);
  EXPECT_EQ(j["subtasks"][2]["best_submission"], "B");
  EXPECT_TRUE(j["subtasks"][3]["best_submission"].is_null());
  EXPECT_DOUBLE_EQ(j["score"].get<double>(), 0.5);
  EXPECT_EQ(j["compiled"], 2);
}

// Groups (target 2): 0 (samples 1, cot 100, solves 01), 2 (1, 50, nothing), 1 (0, 500, solves 02);
// (target 1): 4 (1, 20, nothing), 3 (1, 10, solves 01); 5 does not compile.
std::vector<IoiSubmission> six() {
  return {sub("s0", 2, 1, 100, 30, 0), sub("s1", 2, 0, 500, 0, 70), sub("s2", 2, 1, 50, 0, 0),
          sub("s3", 1, 1, 10, 30, 0),  sub("s4", 1, 1, 20, 0, 0),   sub("s5", 1, 1, 999, 30, 70, false)};
}

TEST(IoiSelection, ReferenceBehaviourEndsRoundRobinEarlyThenFills) {
  IoiSelectionOptions o;
  o.limit = 3;
  IoiSelection r = select_ioi_submissions(three(), six(), o);
  // Round robin starts at 02-b: head of its group is s0 (samples 1, cot 100 beats s2's 50). s0
  // solves the examples (index 0) and 01 (index 1): the reference counts {"00-samples", 0, 1} =
  // 3 >= 3 subtasks and leaves the round robin. Fill: what is left, in subtask order
  // [s4, s3, s2, s1], sorted by (samples, cot, target) descending: s2 (1,50,2), s4 (1,20,1),
  // s3 (1,10,1), s1 (0,500,2) -> two slots: s2, s4.
  EXPECT_EQ(r.selected, (std::vector<size_t>{0, 2, 4}));
  EXPECT_DOUBLE_EQ(r.points, 30);   // s1's 70 on 02-b is not among them
  EXPECT_DOUBLE_EQ(r.all_points, 100);
  EXPECT_DOUBLE_EQ(r.best_single_points, 70);
}

TEST(IoiSelection, StrictRoundRobinSkipsSolvedSubtasks) {
  IoiSelectionOptions o;
  o.limit = 3;
  o.reference_quirk = false;
  IoiSelection r = select_ioi_submissions(three(), six(), o);
  // 02-b: s0 (solves 01); 01-a is solved -> skipped; examples skipped; 02-b: s2; 02-b: s1 (solves
  // 02). Three submissions: 30 + 70.
  EXPECT_EQ(r.selected, (std::vector<size_t>{0, 2, 1}));
  EXPECT_DOUBLE_EQ(r.points, 100);
}

TEST(IoiSelection, RoundRobinAlternatesTargetsFromTheLastSubtaskDown) {
  // Nothing solves anything, so the rotation runs: 02, 01, (00 skipped), 02, 01, ...
  std::vector<IoiSubmission> subs = {sub("a2", 2, 0, 1, 0, 0), sub("b2", 2, 0, 2, 0, 0), sub("c2", 2, 0, 3, 0, 0),
                                     sub("a1", 1, 0, 1, 0, 0), sub("b1", 1, 0, 2, 0, 0)};
  IoiSelectionOptions o;
  o.limit = 4;
  IoiSelection r = select_ioi_submissions(three(), subs, o);
  // Groups by CoT descending: 02 [c2, b2, a2], 01 [b1, a1].
  EXPECT_EQ(r.selected, (std::vector<size_t>{2, 4, 1, 3}));
  // Once 01's group is used up the rotation continues with 02 alone.
  o.limit = 5;
  EXPECT_EQ(select_ioi_submissions(three(), subs, o).selected, (std::vector<size_t>{2, 4, 1, 3, 0}));
}

TEST(IoiSelection, OnlyFiftyCount) {
  // 60 whole-problem submissions (target = last subtask); only #55 solves 02-b. All tie on the
  // examples score and CoT length, so generation order decides and #55 is not among the 50.
  std::vector<IoiSubmission> subs;
  for (int i = 0; i < 60; ++i) subs.push_back(sub("x" + std::to_string(i), -1, 1, 7, i == 55 ? 0 : 30, i == 55 ? 70 : 0));
  IoiSelection r = select_ioi_submissions(three(), subs);
  ASSERT_EQ(r.selected.size(), 50u);
  for (size_t k = 0; k < 50; ++k) EXPECT_EQ(r.selected[k], k);
  EXPECT_DOUBLE_EQ(r.points, 30);
  EXPECT_DOUBLE_EQ(r.all_points, 100);
  // A longer chain of thought moves it to the front of its group.
  subs[55].cot_length = 8;
  IoiSelection r2 = select_ioi_submissions(three(), subs);
  EXPECT_EQ(r2.selected.front(), 55u);
  EXPECT_DOUBLE_EQ(r2.points, 100);
  // So does passing the examples when the others fail them.
  for (auto& s : subs) s.fraction[0] = 0;
  subs[55].cot_length = 7;
  subs[55].fraction[0] = 1;
  EXPECT_DOUBLE_EQ(select_ioi_submissions(three(), subs).points, 100);
}

TEST(IoiSelection, EdgeCases) {
  // No submissions / no subtasks: zero, no crash.
  EXPECT_DOUBLE_EQ(select_ioi_submissions(three(), {}).points, 0);
  EXPECT_DOUBLE_EQ(select_ioi_submissions({}, six()).points, 0);
  // Only compile errors.
  std::vector<IoiSubmission> ce = {sub("c", 2, 0, 1, 30, 70, false)};
  IoiSelection r = select_ioi_submissions(three(), ce);
  EXPECT_TRUE(r.selected.empty());
  EXPECT_DOUBLE_EQ(r.points, 0);
  // Short vectors count as zeros; an out-of-range target is the last subtask.
  IoiSubmission s;
  s.target_subtask = 9;
  s.points = {0, 30};
  s.fraction = {1, 1};
  r = select_ioi_submissions(three(), {s});
  EXPECT_DOUBLE_EQ(r.points, 30);
}

TEST(IoiSelection, SubmissionFromJudgeDetails) {
  nlohmann::json d = {{"verdict", "partial"},
                      {"subtasks",
                       {{{"name", "00-samples"}, {"points", 0}, {"max_points", 0}, {"verdict", "correct"}},
                        {{"name", "01-a"}, {"points", 15}, {"max_points", 30}, {"verdict", "partial"}},
                        {{"name", "02-b"}, {"points", 0}, {"max_points", 70}, {"verdict", "wrong"}}}}};
  IoiSubmission s = ioi_submission_from_details(d, "partial", three());
  EXPECT_TRUE(s.compiled);
  EXPECT_EQ(s.points, (std::vector<double>{0, 15, 0}));
  EXPECT_EQ(s.fraction, (std::vector<double>{1, 0.5, 0}));  // 0-point examples: from the verdict
  EXPECT_FALSE(ioi_submission_from_details({{"verdict", "compile_error"}}, "compile_error", three()).compiled);
  EXPECT_FALSE(ioi_submission_from_details(nlohmann::json::object(), "no_answer", three()).compiled);
  // A grader error still counts as a (zero) submission.
  IoiSubmission g = ioi_submission_from_details({{"verdict", "grader_error"}}, "grader_error", three());
  EXPECT_TRUE(g.compiled);
  EXPECT_EQ(g.points, (std::vector<double>{0, 0, 0}));
}

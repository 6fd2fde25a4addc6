// The public IOI benchmark's submission selection (Open-R1's IOI evaluation, "ioi" in the open-r1
// project): a model may submit at most 50 of its generated solutions per problem, as a contestant
// may at IOI, and the problem scores the sum over subtasks of the best points any selected
// submission earned on that subtask (IOI 2017+ rules: best per subtask across submissions).
//
// Which submissions count when there are more than 50 (the benchmark's round robin):
//  1. Submissions that did not compile are never selected.
//  2. Submissions are grouped by the subtask their prompt targeted (open-r1/ioi has one prompt
//     per subtask; a whole-problem prompt targets the last subtask). Each group is ordered by the
//     score on the first subtask (the examples, the only feedback a contestant sees before
//     submitting), then by chain-of-thought length (output tokens, else characters), both
//     descending; ties keep generation order.
//  3. Round robin over the subtasks, starting from the last (hardest) one and going down, skipping
//     the first subtask (the examples) and subtasks whose group is used up: each visit submits the
//     head of that subtask's group. It stops at 50 submissions, or when every subtask is used up
//     or counted as solved (see `mark_solved_by_index` below).
//  4. Free slots are filled from what is left of every group, ordered by (examples score, CoT
//     length, target subtask index), descending.
//  5. Problem points = sum over subtasks of max over the selected submissions of its points.
// With at most 50 compiling submissions every one is selected, so the score equals the best per
// subtask over all of them.
//
// Fidelity note: the benchmark's reference implementation records subtasks solved by a selected
// submission by *index* while the round robin checks (and seeds) its "solved" set by *name*, so a
// solved subtask is not skipped by the rotation; the solved indices only make the round-robin
// phase end early (when #used-up subtasks + #solved indices reaches the number of subtasks), and
// the fill phase takes over. `IoiSelectionOptions::reference_quirk = true` (the default)
// reproduces that behaviour so scores match published numbers; false skips solved subtasks as the
// prose describes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crucible::code {

struct IoiSubtaskInfo {
  std::string name;
  double max_points = 0;
};

// One graded submission of one IOI problem.
struct IoiSubmission {
  std::string id;                      // for reports (e.g. "nile/00-samples#3")
  int target_subtask = -1;             // index of the subtask its prompt asked for; <0 or out of
                                       // range = the last subtask (the full problem)
  bool compiled = true;                // false: compile error / no code (never selected)
  std::vector<double> points;          // points per subtask (size = number of subtasks)
  std::vector<double> fraction;        // score per subtask in [0,1] (1 = subtask solved)
  int64_t cot_length = 0;              // output tokens, else characters of the generation
};

struct IoiSelectionOptions {
  size_t limit = 50;                   // submissions allowed per problem
  bool reference_quirk = true;         // see the fidelity note above
};

struct IoiSubtaskBest {
  std::string name;
  double max_points = 0;
  double points = 0;                   // best over the selected submissions
  long submission = -1;                // index into the submissions (-1: none scored)
};

struct IoiSelection {
  std::vector<size_t> selected;        // indices into the submissions, in submission order
  std::vector<IoiSubtaskBest> subtasks;
  double points = 0;                   // sum of the per-subtask bests
  double max_points = 0;
  double all_points = 0;               // the same over every compiled submission (no 50 limit)
  double best_single_points = 0;       // the best one compiled submission's total
  nlohmann::json to_json(const std::vector<IoiSubmission>& subs) const;
};

// The benchmark's selection and problem score. Never throws; sizes of points/fraction shorter
// than the subtask list count as zeros.
IoiSelection select_ioi_submissions(const std::vector<IoiSubtaskInfo>& subtasks,
                                    const std::vector<IoiSubmission>& submissions,
                                    const IoiSelectionOptions& options = {});

// Sum over subtasks of the best points among `chosen` (indices into submissions).
double ioi_best_per_subtask_points(const std::vector<IoiSubtaskInfo>& subtasks,
                                   const std::vector<IoiSubmission>& submissions,
                                   const std::vector<size_t>& chosen,
                                   std::vector<IoiSubtaskBest>* best = nullptr);

// An IoiSubmission from a code grade's details (JudgeResult::to_json(): verdict, subtasks[{name,
// points, max_points, verdict}]). A subtask's fraction is points / max_points, or 1/0 from its
// verdict when it is worth 0 points (the examples). compile_error / no_answer -> not compiled.
IoiSubmission ioi_submission_from_details(const nlohmann::json& details, const std::string& verdict,
                                          const std::vector<IoiSubtaskInfo>& subtasks);

}  // namespace crucible::code

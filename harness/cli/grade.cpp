// `crucible grade math`: grade one (gold, completion) pair or a JSONL file of pairs with the same
// MathGrader that scores evaluations. `grade` is a parent command shared with other graders
// (e.g. `grade code` from another file): whichever setup runs first creates it.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/jsonl.h"
#include "harness/cli/commands.h"
#include "tasks/math/math_grader.h"

namespace crucible::cli {
namespace {

constexpr int kExitUsage = 2;

struct MathArgs {
  std::string gold;
  std::string pred;
  std::string input;
  int threads = 1;
  bool integer_fallback = false;
  bool require_think = false;
  bool has_gold = false, has_pred = false;  // given on the command line (possibly empty)
};

int run_grade_math(const MathArgs& a) {
  bool single = a.has_gold || a.has_pred;
  if (single && !a.input.empty()) {
    std::cerr << "crucible grade math: use either --gold/--pred or --input, not both\n";
    return kExitUsage;
  }
  if (!single && a.input.empty()) {
    std::cerr << "crucible grade math: give --gold and --pred, or --input FILE (see --help)\n";
    return kExitUsage;
  }
  if (a.threads < 1) {
    std::cerr << "crucible grade math: --threads must be >= 1\n";
    return kExitUsage;
  }
  math::MathGraderOptions opts;
  opts.integer_fallback = a.integer_fallback;
  opts.require_think_close = a.require_think;
  const math::MathGrader grader(opts);

  if (single) {
    if (!a.has_gold || !a.has_pred) {
      std::cerr << "crucible grade math: --gold and --pred go together\n";
      return kExitUsage;
    }
    Problem p;
    p.gold = a.gold;
    std::cout << grader.grade(p, a.pred).to_json().dump() << "\n";
    return 0;
  }

  auto records = read_jsonl(a.input);
  if (!records.is_ok()) {
    std::cerr << "crucible grade math: " << records.status().message() << "\n";
    return kExitUsage;
  }
  // Validate every line before grading anything, so a bad file produces no partial output.
  struct Item {
    Problem problem;
    std::string completion;
    json id;
    size_t line;
  };
  std::vector<Item> items;
  items.reserve(records->size());
  for (auto& r : *records) {
    const json& v = r.value;
    std::string where = a.input + ":" + std::to_string(r.line) + ": ";
    auto g = v.find("gold");
    if (g == v.end() || !(g->is_string() || g->is_number())) {
      std::cerr << "crucible grade math: " << where << "missing \"gold\" (string or number)\n";
      return kExitUsage;
    }
    auto c = v.find("completion");
    if (c == v.end()) c = v.find("pred");
    if (c == v.end() || !c->is_string()) {
      std::cerr << "crucible grade math: " << where << "missing \"completion\" (or \"pred\") string\n";
      return kExitUsage;
    }
    Item it;
    it.problem.gold = g->is_string() ? g->get<std::string>() : g->dump();
    it.completion = c->get<std::string>();
    if (auto id = v.find("id"); id != v.end()) it.id = *id;
    it.line = r.line;
    items.push_back(std::move(it));
  }

  std::vector<std::string> out(items.size());
  auto grade_one = [&](size_t i) {
    json j = grader.grade(items[i].problem, items[i].completion).to_json();
    j["line"] = items[i].line;
    if (!items[i].id.is_null()) j["id"] = items[i].id;
    out[i] = j.dump();
  };
  size_t nthreads = std::min<size_t>(static_cast<size_t>(a.threads), std::max<size_t>(items.size(), 1));
  if (nthreads <= 1) {
    for (size_t i = 0; i < items.size(); ++i) grade_one(i);
  } else {
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (size_t t = 0; t < nthreads; ++t)
      pool.emplace_back([&] {
        for (size_t i; (i = next.fetch_add(1)) < items.size();) grade_one(i);
      });
    for (auto& th : pool) th.join();
  }
  std::string buf;
  for (auto& s : out) {
    buf += s;
    buf += '\n';
  }
  std::cout << buf << std::flush;
  return 0;
}

void setup(CLI::App& root, int& exit_code) {
  CLI::App* grade = grade_group(root);
  auto args = std::make_shared<MathArgs>();
  CLI::App* m = grade->add_subcommand(
      "math", "Grade math answers: extract the final answer from a completion and compare it with the gold\n"
              "answer (LaTeX-aware equivalence); one JSON verdict per pair.");
  CLI::Option* gold_opt = m->add_option("--gold", args->gold, "Reference answer (LaTeX or integer), or a solution with \\boxed{}");
  CLI::Option* pred_opt = m->add_option("--pred", args->pred, "The model's full completion (extraction runs on it)");
  m->add_option("--input", args->input,
                "JSONL file: one object per line with \"gold\" and \"completion\" (or \"pred\");\n"
                "optional \"id\" is echoed. Output: one verdict per line, in input order, with\n"
                "\"line\" (and \"id\") added")
      ->check(CLI::ExistingFile);
  m->add_option("--threads", args->threads, "Grading threads for --input (output order is unchanged)")
      ->capture_default_str();
  m->add_flag("--integer-fallback", args->integer_fallback,
              "AIME-style: when there is no boxed answer or answer phrase, use the last number");
  m->add_flag("--require-think", args->require_think,
              "A completion with <think> but no </think> has no answer (truncated reasoning)");
  m->footer(
      "Extraction: only the text after the last </think> counts; the last \\boxed{...} / \\boxed 5 /\n"
      "\\fbox{...} (a later \"final answer is ...\" overrides it), else the last \"final answer is ...\",\n"
      "\"the answer is ...\" or \"Answer: ...\", else (with --integer-fallback) the last number.\n"
      "A gold containing \\boxed (a full MATH solution) is reduced to its last boxed answer; integer\n"
      "golds ignore leading zeros (AIME \"033\" = 33).\n"
      "Output: {\"correct\",\"score\",\"extracted\",\"verdict\",\"details\"} where verdict is correct,\n"
      "wrong, no_answer (nothing extractable) or grader_error (bad gold), and details holds the\n"
      "extraction method, the comparison method and notes.\n"
      "\n"
      "Examples:\n"
      "  crucible grade math --gold '\\frac{1}{2}' --pred 'So the final answer is $\\boxed{\\frac12}$.'\n"
      "  crucible grade math --gold 033 --pred '<think>...</think> The answer is 33.' --require-think\n"
      "  crucible grade math --input pairs.jsonl --threads 2 --integer-fallback > verdicts.jsonl\n"
      "Exit status: 0 on success (whatever the verdicts), 2 on bad arguments or a malformed\n"
      "input file (the error names FILE:LINE).");
  m->callback([args, gold_opt, pred_opt, &exit_code] {
    args->has_gold = gold_opt->count() > 0;
    args->has_pred = pred_opt->count() > 0;
    exit_code = run_grade_math(*args);
  });
}

Register reg_grade_math("grade", setup);

}  // namespace
}  // namespace crucible::cli

// The grader contract: a pure function (Problem, completion) -> Grade.
// The same Grader object scores a benchmark, rewards a GRPO rollout and filters training data.
// - thread-safe and deterministic for a given input and limits;
// - never throws on a model's output: bad output is a verdict (no_answer, wrong, ...);
// - `score` is in [0,1]; `correct` is the binary outcome used by avg@n / pass@k.
#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace crucible {

using json = nlohmann::json;

// The closed set of verdicts (ARCHITECTURE.md).
enum class Verdict {
  kCorrect, kWrong, kNoAnswer, kCompileError, kTimeLimit, kMemoryLimit, kRuntimeError,
  kOutputLimit, kPartial, kGraderError
};
const char* verdict_name(Verdict v);               // "correct", "wrong", "no_answer", ...
bool verdict_from_name(std::string_view s, Verdict* out);

// One benchmark item. `statement` is what the prompt template inserts; `gold` is the reference
// answer (LaTeX / integer for math). `meta` keeps the remaining dataset fields (level, subject...).
struct Problem {
  std::string id;
  std::string statement;
  std::string gold;
  json meta = json::object();
};

struct Grade {
  double score = 0.0;
  bool correct = false;
  Verdict verdict = Verdict::kNoAnswer;
  std::string extracted;         // the answer the grader read from the completion ("" if none)
  json details = json::object(); // grader-specific (e.g. parse notes, IOI raw points)

  json to_json() const;  // {"score","correct","verdict","extracted","details"}
};

class Grader {
 public:
  virtual ~Grader() = default;
  virtual Grade grade(const Problem& problem, std::string_view completion) const = 0;
  // Whether two extracted answers are the same answer (maj@k equivalence classes).
  // Default: exact string equality.
  virtual bool same_answer(std::string_view a, std::string_view b) const { return a == b; }
  virtual std::string name() const = 0;
};

}  // namespace crucible

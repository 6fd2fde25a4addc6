#include "tasks/grader.h"

namespace crucible {

namespace {
constexpr const char* kNames[] = {"correct",      "wrong",       "no_answer",     "compile_error",
                                  "time_limit",   "memory_limit", "runtime_error", "output_limit",
                                  "partial",      "grader_error"};
}

const char* verdict_name(Verdict v) { return kNames[static_cast<int>(v)]; }

bool verdict_from_name(std::string_view s, Verdict* out) {
  for (int i = 0; i < static_cast<int>(std::size(kNames)); ++i) {
    if (s == kNames[i]) {
      *out = static_cast<Verdict>(i);
      return true;
    }
  }
  return false;
}

json Grade::to_json() const {
  return json{{"score", score},
              {"correct", correct},
              {"verdict", verdict_name(verdict)},
              {"extracted", extracted},
              {"details", details}};
}

}  // namespace crucible

#!/usr/bin/env bash
# Scores the bundled sample benchmarks (project-written problems and recorded completions in each task's
# data format) through the same harness, graders, run store and metrics as a live model run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/crucible ] || { bash scripts/install-deps.sh && bash scripts/build.sh; }
OUT=${OUT:-runs/sample}
rm -rf "$OUT"
C=./build/crucible
for task in math500 aime24 aime25; do
  $C eval --task "$task" --data "examples/${task}_sample.jsonl" \
     --backend replay --replay "examples/${task}_completions.jsonl" --n 4 \
     --model sample-model --out "$OUT/$task"
done
echo
echo "Grading loose (gold, completion) pairs with the math grader:"
$C grade math --input examples/grade_pairs.jsonl
echo
echo "Leaderboard of the runs above (Markdown, self-contained HTML with charts, JSON, JUnit):"
$C report --runs "$OUT/math500" "$OUT/aime24" "$OUT/aime25" --out "$OUT/report" \
   --reference docs/examples/reference-r1-distill.json --no-step-summary
cat "$OUT/report/leaderboard.md"
echo
echo "Run directories: $OUT/{math500,aime24,aime25} (run.json, samples.jsonl, results.json)"
echo "Report: $OUT/report/leaderboard.{md,html,json} and junit.xml"

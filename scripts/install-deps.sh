#!/usr/bin/env bash
# Installs Crucible's build and test dependencies from Debian packages (non-interactive,
# idempotent: packages already present are skipped, and apt is not touched when nothing is missing).
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libginac-dev libcln-dev libgmp-dev          # math answer equivalence (CAS)
  libboost-dev libssl-dev                      # Asio/Beast HTTP client, TLS
  libpcre2-dev                                 # tokenizer regex
  libfmt-dev nlohmann-json3-dev libcli11-dev   # formatting, JSON, CLI
  libseccomp-dev                               # sandbox syscall filter
  libtorch-dev libgloo-dev                     # model runtime, trainers (LibTorch 1.13 CPU, c10d Gloo)
  libyaml-cpp-dev                              # training recipes (recipe.yaml)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc  # vLLM gRPC backend
  libgtest-dev                                 # tests
  chromium                                     # headless check of the HTML leaderboard
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js + npm (reference tokenizers in tests): any installed node/npm will do, so a machine with
# another distribution of Node is left alone.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# The demo: what a new user runs first. Every step is a real tlreconcile command
# against the embedded sim driver (a simulated Azure Local cluster on local disk
# whose vTPMs are real TPM 2.0 instances).
set -euo pipefail
bin=${1:-bin/tlreconcile}
state=${2:-.tlreconcile-demo}
export TLRECONCILE_STATE_DIR="$state"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@"; }

run "$bin" validate -f examples/basic -f examples/avd-pool

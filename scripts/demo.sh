#!/usr/bin/env bash
# The demo: what a new user runs first. Every step is a real tlreconcile command
# against the embedded sim driver (a simulated Azure Local cluster on local disk
# whose vTPMs are real TPM 2.0 instances).
set -euo pipefail
bin=${1:-bin/tlreconcile}
state=${2:-.tlreconcile-demo}
export TLRECONCILE_STATE_DIR="$state"
bold='' plain=''
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() { printf '\n%s# %s%s\n' "$bold" "$1" "$plain"; shift; printf '$ %s\n' "$*"; }
run() { local why=$1; shift; step "$why" "$@"; "$@"; }
# expect CODE WHY CMD...: run CMD and insist on its exit code (2 = plan has changes).
expect() {
  local want=$1 why=$2; shift 2; step "$why" "$@"
  set +e; "$@"; local got=$?; set -e
  if [ "$got" -ne "$want" ]; then echo "demo: expected exit $want, got $got" >&2; exit 1; fi
}

run "1. Validate the desired state (schema + trusted-launch rules)" \
  "$bin" validate -f examples/basic -f examples/avd-pool
expect 1 "   ... and see what an invalid file looks like (one file per rule)" \
  "$bin" validate -f examples/invalid/cluster.yaml -f examples/invalid/boot-integrity-not-available.yaml
expect 2 "2. Plan against a fresh simulated Azure Local cluster (exit 2: changes present)" \
  "$bin" plan -f examples/basic --detailed-exitcode
run "3. Apply it: ordered steps per VM, VMs in parallel, every VM verified afterwards" \
  "$bin" apply -f examples/basic --auto-approve
expect 0 "4. Plan again: nothing to change (exit 0)" \
  "$bin" plan -f examples/basic --detailed-exitcode
run "5. Observe the cluster: nodes, VMs, vTPM identities" \
  "$bin" show -f examples/basic
run "6. Someone turns Secure Boot off by hand on web-01 (drift)" \
  "$bin" sim drift --vm web-01 --set secureBoot=false
expect 2 "   The plan explains the drift and puts the change in one stop/start window" \
  "$bin" plan -f examples/basic --detailed-exitcode
run "   Reconcile it" \
  "$bin" apply -f examples/basic --auto-approve
run "7. The cluster fails web-02 over to node3: its vTPM identity must survive" \
  "$bin" sim failover --vm web-02 --to node3
run "   Plan: moved by the cluster (identity verified), and back to its placement by live migration" \
  "$bin" plan -f examples/basic
run "   Reconcile" \
  "$bin" apply -f examples/basic --auto-approve
expect 0 "8. Converged" \
  "$bin" plan -f examples/basic --detailed-exitcode

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
expect 2 "2. Plan against a fresh simulated Azure Local (driver: sim = the azurelocal driver over ARM on loopback; exit 2: changes)" \
  "$bin" plan -f examples/basic --detailed-exitcode
run "3. Apply: each VM one create-vm with the TrustedLaunch security profile, then verified (vTPM identity read in the guest)" \
  "$bin" apply -f examples/basic --auto-approve
expect 0 "4. Plan again: nothing to change (exit 0)" \
  "$bin" plan -f examples/basic --detailed-exitcode
run "5. Observe: nodes and their agents, VMs, vTPM identities; the Arc resource bridge is never touched" \
  "$bin" show -f examples/basic
run "6. An administrator turns Secure Boot off on web-01's node, behind ARM's back (drift)" \
  "$bin" sim drift --vm web-01 --set secureBoot=false
expect 2 "   The plan explains the drift and puts the fix in one stop/start window" \
  "$bin" plan -f examples/basic --detailed-exitcode
run "   Reconcile it" \
  "$bin" apply -f examples/basic --auto-approve
run "7. The cluster fails web-02 over to node3 with its guest-state key: the vTPM must survive" \
  "$bin" sim failover --vm web-02 --to node3
run "   Plan: moved by the cluster (vTPM identity verified unchanged), and back to its placement by live migration" \
  "$bin" plan -f examples/basic
run "   Reconcile" \
  "$bin" apply -f examples/basic --auto-approve
run "8. web-01 comes back on node2 without its guest-state key (a failover or restore that lost it): a new vTPM" \
  "$bin" sim failover --vm web-01 --to node2 --lose-vtpm
expect 2 "   The plan reports vtpm-state-lost: BitLocker would ask for its recovery key (exit 2, every run, until accepted)" \
  "$bin" plan -f examples/basic --detailed-exitcode
run "   After recovering the guest's secrets, the operator accepts the new vTPM identity (and the VM goes back to node1)" \
  "$bin" apply -f examples/basic --accept-vtpm-identity vm/web-01 --auto-approve
expect 0 "   Converged" \
  "$bin" plan -f examples/basic --detailed-exitcode

# 9. The key backup: a wrapping key pair, as the administrator makes it for
# Backup-TVMKeys, and a keyBackup policy on a copy of the cluster document.
desired="$state/desired"
mkdir -p "$desired" "$state/keybackup"
cp examples/basic/*.yaml "$desired/"
openssl genrsa -out "$state/keybackup/wrapping.key" 3072 2>/dev/null
openssl rsa -in "$state/keybackup/wrapping.key" -pubout -out "$state/keybackup/wrapping.pub" 2>/dev/null
cat >>"$desired/cluster.yaml" <<YAML
  keyBackup:
    wrappingKey: $(cd "$state/keybackup" && pwd)/wrapping.pub
    destination: $(cd "$state/keybackup" && pwd)/backups
    maxAge: 24h
YAML
expect 2 "9. Declare a key backup (keyBackup in the Cluster document): the plan backs up every VM's guest-state key" \
  "$bin" plan -f "$desired" --detailed-exitcode
run "   Apply it: Backup-TVMKeys on a node, keys wrapped under the public key (no key material passes through tlreconcile)" \
  "$bin" apply -f "$desired" --auto-approve
step "   The timestamped backup" ls "$state/keybackup/backups"
ls "$state/keybackup/backups"
expect 0 "   Converged: the newest backup holds every key and is younger than maxAge" \
  "$bin" plan -f "$desired" --detailed-exitcode

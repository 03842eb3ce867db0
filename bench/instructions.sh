#!/usr/bin/env bash
# instructions.sh: instructions executed (valgrind callgrind's "Collected",
# every thread and the garbage collector included) by validate and plan of a
# generated fleet, for one or two builds. Unlike wall and CPU time it does not
# move with the load other work puts on the machine, so it compares two
# builds on a busy machine. Slow: ~30 s per 1,000 VMs and command.
#
#   bash bench/instructions.sh                          # this tree, 1,000 VMs
#   BASE=/tmp/old-tlreconcile VMS=10000 bash bench/instructions.sh
set -euo pipefail

cd "$(dirname "$0")/.."
VMS=${VMS:-1000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlreconcile-instr.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
BIN=${BIN:-$WORK/tlreconcile}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/tlreconcile
go run ./internal/spec/fleet/fleetgen -vms "$VMS" -dir "$WORK/fleet" >/dev/null

# count LABEL CMD...: callgrind's instruction count of CMD. Go's asynchronous
# preemption signals confuse callgrind, so they are off (GODEBUG).
count() {
	local label=$1 n
	shift
	rm -rf "$WORK/state"
	n=$(GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
		awk '/Collected/ {print $NF}')
	printf '%-44s %15s instructions\n' "$label" "$(printf "%'d" "$n" 2>/dev/null || echo "$n")"
}

echo "# $VMS VMs; load $(cut -d' ' -f1-3 /proc/loadavg) (does not change the counts)"
for b in ${BASE:+"$BASE"} "$BIN"; do
	count "$(basename "$b") validate" "$b" validate -f "$WORK/fleet"
	count "$(basename "$b") plan -out (all create)" "$b" --state-dir "$WORK/state" plan -f "$WORK/fleet" -out "$WORK/plan.json"
done

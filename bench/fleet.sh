#!/usr/bin/env bash
# fleet.sh: validate and plan a synthetic fleet at several sizes and print wall
# time, CPU (user+system) and peak RSS as the OS measures them (/usr/bin/time -v),
# each run REPEAT times (the range is printed: other work on the machine moves
# the numbers), then the allocations from the Go benchmarks of the same fleet.
# When kubeconform is on PATH (or in ~/go/bin), it validates the same files
# against the same schema in the same run, so the ratio is measured side by side.
#
#   bash bench/fleet.sh                       # 1,000 / 10,000 / 100,000 VMs, 3 runs each
#   SIZES="10000" REPEAT=5 bash bench/fleet.sh
#   BIN=/tmp/old-tlreconcile bash bench/fleet.sh   # measure another build
#   BASE=/tmp/old-tlreconcile bash bench/fleet.sh  # old and new side by side
#
# Every command of a row group runs in turn, run after run (tlreconcile,
# kubeconform, and the BASE build when given), so that they share whatever
# load the machine has: compare numbers of one group, not across groups.
#
# Plan is measured for an all-create fleet (a fresh sim state dir, nothing
# created) and for the same fleet all in sync: the latter plans against an
# observed snapshot (plan --observed) that internal/plan/insync writes, every VM
# managed and matching its YAML (creating 100,000 VMs in the sim first would
# take hours; the snapshot is what `show --format json` of such a cluster
# writes, and insync refuses to write one that plans any change). Text output
# is discarded; each -out plan file's size and file format are printed.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES=${SIZES:-"1000 10000 100000"}
REPEAT=${REPEAT:-3}
PER_FILE=${PER_FILE:-100}
ALLOCS=${ALLOCS:-1}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlreconcile-fleet.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

TIME=/usr/bin/time
if ! "$TIME" -v true >/dev/null 2>&1; then
	echo "fleet.sh: $TIME -v is missing; install GNU time (apt-get install time)" >&2
	exit 1
fi
if [ -z "${BIN:-}" ]; then
	BIN=$WORK/tlreconcile
	go build -o "$BIN" ./cmd/tlreconcile
fi
KUBECONFORM=${KUBECONFORM:-$(command -v kubeconform || true)}
if [ -z "$KUBECONFORM" ] && [ -x "$HOME/go/bin/kubeconform" ]; then
	KUBECONFORM=$HOME/go/bin/kubeconform
fi
# kubeconform finds a schema by kind; every kind gets the whole schema (it
# dispatches on kind itself), exactly what tlreconcile validates against.
mkdir -p "$WORK/schemas"
for k in cluster trustedlaunchvm imagecatalog; do
	cp schema/tlreconcile.schema.json "$WORK/schemas/$k.json"
done

# rotate LABEL CMD [LABEL CMD]...: run each CMD (a string, eval'd; paths
# here have no spaces) REPEAT times, the commands taking turns, and print
# per LABEL the min-max of wall s, CPU s and peak RSS MB.
rotate() {
	local out=$WORK/time.txt args=("$@") i
	local -a walls cpus rsss
	for _ in $(seq "$REPEAT"); do
		for ((i = 0; i < ${#args[@]}; i += 2)); do
			rm -rf "$WORK/state"
			if ! eval "\"\$TIME\" -v -o \"\$out\" ${args[i+1]}" >"$WORK/stdout.txt" 2>"$WORK/stderr.txt"; then
				echo "fleet.sh: ${args[i]} failed:" >&2
				tail -5 "$WORK/stdout.txt" "$WORK/stderr.txt" >&2
				exit 1
			fi
			walls[i]+=" $(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for (i=1;i<=n;i++) s=s*60+p[i]; print s}' "$out")"
			cpus[i]+=" $(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$out")"
			rsss[i]+=" $(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$out")"
		done
	done
	for ((i = 0; i < ${#args[@]}; i += 2)); do
		# shellcheck disable=SC2086 # the lists are space-separated on purpose
		printf '%-40s wall %-13s cpu %-13s rss(MB) %s\n' "${args[i]}" "$(span ${walls[i]})" "$(span ${cpus[i]})" "$(span ${rsss[i]})"
	done
}

span() {
	printf '%s\n' "$@" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {if (lo==hi) print lo; else print lo "-" hi}'
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $REPEAT runs each, $PER_FILE VMs per file"
echo "# binary: $BIN${BASE:+; base: $BASE}; kubeconform: ${KUBECONFORM:-not installed}"
# both LABEL ARGS: a rotate pair for the build measured and, before it, BASE.
both() {
	if [ -n "${BASE:-}" ]; then
		printf '%s\n' "base: $1" "$BASE $2"
	fi
	printf '%s\n' "$1" "$BIN $2"
}

for n in $SIZES; do
	fleet=$WORK/fleet-$n
	go run ./internal/spec/fleet/fleetgen -vms "$n" -per-file "$PER_FILE" -dir "$fleet" >/dev/null
	echo "## $n VMs ($(find "$fleet" -name '*.yaml' | wc -l) files, $(du -sh "$fleet" | cut -f1)), load $(cut -d' ' -f1-3 /proc/loadavg)"
	mapfile -t cmds < <(both "tlreconcile validate" "validate -f $fleet")
	if [ -n "$KUBECONFORM" ]; then
		cmds+=("kubeconform -strict" "$KUBECONFORM -strict -summary -schema-location '$WORK/schemas/{{ .ResourceKind }}.json' $fleet")
	fi
	rotate "${cmds[@]}"
	mapfile -t cmds < <(both "tlreconcile plan -out (all create)" "--state-dir $WORK/state plan -f $fleet -out $WORK/plan.json")
	rotate "${cmds[@]}"
	printf '%-40s %s bytes, %s\n' "  plan file" "$(stat -c %s "$WORK/plan.json")" "$(head -c 200 "$WORK/plan.json" | grep -a -o '"format_version":"[0-9]*"')"
	rm -rf "$WORK/plan.json"
	go run ./internal/plan/insync -f "$fleet" -out "$WORK/observed.json"
	mapfile -t cmds < <(both "tlreconcile plan -out (in sync)" "--state-dir $WORK/state plan -f $fleet --observed $WORK/observed.json -out $WORK/plan.json")
	rotate "${cmds[@]}"
	printf '%-40s %s bytes, %s\n' "  plan file" "$(stat -c %s "$WORK/plan.json")" "$(head -c 200 "$WORK/plan.json" | grep -a -o '"format_version":"[0-9]*"')"
	rm -rf "$WORK/plan.json" "$WORK/observed.json"
done

if [ "$ALLOCS" = 1 ]; then
	echo "## allocations (go test -bench, one run each)"
	go test -run '^$' -bench 'BenchmarkLoadFleet' -benchmem -benchtime 1x ./internal/spec/ | grep -E '^Benchmark'
	go test -run '^$' -bench 'BenchmarkBuild10000|BenchmarkPlanFile10000VMs|BenchmarkSave10000VMs' -benchmem -benchtime 1x ./internal/plan/ | grep -E '^Benchmark'
fi

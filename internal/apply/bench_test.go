//go:build unix

package apply_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

var (
	benchVMs     = flag.Int("apply-bench-vms", 1000, "VMs BenchmarkCreateVMs creates")
	benchLatency = flag.Duration("apply-bench-latency", 20*time.Millisecond, "latency injected into every sim op")
)

// BenchmarkCreateVMs creates -apply-bench-vms VMs on the sim driver with
// -apply-bench-latency injected into every op, and reports wall time against
// the ideal (ops per VM × latency × VMs/parallelism rounds, plus one round of
// node steps), CPU time and memory. Run: go test -run '^$' -bench CreateVMs -benchtime 1x ./internal/apply
func BenchmarkCreateVMs(b *testing.B) {
	for _, par := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				e := newSimEnv(b)
				var docs []string
				for i := range *benchVMs {
					docs = append(docs, vmYAML(fmt.Sprintf("vm-%04d", i), 2, true))
				}
				e.write(docs...)
				p := e.plan(plan.Options{})
				if err := e.drv.Inject("c1", hvmodel.Fault{Op: hvmodel.AnyOp, Latency: *benchLatency}); err != nil {
					b.Fatal(err)
				}
				opsPerVM, nodeRounds := 0, 0
				for _, c := range p.Changes {
					if strings.HasPrefix(c.Resource, "vm/") {
						opsPerVM = max(opsPerVM, len(c.Steps))
					} else {
						nodeRounds = max(nodeRounds, len(c.Steps))
					}
				}
				rounds := (*benchVMs + par - 1) / par
				ideal := time.Duration(opsPerVM*rounds+nodeRounds) * *benchLatency
				var before runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				cpu0 := cpuTime()
				b.StartTimer()
				start := time.Now()
				rep, err := apply.Run(context.Background(), p, map[string]drivers.Driver{"c1": e.drv}, apply.Options{Parallelism: par})
				wall := time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatalf("%v\n%s", err, describe(rep))
				}
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(ideal.Seconds(), "ideal-s")
				b.ReportMetric(float64(wall)/float64(ideal), "x-ideal")
				b.ReportMetric((cpuTime() - cpu0).Seconds(), "cpu-s")
				b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), "alloc-MB")
				b.ReportMetric(float64(after.Sys)/(1<<20), "sys-MB")
				b.StartTimer()
			}
		})
	}
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExecutorOverhead runs the same shape of work against an in-memory
// driver whose only cost is the injected latency, so wall time against the
// ideal measures the executor itself (scheduling, events, verification).
func BenchmarkExecutorOverhead(b *testing.B) {
	for _, par := range []int{10, 50} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				var names []string
				var vms []drivers.VM
				for i := range *benchVMs {
					n := fmt.Sprintf("vm-%04d", i)
					names = append(names, n)
					vms = append(vms, runningVM(n))
				}
				d := newRec(vms...)
				d.latency = *benchLatency
				p := updatePlan(names...)
				ideal := time.Duration(len(p.Changes[0].Steps)*((*benchVMs+par-1)/par)) * *benchLatency
				cpu0 := cpuTime()
				b.StartTimer()
				start := time.Now()
				_, err := apply.Run(context.Background(), p, map[string]drivers.Driver{"c1": d}, apply.Options{Parallelism: par, Events: func(apply.Event) {}})
				wall := time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(float64(wall)/float64(ideal), "x-ideal")
				b.ReportMetric((cpuTime() - cpu0).Seconds(), "cpu-s")
				b.StartTimer()
			}
		})
	}
}

package watch_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/watch"
)

// BenchmarkWriteToReconcile measures the latency from a file write to the start
// of the reconcile it causes (the ReconcileFunc is entered after the whole tree
// was re-read with spec.Load), over 200 sequential writes, and reports p50 and
// p99. Target: p50 under debounce + 100ms.
//
//	go test -run '^$' -bench WriteToReconcile -benchtime 1x ./internal/watch/
func BenchmarkWriteToReconcile(b *testing.B) {
	for _, debounce := range []time.Duration{20 * time.Millisecond, 50 * time.Millisecond} {
		b.Run(fmt.Sprintf("debounce=%s", debounce), func(b *testing.B) {
			dir := b.TempDir()
			writeB(b, filepath.Join(dir, "cluster.yaml"), clusterYAML)
			started := make(chan time.Time, 16)
			p := &watch.Pipeline{Registry: drivers.NewRegistry(), Config: drivers.Config{StateDir: b.TempDir()}, Mode: watch.ModeDetect}
			w, err := watch.New(watch.Options{Dir: dir, Mode: watch.ModeDetect, Load: p.Load,
				Reconcile: func(context.Context, *spec.Desired, watch.Trigger) (watch.RunResult, error) {
					started <- time.Now()
					return watch.RunResult{}, nil
				},
				Debounce: debounce, Interval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			<-started // startup run
			var lat []time.Duration
			for b.Loop() {
				for i := range 200 {
					t0 := time.Now()
					writeB(b, filepath.Join(dir, "vm.yaml"), vmYAML("avd-01", 2+i%8))
					select {
					case t1 := <-started:
						lat = append(lat, t1.Sub(t0))
					case <-time.After(10 * time.Second):
						b.Fatal("no reconcile within 10s of a write")
					}
				}
			}
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*90/100].Microseconds())/1000, "p90-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(debounce.Milliseconds()), "debounce-ms")
		})
	}
}

func writeB(b *testing.B, path, content string) {
	b.Helper()
	if err := writeFile(path, content); err != nil {
		b.Fatal(err)
	}
}

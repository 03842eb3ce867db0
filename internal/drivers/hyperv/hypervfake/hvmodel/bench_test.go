package hvmodel_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
)

// populate creates n running trusted-launch VMs with vTPMs, 10 at a time.
func populate(b *testing.B, d *hvmodel.Driver, n int) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- runVM(ctx, d, fmt.Sprintf("vm-%04d", i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

// runVM is the create sequence apply runs for one new trusted-launch VM.
func runVM(ctx context.Context, d *hvmodel.Driver, name string) error {
	for _, k := range []drivers.OpKind{drivers.OpCreateVM, drivers.OpEnsureKeyProtector, drivers.OpEnableTPM, drivers.OpStartVM} {
		if _, err := d.Apply(ctx, drivers.ClusterRef{Name: cl}, drivers.Op{Kind: k, Cluster: cl, VM: name, Params: &drivers.Params{SecurityType: drivers.SecurityTrustedLaunch}}); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkObserve1000 observes a 1,000-VM cluster including every vTPM
// identity: cold (no cache in memory or on disk: one EK read per VM on the
// reference TPM) and warm (a fresh Driver, as in a new process, with the
// persisted cache).
func BenchmarkObserve1000(b *testing.B) {
	dir := b.TempDir()
	d, _ := hvmodel.New(drivers.Config{StateDir: dir})
	r := ref(hvmodel.BackendReference)
	ctx := context.Background()
	if _, err := d.Observe(ctx, r); err != nil {
		b.Fatal(err)
	}
	populate(b, d, 1000)
	cache := filepath.Join(dir, "sim", cl, "idcache")
	check := func(obs *drivers.Observed) {
		if len(obs.VMs) != 1000 || obs.VMs[999].VTPMIdentity == "" {
			b.Fatalf("observed %d VMs, last identity %q", len(obs.VMs), obs.VMs[len(obs.VMs)-1].VTPMIdentity)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := os.RemoveAll(cache); err != nil {
				b.Fatal(err)
			}
			if err := os.Mkdir(cache, 0o700); err != nil {
				b.Fatal(err)
			}
			fresh, _ := hvmodel.New(drivers.Config{StateDir: dir})
			b.StartTimer()
			obs, err := fresh.Observe(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			check(obs)
		}
	})
	b.Run("warm", func(b *testing.B) {
		if _, err := d.Observe(ctx, r); err != nil { // fill the persisted cache
			b.Fatal(err)
		}
		for b.Loop() {
			fresh, _ := hvmodel.New(drivers.Config{StateDir: dir})
			obs, err := fresh.Observe(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			check(obs)
		}
	})
}

// BenchmarkApplyLatency runs the four-op create sequence for 200 VMs, 10 VMs
// at a time (apply's default parallelism), with 20 ms injected latency per op,
// and reports the wall time against the ideal 200*4*20ms/10 = 1.6 s: a ratio
// near 1 means ops on different VMs do not serialise inside the driver.
func BenchmarkApplyLatency(b *testing.B) {
	const vms, ops, parallel, latency = 200, 4, 10, 20 * time.Millisecond
	ideal := time.Duration(vms*ops/parallel) * latency
	for b.Loop() {
		b.StopTimer()
		d, _ := hvmodel.New(drivers.Config{StateDir: b.TempDir()})
		if _, err := d.Observe(context.Background(), ref(hvmodel.BackendReference)); err != nil {
			b.Fatal(err)
		}
		if err := d.Inject(cl, hvmodel.Fault{Op: hvmodel.AnyOp, Latency: latency}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		populate(b, d, vms)
		b.ReportMetric(float64(time.Since(start))/float64(ideal), "x-ideal")
	}
}

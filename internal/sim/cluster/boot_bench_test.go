package cluster

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// BenchmarkGuestBoot is the cost of booting one guest: powering its vTPM on
// and extending a log's events (the "extend" cases), and a whole RestartVM
// (boot plus the record write under the lock).
func BenchmarkGuestBoot(b *testing.B) {
	tpm := vtpm.NewReference()
	b.Cleanup(func() { _ = tpm.Close() })
	for _, log := range guestboot.Names() {
		boot, err := guestboot.New(log, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("extend/"+log, func(b *testing.B) {
			for b.Loop() {
				if err := tpm.Boot(7, func(tr transport.TPM) error { return boot.Extend(tr) }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(boot.Measurements)), "events/boot")
		})
	}
	h, err := Open(b.TempDir(), Options{TPM: tpm})
	if err != nil {
		b.Fatal(err)
	}
	pl, err := h.PlaceVM(context.Background(), placeReq("v", 0))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("RestartVM", func(b *testing.B) {
		for b.Loop() {
			if err := h.RestartVM(context.Background(), pl.VMID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func placeReq(name string, i int) arm.PlaceRequest {
	return arm.PlaceRequest{MachineID: "/m/" + name + strconv.Itoa(i), CustomLocation: arm.DefaultCustomLocation, ComputerName: name,
		Image:    arm.ImageIdentifier{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", SKU: "win11-22h2-avd"},
		Hardware: arm.Hardware{Processors: 2, MemoryMB: 4096}, Security: arm.Security{Type: "TrustedLaunch", TPM: true, SecureBoot: true}}
}

// BenchmarkPlaceVMCluster fills a cluster to TLRECONCILE_BENCH_VMS VMs
// (default 1,000; the figure is 10,000) under
// TLRECONCILE_BENCH_DIR (default a temporary dir; /dev/shm leaves out the
// disk's fsyncs) and reports the throughput of placing, the mean time of a
// placement in the first and the last tenth (equal when placing does not
// depend on the cluster's size) and the heap after.
func BenchmarkPlaceVMCluster(b *testing.B) {
	n := benchVMs(b)
	b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
		var first, last time.Duration
		for b.Loop() {
			tpm := vtpm.NewReference()
			h, err := Open(benchDir(b), Options{TPM: tpm})
			if err != nil {
				b.Fatal(err)
			}
			tenth := max(1, n/10)
			for i := range n {
				start := time.Now()
				if _, err := h.PlaceVM(context.Background(), placeReq("vm", i)); err != nil {
					b.Fatal(err)
				}
				switch d := time.Since(start); {
				case i < tenth:
					first += d
				case i >= n-tenth:
					last += d
				}
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
			_ = h.Close()
			_ = tpm.Close()
		}
		per := float64(max(1, n/10) * b.N)
		b.ReportMetric(first.Seconds()*1000/per, "first-tenth-ms/place")
		b.ReportMetric(last.Seconds()*1000/per, "last-tenth-ms/place")
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "places/s")
	})
}

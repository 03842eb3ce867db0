package cluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// benchVMs is TLRECONCILE_BENCH_VMS, the size of the cluster the scale
// benchmarks fill (default 1,000; the figure is 10,000).
func benchVMs(b *testing.B) int {
	b.Helper()
	s := os.Getenv("TLRECONCILE_BENCH_VMS")
	if s == "" {
		return 1000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("TLRECONCILE_BENCH_VMS=%q: want a number of VMs", s)
	}
	return n
}

// benchDir is a new state dir under TLRECONCILE_BENCH_DIR (for example
// /dev/shm, where the fsync of every atomic write costs nothing), else a
// temporary dir. Either way the code path is the one a real state dir takes.
func benchDir(b *testing.B) string {
	b.Helper()
	root := os.Getenv("TLRECONCILE_BENCH_DIR")
	if root == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(root, "tlreconcile-clusterbench-")
	if err != nil {
		b.Fatalf("TLRECONCILE_BENCH_DIR=%s: %v", root, err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// rssBytes is the resident set of this process (Linux: VmRSS of
// /proc/self/status), 0 where that cannot be read.
func rssBytes() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// BenchmarkClusterAtScale: one cluster seeded with benchVMs trusted-launch
// VMs through PlaceVM (the call ARM makes), then the per-VM operations on
// it, which must not depend on its size, and the whole-cluster ones (Observe,
// Open's repair), which read every record. The parent seeds once, untimed.
func BenchmarkClusterAtScale(b *testing.B) {
	ctx := context.Background()
	n := benchVMs(b)
	tpm := vtpm.NewReference()
	b.Cleanup(func() { _ = tpm.Close() })
	dir := benchDir(b)
	h, err := Open(dir, Options{TPM: tpm})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	ids := make([]string, n)
	for i := range n {
		pl, err := h.PlaceVM(ctx, placeReq("vm", i))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = pl.VMID
	}
	seeded := time.Since(start)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := rssBytes()
	mid := ids[n/2]

	b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
		b.Run("Seed", func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(seeded.Seconds(), "seed-s")
			b.ReportMetric(float64(n)/seeded.Seconds(), "places/s")
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
			b.ReportMetric(rss/(1<<20), "rss-MiB")
		})
		b.Run("PlaceVM", func(b *testing.B) {
			i := n
			for b.Loop() {
				if _, err := h.PlaceVM(ctx, placeReq("extra", i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run("PlaceVMRepeat", func(b *testing.B) {
			for b.Loop() {
				if pl, err := h.PlaceVM(ctx, placeReq("vm", n/2)); err != nil || pl.VMID != mid {
					b.Fatalf("repeat: %+v %v", pl, err)
				}
			}
		})
		b.Run("StopStartVM", func(b *testing.B) {
			for b.Loop() {
				if err := h.StopVM(ctx, mid); err != nil {
					b.Fatal(err)
				}
				if err := h.StartVM(ctx, mid); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("GetVM", func(b *testing.B) {
			for b.Loop() {
				if vm, err := h.VM(ctx, mid); err != nil || vm.Identity == "" {
					b.Fatalf("get: %+v %v", vm, err)
				}
			}
		})
		b.Run("ObserveCluster", func(b *testing.B) {
			for b.Loop() {
				if st, err := h.Observe(ctx, defaultCluster, ObserveOptions{}); err != nil || len(st.VMs) < n {
					b.Fatalf("observe: %d VMs %v", len(st.VMs), err)
				}
			}
		})
		b.Run("Open", func(b *testing.B) {
			for b.Loop() {
				h2, err := Open(dir, Options{TPM: tpm})
				if err != nil {
					b.Fatal(err)
				}
				_ = h2.Close()
			}
		})
	})
	_ = h.Close()
}

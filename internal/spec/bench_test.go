package spec_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/spec/fleet"
)

// writeFleet writes 10,000 VM documents over 100 files, plus one cluster file.
func writeFleet(b *testing.B) (dir string, files []string) {
	b.Helper()
	dir = b.TempDir()
	cluster := "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec:\n  driver: sim\n  nodes: [n1, n2, n3]\n"
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
		files = append(files, p)
	}
	write("cluster.yaml", cluster)
	for f := 0; f < 100; f++ {
		var buf bytes.Buffer
		for v := 0; v < 100; v++ {
			if v > 0 {
				buf.WriteString("---\n")
			}
			fmt.Fprintf(&buf, `apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata:
  name: vm-%03d-%03d
  cluster: c1
  labels: {pool: avd, batch: "%d"}
spec:
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  processors: 4
  memoryMB: 8192
  secureBoot: {enabled: true, template: MicrosoftWindows}
  vtpm: {enabled: true}
  vbs: true
  placement: {node: n%d}
  power: Running
  protect: true
`, f, v, f, v%3+1)
		}
		write(fmt.Sprintf("vms-%03d.yaml", f), buf.String())
	}
	return dir, files
}

// bareDecode is the baseline: read the same files and yaml.v3-decode every document into `any`.
func bareDecode(b *testing.B, files []string) int {
	docs := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var v any
			if err := dec.Decode(&v); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			docs++
		}
	}
	return docs
}

// BenchmarkValidate10000VMs compares Load (read, parse with positions, schema,
// rules, defaults) with a bare yaml.v3 decode of the same 100 files, in the same
// run; the load case reports the ratio as x-bare-decode. Targets: < 1 s, < 3x.
func BenchmarkValidate10000VMs(b *testing.B) {
	dir, files := writeFleet(b)
	var bare time.Duration
	b.Run("bare-yaml.v3-decode", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			if n := bareDecode(b, files); n != 10001 {
				b.Fatalf("decoded %d documents", n)
			}
		}
		bare = time.Since(start) / time.Duration(b.N)
	})
	b.Run("load", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			d, ds := spec.Load(spec.LoadOptions{Paths: []string{dir}})
			if len(ds) != 0 || len(d.VMs) != 10000 {
				b.Fatalf("load: %d VMs, %d diagnostics", len(d.VMs), len(ds))
			}
		}
		if bare > 0 {
			b.ReportMetric(float64(time.Since(start)/time.Duration(b.N))/float64(bare), "x-bare-decode")
		}
	})
}

// BenchmarkLoadFleet loads the fleet bench/fleet.sh measures (one Cluster,
// VMs in files of 100) at three sizes; allocations per op are the number the
// script prints beside the OS's peak RSS, and live-B/VM is the heap the
// loaded Desired keeps per VM (the heap grows with it, not with the YAML's
// node count). Run with -benchtime 1x.
func BenchmarkLoadFleet(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if _, err := fleet.Write(dir, fleet.Options{VMs: n}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var d *spec.Desired
			for b.Loop() {
				var ds spec.Diagnostics
				d, ds = spec.Load(spec.LoadOptions{Paths: []string{dir}})
				if len(ds) != 0 || len(d.VMs) != n {
					b.Fatalf("load: %d VMs, %d diagnostics", len(d.VMs), len(ds))
				}
			}
			// what the result keeps alive, per VM: it bounds the heap at scale
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc)/float64(n), "live-B/VM")
			runtime.KeepAlive(d)
		})
	}
}

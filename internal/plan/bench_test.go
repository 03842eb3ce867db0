package plan_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// bigCluster is n VMs over 16 nodes, observed in sync or all drifted (a
// running VM with Secure Boot off and the wrong processor count: a stop/start
// window of four steps plus annotations).
func bigCluster(n int, drifted bool) (*spec.Desired, map[string]*drivers.Observed) {
	c := clusterSpec()
	c.Nodes = nil
	var nodes []drivers.Node
	for i := 0; i < 16; i++ {
		name := fmt.Sprintf("node%02d", i)
		c.Nodes = append(c.Nodes, name)
		nodes = append(nodes, drivers.Node{Name: name, State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning, MigrationIPsec: true})
	}
	d := &spec.Desired{Clusters: []spec.Cluster{c}, Catalog: catalog}
	var vms []drivers.VM
	for i := 0; i < n; i++ {
		v := vmSpec(fmt.Sprintf("avd-%05d", i))
		d.VMs = append(d.VMs, v)
		id := fmt.Sprintf("%064x", i)
		vms = append(vms, synced(v, c.Nodes[i%16], id, func(o *drivers.VM) {
			if drifted {
				o.SecureBoot = false
				o.Processors = 2
			}
		}))
	}
	return d, observedOf(nodes, vms...)
}

// BenchmarkBuild10000VMs is planning alone (target: under 200 ms).
func BenchmarkBuild10000VMs(b *testing.B) {
	for _, drifted := range []bool{false, true} {
		name := "in-sync"
		if drifted {
			name = "drifted"
		}
		b.Run(name, func(b *testing.B) {
			d, o := bigCluster(10000, drifted)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p, err := plan.Build(d, o, plan.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if drifted && p.Summary.Update != 10000 {
					b.Fatalf("summary %+v", p.Summary)
				}
			}
		})
	}
}

// BenchmarkPlanFile10000VMs is the saved plan of 10,000 drifted VMs: writing
// it, reading it back (digest checked while reading, then decoded and
// validated), and planning again from its recorded inputs as apply FILE does.
// The file's size is reported as MiB.
func BenchmarkPlanFile10000VMs(b *testing.B) {
	d, o := bigCluster(10000, true)
	p, err := plan.Build(d, o, plan.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var file bytes.Buffer
	if err := plan.Write(&file, p); err != nil {
		b.Fatal(err)
	}
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := plan.Write(io.Discard, p); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(file.Len())/(1<<20), "MiB")
	})
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := plan.Read(bytes.NewReader(file.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
	back, err := plan.Read(bytes.NewReader(file.Bytes()))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("replan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := plan.Replan(back, o); err != nil {
				b.Fatal(err)
			}
		}
	})
}

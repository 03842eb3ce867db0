package view_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// bigPlan is a plan of n drifted VMs (a stop/start window each) on 16 nodes;
// mut, when given, changes the observed nodes before planning.
func bigPlan(b testing.TB, n int, mut ...func([]drivers.Node)) *plan.Plan {
	b.Helper()
	c := spec.Cluster{Name: "hci-west", Driver: "sim", IgvmAgent: "required", VMFileAccess: "hostAdminsOnly", LiveMigration: spec.LiveMigration{Encryption: "ipsec"}}
	var nodes []drivers.Node
	for i := 0; i < 16; i++ {
		c.Nodes = append(c.Nodes, fmt.Sprintf("node%02d", i))
		nodes = append(nodes, drivers.Node{Name: c.Nodes[i], State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning, MigrationIPsec: true})
	}
	d := &spec.Desired{Clusters: []spec.Cluster{c}, Catalog: []spec.CatalogImage{{Image: win11, BuiltIn: true}}}
	for _, m := range mut {
		m(nodes)
	}
	o := &drivers.Observed{Cluster: c.Name, Driver: "sim", ObservedAt: observedAt, Nodes: nodes}
	for i := 0; i < n; i++ {
		v := vmSpec(c.Name, fmt.Sprintf("avd-%05d", i))
		d.VMs = append(d.VMs, v)
		o.VMs = append(o.VMs, synced(v, c.Nodes[i%16], fmt.Sprintf("%064x", i), func(o *drivers.VM) { o.SecureBoot = false; o.Processors = 2 }))
	}
	p, err := plan.Build(d, map[string]*drivers.Observed{c.Name: o}, plan.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkRenderPlan10000VMs renders a 10,000-VM drifted plan in every format.
func BenchmarkRenderPlan10000VMs(b *testing.B) {
	p := bigPlan(b, 10000)
	for _, format := range []string{view.FormatText, view.FormatJSON, view.FormatMarkdown} {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := view.Plan(io.Discard, format, p, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

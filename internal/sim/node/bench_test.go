package node_test

import (
	"fmt"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// BenchmarkObserveNode1000VMs: one observe-node round trip of a node with 1,000 VMs (node2's
// IGVmAgent is stopped while they are placed, so all go to node1): time per round trip and
// bytes on the wire.
func BenchmarkObserveNode1000VMs(b *testing.B) {
	e := newEnv(b)
	if err := e.host.SetAgent(e.ctx, simCluster, "node2", cluster.AgentIGVm, cluster.AgentStopped); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		e.place(fmt.Sprintf("vm-%04d", i))
	}
	s := e.session("node1")
	var rep azlocal.NodeReport
	if err := s.Run(e.ctx, azlocal.ScriptObserveNode, azlocal.ObserveParams{}, &rep); err != nil {
		b.Fatal(err)
	}
	start := e.tr.Stats()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Run(e.ctx, azlocal.ScriptObserveNode, azlocal.ObserveParams{}, &rep); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := e.tr.Stats()
	n := float64(st.Requests - start.Requests)
	b.ReportMetric(float64(len(rep.VMs)), "vms")
	b.ReportMetric(float64(st.BytesIn-start.BytesIn)/n, "bytes-in/op")
	b.ReportMetric(float64(st.BytesOut-start.BytesOut)/n, "bytes-out/op")
}

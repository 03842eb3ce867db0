package watch

import (
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/apply"
)

// TestRecordTakesEveryLeftOffVM: a VM the plan kept Off on purpose and one
// whose start-again failed both reach the result; a VM started again does
// not. Before, only the first kind was seen (the Power text was read, not
// LeftOff), so watch exited 0 with a VM Off after a failed start.
func TestRecordTakesEveryLeftOffVM(t *testing.T) {
	rep := &apply.Report{Resources: []apply.ResourceResult{
		{Resource: "vm/kept", Cluster: "c1", Power: "left Off: its vTPM was reset", LeftOff: true},
		{Resource: "vm/failed", Cluster: "c1", Power: "could not be started again (boom): the plan stopped it", LeftOff: true},
		{Resource: "vm/fine", Cluster: "c1", Power: "started again: the plan had stopped it"},
	}}
	var res RunResult
	res.record(rep)
	if len(res.LeftOff) != 2 || res.LeftOff[0].Resource != "vm/kept" || res.LeftOff[1].Resource != "vm/failed" {
		t.Fatalf("LeftOff %+v, want vm/kept and vm/failed", res.LeftOff)
	}
}

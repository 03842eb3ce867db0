package main

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// TestVMListIsBounded: a "no such VM" on a big platform names ten VMs and
// says how many more, instead of all 10,000.
func TestVMListIsBounded(t *testing.T) {
	vms := make([]cluster.VMState, 10000)
	for i := range vms {
		vms[i] = cluster.VMState{Name: "vm", Cluster: "c", Node: "n", VMID: "id"}
	}
	got := vmList(vms)
	if strings.Count(got, "VM ID") != maxListed || !strings.HasSuffix(got, "and 9990 more (tlreconcile sim platform lists them)") {
		t.Fatalf("vmList of 10,000: %d VMs named, ends %q", strings.Count(got, "VM ID"), got[len(got)-60:])
	}
	if got := vmList(vms[:2]); strings.Contains(got, "more") {
		t.Fatalf("vmList of 2: %q", got)
	}
}

package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

// indexConsistent checks the placement index against the records: every
// ARM-managed VM is found by its machine, every machine entry names a record
// that owns it, and every node's count is the number of records on it.
func (e *crashEnv) indexConsistent(h *Host) {
	e.t.Helper()
	recs, err := h.records("")
	if err != nil {
		e.t.Fatal(err)
	}
	byID := map[string]*vmRecord{}
	owned := map[string]bool{}
	for _, r := range recs {
		byID[r.VMID] = r
		if !ownsMachine(r, r.MachineID) {
			continue
		}
		owned[machineKey(r.MachineID)+".json"] = true
		if pl, ok, err := h.placed(r.MachineID); err != nil || !ok || pl.VMID != r.VMID || pl.Node != r.Node {
			e.t.Fatalf("machine %s: index answers %+v %v %v, want VM %s on %s", r.MachineID, pl, ok, err, r.VMID, r.Node)
		}
	}
	ents, err := readDir(filepath.Join(h.root, machinesDir))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, en := range ents {
		if !owned[en.Name()] {
			e.t.Fatalf("machine entry %s names no VM that owns it", en.Name())
		}
	}
	names, err := h.clusterNames()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, name := range names {
		c, err := h.readCluster(name)
		if err != nil {
			e.t.Fatal(err)
		}
		want := *c
		want.Nodes = append([]nodeRecord(nil), c.Nodes...)
		if recount(&want, byID) {
			e.t.Fatalf("cluster %s: node counts %+v, records say %+v", name, c.Nodes, want.Nodes)
		}
	}
}

// TestPlaceReadsNoOtherRecord: a placement reads the machine's entry and the
// cluster file, not the other VMs' records, so a damaged record of another
// VM does not stop it (the full scan it replaced failed on it; what a scan
// would cost at 10,000 VMs is BenchmarkPlaceVMCluster's).
func TestPlaceReadsNoOtherRecord(t *testing.T) {
	ctx := context.Background()
	e := newCrashEnv(t)
	h := e.open()
	other := e.placeMachine(h, "/m/other")
	if err := os.WriteFile(h.recordPath(other), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	pl, err := h.PlaceVM(ctx, placeRequest("/m/new"))
	if err != nil {
		t.Fatalf("place next to a damaged record: %v", err)
	}
	again, err := h.PlaceVM(ctx, placeRequest("/M/NEW"))
	if err != nil || again != pl {
		t.Fatalf("repeat place: %+v %v, want %+v", again, err, pl)
	}
	if err := h.StopVM(ctx, pl.VMID); err != nil {
		t.Fatalf("stop next to a damaged record: %v", err)
	}
	if _, err := h.VM(ctx, pl.VMID); err != nil {
		t.Fatalf("get next to a damaged record: %v", err)
	}
}

func placeRequest(machine string) arm.PlaceRequest {
	return arm.PlaceRequest{MachineID: machine, CustomLocation: arm.DefaultCustomLocation,
		Hardware: arm.Hardware{Processors: 2, MemoryMB: 4096}, Security: arm.Security{Type: "TrustedLaunch", TPM: true, SecureBoot: true}}
}

// TestNodeCountsFollowEveryMove: each write that adds, removes or moves a VM
// keeps the node counts equal to the records, and placement goes to the
// least loaded node by them.
func TestNodeCountsFollowEveryMove(t *testing.T) {
	ctx := context.Background()
	e := newCrashEnv(t)
	h := e.open()
	var ids []string
	for _, m := range []string{"/m/a", "/m/b", "/m/c"} {
		ids = append(ids, e.placeMachine(h, m))
	}
	e.indexConsistent(h)
	// The bridge is on node1, so node2 gets the first VM, then they alternate.
	wantNodes := []string{"node2", "node1", "node2"}
	for i, id := range ids {
		if vm, _ := h.VM(ctx, id); vm.Node != wantNodes[i] {
			t.Fatalf("VM %d placed on %s, want %s (least loaded)", i, vm.Node, wantNodes[i])
		}
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"local VM", func() error { _, err := h.CreateLocalVM(ctx, "c1", "node1", "local"); return err }},
		{"move inside", func() error { return h.MoveVM(ctx, ids[0], Target{Node: "node1"}, true) }},
		{"move without key", func() error { return h.MoveVM(ctx, ids[0], Target{Node: "node2"}, false) }},
		{"restore", func() error { return h.MoveVM(ctx, ids[1], Target{Cluster: "c2", Node: "n1"}, true) }},
		{"fail node", func() error { return h.FailNode(ctx, "c1", "node2") }},
		{"delete", func() error { return h.DeleteVM(ctx, ids[2]) }},
		{"place after", func() error { _, err := h.PlaceVM(ctx, placeRequest("/m/d")); return err }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		e.indexConsistent(h)
	}
}

// TestKillAfterMachineEntry: a kill between the machine entry and the
// record leaves an entry that names no VM; it is not taken for one, the
// next Open removes it, and the repeated place makes exactly one VM.
func TestKillAfterMachineEntry(t *testing.T) {
	ctx := context.Background()
	for _, reopen := range []bool{true, false} {
		t.Run(map[bool]string{true: "reopened", false: "same process"}[reopen], func(t *testing.T) {
			e := newCrashEnv(t)
			h := e.open()
			killAt(h, "index")
			if _, err := h.PlaceVM(ctx, placeRequest("/m/avd-01")); !errors.Is(err, errKilled) {
				t.Fatalf("place: %v", err)
			}
			h.crashAt = nil
			if reopen {
				h = e.open()
				e.consistent(h)
			}
			if _, ok, err := h.placed("/m/avd-01"); ok || err != nil {
				t.Fatalf("the entry of an uncommitted place was believed: %v %v", ok, err)
			}
			pl, err := h.PlaceVM(ctx, placeRequest("/m/avd-01"))
			if err != nil {
				t.Fatal(err)
			}
			e.consistent(h)
			recs, _ := h.records("c1")
			if managed := countManaged(recs); managed != 1 {
				t.Fatalf("%d VMs after the repeat, want 1 (%+v)", managed, pl)
			}
		})
	}
}

func countManaged(recs []*vmRecord) int {
	n := 0
	for _, r := range recs {
		if r.Managed {
			n++
		}
	}
	return n
}

// TestRepairRebuildsIndex: a state dir written before the index (no machine
// entries, no node counts), or one whose index a hand damaged, is made whole
// by Open, and PlaceVM stays idempotent for the machines it holds.
func TestRepairRebuildsIndex(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		damage func(t *testing.T, h *Host, ids []string)
	}{
		{"no index", func(t *testing.T, h *Host, _ []string) {
			if err := os.RemoveAll(filepath.Join(h.root, machinesDir)); err != nil {
				t.Fatal(err)
			}
			zeroCounts(t, h)
		}},
		{"entry names another VM", func(t *testing.T, h *Host, ids []string) {
			if err := h.writeMachine("/m/a", ids[1]); err != nil {
				t.Fatal(err)
			}
		}},
		{"torn entry and stray entry", func(t *testing.T, h *Host, _ []string) {
			if err := os.WriteFile(h.machinePath("/m/b"), []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := h.writeMachine("/m/gone", "no-such-vm"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newCrashEnv(t)
			h := e.open()
			ids := []string{e.placeMachine(h, "/m/a"), e.placeMachine(h, "/m/b")}
			tc.damage(t, h, ids)
			h = e.open()
			e.consistent(h)
			for i, m := range []string{"/m/a", "/m/b"} {
				if pl, err := h.PlaceVM(ctx, placeRequest(m)); err != nil || pl.VMID != ids[i] {
					t.Fatalf("place %s again: %+v %v, want its VM %s", m, pl, err, ids[i])
				}
			}
		})
	}
}

// TestMachineEntryNotBelievedAlone: without a repair in between, an entry
// that names a VM of another machine does not make PlaceVM return that VM.
func TestMachineEntryNotBelievedAlone(t *testing.T) {
	e := newCrashEnv(t)
	h := e.open()
	a := e.placeMachine(h, "/m/a")
	if err := h.writeMachine("/m/b", a); err != nil {
		t.Fatal(err)
	}
	b := e.placeMachine(h, "/m/b")
	if b == a {
		t.Fatal("PlaceVM of /m/b returned the VM of /m/a through a wrong entry")
	}
	e.indexConsistent(h)
}

func zeroCounts(t *testing.T, h *Host) {
	t.Helper()
	names, err := h.clusterNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		c, err := h.readCluster(n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.Nodes {
			c.Nodes[i].VMs = 0
		}
		if err := h.writeCluster(c); err != nil {
			t.Fatal(err)
		}
	}
}

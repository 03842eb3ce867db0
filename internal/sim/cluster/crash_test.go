package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// errKilled stands for SIGKILL: the operation stops at the step, with no
// clean-up (the lock goes, as a dead process's flock does).
var errKilled = errors.New("killed")

var twoClusters = Options{Clusters: []Spec{
	{Name: "c1", CustomLocation: arm.DefaultCustomLocation, Nodes: []string{"node1", "node2"}},
	{Name: "c2", CustomLocation: "/cl/c2", Nodes: []string{"n1"}},
}}

// crashEnv is a state dir, the process's one reference TPM, and a way to
// open it as a fresh process would.
type crashEnv struct {
	t   *testing.T
	dir string
	tpm *vtpm.Reference
}

func newCrashEnv(t *testing.T) *crashEnv {
	t.Helper()
	e := &crashEnv{t: t, dir: t.TempDir(), tpm: vtpm.NewReference()}
	t.Cleanup(func() { _ = e.tpm.Close() })
	return e
}

func (e *crashEnv) open() *Host {
	e.t.Helper()
	opts := twoClusters
	opts.TPM = e.tpm
	h, err := Open(e.dir, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// killAt makes h die at the named step.
func killAt(h *Host, step string) {
	h.crashAt = func(s string) error {
		if s == step {
			return errKilled
		}
		return nil
	}
}

func (e *crashEnv) place(h *Host) string {
	e.t.Helper()
	return e.placeMachine(h, "/m/avd-01")
}

// placeMachine places the VM of machine (PlaceVM is idempotent per machine:
// a second VM needs another machine).
func (e *crashEnv) placeMachine(h *Host, machine string) string {
	e.t.Helper()
	pl, err := h.PlaceVM(context.Background(), arm.PlaceRequest{MachineID: machine, CustomLocation: arm.DefaultCustomLocation,
		Hardware: arm.Hardware{Processors: 2, MemoryMB: 4096}, Security: arm.Security{Type: "TrustedLaunch", TPM: true, SecureBoot: true}})
	if err != nil {
		e.t.Fatal(err)
	}
	return pl.VMID
}

// files lists every key and state file of the system, relative to its root.
func (e *crashEnv) files() []string {
	e.t.Helper()
	var out []string
	root := filepath.Join(e.dir, "cluster")
	for _, pat := range []string{"*/keyvault/*/*/*", "*/storage/*/*"} {
		m, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			e.t.Fatal(err)
		}
		for _, p := range m {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
	}
	return out
}

// consistent checks what a reader must find: a VM has exactly its key and its
// one state file in its own cluster, nothing else exists, and the key opens
// the state (the identity reads), or the VM is a known stopped state.
func (e *crashEnv) consistent(h *Host) {
	e.t.Helper()
	recs, err := h.records("")
	if err != nil {
		e.t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range recs {
		if r.StateGen == 0 {
			continue
		}
		want[filepath.Join(r.Cluster, "storage", r.VMID, stateFileName(r.VMID, r.StateGen))] = true
		if _, ok, _ := h.readKey(r.Cluster, r.VMID); ok {
			want[filepath.Join(r.Cluster, "keyvault", KeyVaultName, KeyGroup, r.VMID+".key")] = true
		}
	}
	got := e.files()
	if len(got) != len(want) {
		e.t.Fatalf("files %v, want exactly %v", got, want)
	}
	for _, f := range got {
		if !want[f] {
			e.t.Fatalf("orphan %s left after repair (files %v)", f, got)
		}
	}
	e.indexConsistent(h)
}

func TestKillDuringPlace(t *testing.T) {
	for _, step := range []string{"key", "state", "record"} {
		t.Run(step, func(t *testing.T) {
			e := newCrashEnv(t)
			h := e.open()
			killAt(h, step)
			_, err := h.PlaceVM(context.Background(), arm.PlaceRequest{MachineID: "/m/avd-01", CustomLocation: arm.DefaultCustomLocation,
				Security: arm.Security{Type: "TrustedLaunch"}})
			if !errors.Is(err, errKilled) {
				t.Fatalf("place: %v", err)
			}
			h2 := e.open()
			e.consistent(h2)
			recs, _ := h2.records("c1")
			managed := 0
			for _, r := range recs {
				if r.Managed {
					managed++
					if vm, err := h2.VM(context.Background(), r.VMID); err != nil || vm.Identity == "" {
						t.Fatalf("committed VM unreadable: %+v %v", vm, err)
					}
				}
			}
			if wantVM := step == "record"; (managed == 1) != wantVM {
				t.Fatalf("killed after %s: %d VMs, want committed=%v", step, managed, wantVM)
			}
		})
	}
}

// TestKillDuringReset: a VM whose key was deleted starts (a reset), killed
// after each write. The next reader sees the old record or the new one,
// never a new vTPM under the old record; the start that follows resets at
// most once in total.
func TestKillDuringReset(t *testing.T) {
	ctx := context.Background()
	for _, step := range []string{"key", "state", "record"} {
		t.Run(step, func(t *testing.T) {
			e := newCrashEnv(t)
			h := e.open()
			id := e.place(h)
			old, _ := h.VM(ctx, id)
			if err := h.StopVM(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := h.DeleteKey(ctx, id); err != nil {
				t.Fatal(err)
			}
			killAt(h, step)
			if err := h.StartVM(ctx, id); !errors.Is(err, errKilled) {
				t.Fatalf("start: %v", err)
			}
			h2 := e.open()
			e.consistent(h2)
			mid, err := h2.VM(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			committed := step == "record"
			if committed != (mid.Resets == 1 && mid.Identity != "" && mid.Power == PowerRunning) {
				t.Fatalf("killed after %s, read back %+v", step, mid)
			}
			if !committed && (mid.Identity != "" || mid.Power != PowerOff || mid.GuestStateFile != old.GuestStateFile) {
				t.Fatalf("killed after %s: a new vTPM under the old record: %+v", step, mid)
			}
			if err := h2.StopVM(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := h2.StartVM(ctx, id); err != nil {
				t.Fatal(err)
			}
			end, _ := h2.VM(ctx, id)
			if end.Resets != 1 || end.Identity == "" || end.Identity == old.Identity || (committed && end.Identity != mid.Identity) {
				t.Fatalf("after the re-run: %+v (old %s, read back %s): want exactly one reset", end, old.Identity, mid.Identity)
			}
			e.consistent(h2)
		})
	}
}

// TestKillDuringRestore: a restore onto another cluster with its key, killed
// after each write, leaves the VM whole in exactly one cluster.
func TestKillDuringRestore(t *testing.T) {
	ctx := context.Background()
	for _, step := range []string{"key", "state", "record"} {
		t.Run(step, func(t *testing.T) {
			e := newCrashEnv(t)
			h := e.open()
			id := e.place(h)
			old, _ := h.VM(ctx, id)
			killAt(h, step)
			if err := h.MoveVM(ctx, id, Target{Cluster: "c2", Node: "n1"}, true); !errors.Is(err, errKilled) {
				t.Fatalf("move: %v", err)
			}
			h2 := e.open()
			e.consistent(h2)
			got, err := h2.VM(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := map[bool]string{true: "c2", false: "c1"}[step == "record"]
			if got.Cluster != want || got.Identity != old.Identity {
				t.Fatalf("killed after %s: %+v, want it in %s with identity %s", step, got, want, old.Identity)
			}
		})
	}
}

// TestKillDuringDelete: once the record is gone the VM is gone, and repair
// removes what the killed delete left.
func TestKillDuringDelete(t *testing.T) {
	for _, step := range []string{"record", "state"} {
		t.Run(step, func(t *testing.T) {
			e := newCrashEnv(t)
			h := e.open()
			id := e.place(h)
			killAt(h, step)
			if err := h.DeleteVM(context.Background(), id); !errors.Is(err, errKilled) {
				t.Fatalf("delete: %v", err)
			}
			h2 := e.open()
			e.consistent(h2)
			if _, err := h2.readRecord(id); !errors.Is(err, ErrNotFound) {
				t.Fatalf("VM still there: %v", err)
			}
		})
	}
}

// TestKillDuringFailNode: a kill after the node went down leaves its VMs
// there; the next Open fails them over, vTPM intact.
func TestKillDuringFailNode(t *testing.T) {
	ctx := context.Background()
	e := newCrashEnv(t)
	h := e.open()
	id := e.place(h)
	old, _ := h.VM(ctx, id)
	killAt(h, "node")
	if err := h.FailNode(ctx, "c1", old.Node); !errors.Is(err, errKilled) {
		t.Fatalf("fail node: %v", err)
	}
	h2 := e.open()
	got, _ := h2.VM(ctx, id)
	if got.Node == old.Node || got.Power != PowerRunning || got.Identity != old.Identity {
		t.Fatalf("after reopen: %+v, want running off %s with identity %s", got, old.Node, old.Identity)
	}
	e.consistent(h2)
}

// TestRepairRemovesTempFiles: the temp file of a rename a kill interrupted
// is removed.
func TestRepairRemovesTempFiles(t *testing.T) {
	e := newCrashEnv(t)
	e.open()
	tmp := filepath.Join(e.dir, "cluster", vmsDir, ".tmp-123")
	if err := os.WriteFile(tmp, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.open()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file survived repair: %v", err)
	}
}

package arm_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// crashWorld is a state dir with the simulated cluster and ARM on it, which
// reopen opens again as the next process after a kill would.
type crashWorld struct {
	t    *testing.T
	dir  string
	tpm  *vtpm.Reference
	host *cluster.Host
	s    *sim
}

func newCrashWorld(t *testing.T) *crashWorld {
	t.Helper()
	w := &crashWorld{t: t, dir: t.TempDir(), tpm: vtpm.NewReference()}
	t.Cleanup(func() { _ = w.tpm.Close() })
	w.open()
	return w
}

func (w *crashWorld) open() {
	w.t.Helper()
	h, err := cluster.Open(w.dir, cluster.Options{TPM: w.tpm})
	if err != nil {
		w.t.Fatal(err)
	}
	w.host = h
	w.s = startSimOn(w.t, w.dir, h, arm.Options{})
}

// reopen: the killed process is gone (its server stops answering), and a new
// one opens the state dir; the cluster repairs what the kill left.
func (w *crashWorld) reopen() {
	w.t.Helper()
	_ = w.s.srv.Close()
	w.open()
}

// rebase points an answer's operation URLs at the new process.
func (w *crashWorld) rebase(r reply, oldBase string) reply {
	h := r.header.Clone()
	for _, k := range []string{"Azure-AsyncOperation", "Location"} {
		if v := h.Get(k); v != "" {
			h.Set(k, strings.Replace(v, oldBase, w.s.base, 1))
		}
	}
	r.header = h
	return r
}

// vms are the ARM-managed VMs of the cluster, and keys the guest state
// protection keys in its key vault (files, as MOC keeps them).
func (w *crashWorld) vms() ([]cluster.VMState, []string) {
	w.t.Helper()
	names, err := w.host.Clusters()
	if err != nil {
		w.t.Fatal(err)
	}
	var out []cluster.VMState
	for _, n := range names {
		st, err := w.host.Observe(context.Background(), n, cluster.ObserveOptions{})
		if err != nil {
			w.t.Fatal(err)
		}
		for _, vm := range st.VMs {
			if vm.Managed {
				out = append(out, vm)
			}
		}
	}
	keys, err := filepath.Glob(filepath.Join(w.dir, "cluster", "*", "keyvault", cluster.KeyVaultName, cluster.KeyGroup, "*.key"))
	if err != nil {
		w.t.Fatal(err)
	}
	return out, keys
}

// oneVM checks the end state of a VM instance that exists: Succeeded, in
// powerState, backed by exactly one cluster VM (its vmId) with one key.
func (w *crashWorld) oneVM(powerState string, power cluster.Power) {
	w.t.Helper()
	got := w.s.must(200, "GET", vmiPath("avd-01")+hciAPI, nil)
	id, _ := got.prop("properties.vmId").(string)
	if got.prop("properties.provisioningState") != "Succeeded" || got.prop("properties.status.powerState") != powerState || id == "" {
		w.t.Fatalf("the instance after the kill: %s, want Succeeded, %s, with a vmId", got.raw, powerState)
	}
	vms, keys := w.vms()
	if len(vms) != 1 || len(keys) != 1 || vms[0].VMID != id || vms[0].Power != power || !vms[0].KeyPresent {
		w.t.Fatalf("cluster after the kill: VMs %+v, keys %v; want exactly the one VM %s (%s) and its key", vms, keys, id, power)
	}
}

// TestKillDuringOperation kills ARM at each step of a long-running
// operation on a trusted-launch VM (after the operation file is written,
// after the cluster carried it out, after the operation committed), opens
// the state dir as the next process and lets the client go on as it would:
// poll the operation it was given, or send again a request that got no
// answer. The operation completes, and the cluster holds exactly the VMs
// and keys it should: one VM with one key, or none.
func TestKillDuringOperation(t *testing.T) {
	type action struct {
		name, method, path string
		body               func() any
		status             int
		existing           bool // the VM exists before
		check              func(w *crashWorld)
	}
	create := action{"create", "PUT", vmiPath("avd-01"), func() any { return vmiBody("win11", true, true) }, 201, false,
		func(w *crashWorld) { w.oneVM("Running", cluster.PowerRunning) }}
	stop := action{"stop", "POST", vmiPath("avd-01") + "/stop", func() any { return nil }, 202, true,
		func(w *crashWorld) { w.oneVM("Stopped", cluster.PowerOff) }}
	del := action{"delete", "DELETE", vmiPath("avd-01"), func() any { return nil }, 202, true, func(w *crashWorld) {
		w.s.must(404, "GET", vmiPath("avd-01")+hciAPI, nil)
		if vms, keys := w.vms(); len(vms) != 0 || len(keys) != 0 {
			t.Fatalf("after the delete: VMs %+v, keys %v, want none", vms, keys)
		}
	}}
	for _, a := range []action{create, stop, del} {
		for _, step := range []string{"accept", "host", "commit"} {
			t.Run(a.name+"/killed after "+step, func(t *testing.T) {
				w := newCrashWorld(t)
				w.s.infra()
				w.s.must(200, "PUT", machinePath("avd-01")+hcAPI, machineBody("HCI"))
				if a.existing {
					w.s.lro(201, "PUT", vmiPath("avd-01")+hciAPI, vmiBody("win11", true, true))
				}
				arm.CrashAt(w.s.srv, step)
				r := w.s.do(a.method, a.path+hciAPI, a.body())
				if step != "accept" {
					if r.status != a.status {
						t.Fatalf("%s: got %d, want %d: %s", a.name, r.status, a.status, r.raw)
					}
					if poll := w.s.do("GET", r.header.Get("Azure-AsyncOperation"), nil); poll.status != http.StatusInternalServerError {
						t.Fatalf("the poll that should have died at %s: %d %s", step, poll.status, poll.raw)
					}
				} else if r.status != http.StatusInternalServerError {
					t.Fatalf("the request that should have died at %s: %d %s", step, r.status, r.raw)
				}
				old := w.s.base
				w.reopen()
				if step == "accept" { // no answer came: the client sends it again
					r = w.s.must(a.status, a.method, a.path+hciAPI, a.body())
				} else {
					r = w.rebase(r, old)
				}
				if st := w.s.wait(r); st != "Succeeded" {
					t.Fatalf("the operation ended %s", st)
				}
				a.check(w)
			})
		}
	}
}

// TestKillAfterFailedOperation: an operation that failed and was killed
// before its resource recorded it is read back Failed, operation and
// resource alike (not Succeeded, as a resource written before its
// operation would have it).
func TestKillAfterFailedOperation(t *testing.T) {
	for _, step := range []string{"host", "commit"} {
		t.Run("killed after "+step, func(t *testing.T) {
			dir := t.TempDir()
			s := startSim(t, dir, arm.Options{})
			s.infra()
			s.must(200, "PUT", machinePath("avd-01")+hcAPI, machineBody("HCI"))
			if err := s.srv.Inject(arm.Fault{Operation: "VirtualMachineInstances_CreateOrUpdate", FailAsync: 1}); err != nil {
				t.Fatal(err)
			}
			arm.CrashAt(s.srv, step)
			r := s.must(201, "PUT", vmiPath("avd-01")+hciAPI, vmiBody("win11", true, true))
			if poll := s.do("GET", r.header.Get("Azure-AsyncOperation"), nil); poll.status != http.StatusInternalServerError {
				t.Fatalf("the poll that should have died: %d %s", poll.status, poll.raw)
			}
			old := s.base
			_ = s.srv.Close()
			next := startSim(t, dir, arm.Options{})
			r.header.Set("Azure-AsyncOperation", strings.Replace(r.header.Get("Azure-AsyncOperation"), old, next.base, 1))
			if st := next.wait(r); st != "Failed" {
				t.Fatalf("the operation ended %s, want Failed", st)
			}
			got := next.must(200, "GET", vmiPath("avd-01")+hciAPI, nil)
			if got.prop("properties.provisioningState") != "Failed" || got.prop("properties.status.errorCode") != "InjectedFailure" {
				t.Fatalf("the instance: %s, want Failed with the operation's error", got.raw)
			}
			// Nothing is left pending: the instance can be deleted.
			next.lro(202, "DELETE", vmiPath("avd-01")+hciAPI, nil)
		})
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/golden"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simCLI runs `tlreconcile --state-dir DIR ARGS...` in process through cobra.
func simCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd(strings.NewReader(""), &out, &errb)
	cmd.SetArgs(append([]string{"--state-dir", dir}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func mustSimCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := simCLI(t, dir, args...)
	if err != nil {
		t.Fatalf("tlreconcile %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func simShowVM(t *testing.T, dir, vm string) drivers.VM {
	t.Helper()
	var got view.SimCluster
	if err := json.Unmarshal([]byte(mustSimCLI(t, dir, "sim", "show", "--format", "json")), &got); err != nil {
		t.Fatal(err)
	}
	for _, v := range got.Observed.VMs {
		if v.Name == vm {
			return v
		}
	}
	t.Fatalf("sim show: no VM %s", vm)
	return drivers.VM{}
}

// TestSimCLIEndToEnd is the acceptance run through the real commands:
// failover keeps the identity, --lose-vtpm changes it, a stopped agent makes a
// start on that node fail, an injected fault reaches another driver instance.
func TestSimCLIEndToEnd(t *testing.T) {
	dir := t.TempDir()
	mustSimCLI(t, dir, "sim", "init", "--cluster", "hci-west", "--nodes", "node1,node2,node3")
	mustSimCLI(t, dir, "sim", "create-unmanaged", "--vm", "x", "--node", "node1", "--running")
	x0 := simShowVM(t, dir, "x")
	if len(x0.VTPMIdentity) != 64 || x0.Node != "node1" {
		t.Fatalf("new VM: %+v", x0)
	}
	mustSimCLI(t, dir, "sim", "failover", "--vm", "x", "--to", "node2")
	if x1 := simShowVM(t, dir, "x"); x1.Node != "node2" || x1.VTPMIdentity != x0.VTPMIdentity {
		t.Errorf("after failover: node %s identity %s, want node2 and %s", x1.Node, x1.VTPMIdentity, x0.VTPMIdentity)
	}
	mustSimCLI(t, dir, "sim", "failover", "--vm", "x", "--to", "node1", "--lose-vtpm")
	if x2 := simShowVM(t, dir, "x"); x2.VTPMIdentity == x0.VTPMIdentity || len(x2.VTPMIdentity) != 64 {
		t.Errorf("after failover --lose-vtpm: identity %q, want a new one", x2.VTPMIdentity)
	}
	mustSimCLI(t, dir, "sim", "drift", "--vm", "x", "--set", "power=Off", "--set", "node=node2")
	mustSimCLI(t, dir, "sim", "agent", "--node", "node2", "--state", "stopped")
	mustSimCLI(t, dir, "sim", "inject", "--op", "set-memory", "--fail-always")

	d, err := sim.New(drivers.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Apply(context.Background(), drivers.ClusterRef{Name: "hci-west"}, drivers.Op{Kind: drivers.OpStartVM, Cluster: "hci-west", VM: "x"})
	if !errors.Is(err, drivers.ErrPrecondition) {
		t.Errorf("start on node2 with its agent stopped: %v, want ErrPrecondition", err)
	}
	_, err = d.Apply(context.Background(), drivers.ClusterRef{Name: "hci-west"}, drivers.Op{Kind: drivers.OpSetMemory, Cluster: "hci-west", VM: "x", Params: &drivers.Params{MemoryMB: 4096}})
	if err == nil || drivers.IsTransient(err) {
		t.Errorf("set-memory with an injected permanent fault: %v", err)
	}
	text := mustSimCLI(t, dir, "sim", "show")
	for _, want := range []string{"node2  Up     stopped", "set-memory: fail always", "x "} {
		if !strings.Contains(text, want) {
			t.Errorf("sim show does not contain %q:\n%s", want, text)
		}
	}
	mustSimCLI(t, dir, "sim", "inject", "--clear")
	if fs, _ := d.Faults("hci-west"); len(fs) != 0 {
		t.Errorf("after --clear: %v", fs)
	}
}

func TestSimCLIInitFromYAML(t *testing.T) {
	dir := t.TempDir()
	yaml := filepath.Join(dir, "c.yaml")
	err := os.WriteFile(yaml, []byte(`apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: lab}
spec:
  driver: sim
  nodes: [n1, n2]
  liveMigration: {encryption: ipsec}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if out := mustSimCLI(t, dir, "sim", "init", "-f", yaml); !strings.Contains(out, "cluster/lab: created") {
		t.Errorf("init -f: %q", out)
	}
	if out := mustSimCLI(t, dir, "sim", "init", "-f", yaml); !strings.Contains(out, "exists already") {
		t.Errorf("second init -f: %q", out)
	}
}

func TestSimCLIValidate(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sim", "init", "--cluster", "c"}, "--nodes"},
		{[]string{"sim", "init", "--cluster", "c", "--nodes", "a", "--vtpm-backend", "tpm"}, "--vtpm-backend"},
		{[]string{"sim", "init", "-f", "x.yaml", "--cluster", "c"}, "not both"},
		{[]string{"sim", "init", "-f", "x.yaml", "--vtpm-backend", "swtpm"}, "options: {vtpmBackend: swtpm}"},
		{[]string{"sim", "drift", "--vm", "v"}, "--set"},
		{[]string{"sim", "drift", "--vm", "v", "--set", "oops"}, "FIELD=VALUE"},
		{[]string{"sim", "failover", "--vm", "v"}, "--to"},
		{[]string{"sim", "agent", "--node", "n", "--state", "sleeping"}, "running, stopped or absent"},
		{[]string{"sim", "inject", "--op", "start-vm"}, "what to inject"},
		{[]string{"sim", "inject", "--op", "reboot", "--fail", "1"}, "op \"reboot\""},
		{[]string{"sim", "inject", "--op", "start-vm", "--fail", "1", "--fail-always"}, "not both"},
		{[]string{"sim", "inject", "--clear", "--op", "x"}, "no other flag"},
		{[]string{"sim", "create-unmanaged", "--vm", "v", "--generation", "3"}, "use 1 or 2"},
		{[]string{"sim", "show", "--format", "yaml"}, "text or json"},
		{[]string{"sim", "show"}, "sim init"}, // no cluster yet
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := simCLI(t, dir, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	// Two clusters: --cluster becomes necessary.
	mustSimCLI(t, dir, "sim", "init", "--cluster", "a", "--nodes", "n1")
	mustSimCLI(t, dir, "sim", "init", "--cluster", "b", "--nodes", "n1")
	if _, err := simCLI(t, dir, "sim", "show"); err == nil || !strings.Contains(err.Error(), "--cluster") {
		t.Errorf("two clusters without --cluster: %v", err)
	}
}

// TestSimShowGolden pins the text layout of `sim show`. The VMs have no vTPM
// so that nothing random (identities) reaches the output.
func TestSimShowGolden(t *testing.T) {
	dir := t.TempDir()
	mustSimCLI(t, dir, "sim", "init", "--cluster", "hci-west", "--nodes", "node2,node1")
	mustSimCLI(t, dir, "sim", "create-unmanaged", "--vm", "old-01", "--generation", "1", "--node", "node2", "--running")
	mustSimCLI(t, dir, "sim", "create-unmanaged", "--vm", "tl-01", "--node", "node1")
	mustSimCLI(t, dir, "sim", "drift", "--vm", "tl-01", "--set", "tpmEnabled=false", "--set", "annotations.managedBy=tlreconcile", "--set", "fileAccess=violation")
	mustSimCLI(t, dir, "sim", "agent", "--node", "node2", "--state", "absent")
	mustSimCLI(t, dir, "sim", "ipsec", "--node", "node1", "--state", "on")
	mustSimCLI(t, dir, "sim", "inject", "--op", "start-vm", "--fail", "2", "--latency", "20ms")
	got := mustSimCLI(t, dir, "sim", "show")
	golden.Check(t, filepath.Join("testdata", "sim", "show.golden"), []byte(got))
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
)

// TestApplyDrivesHyperV runs the exact flow of `tlreconcile apply -f` on a
// hyperv cluster served by the fake host: node steps (IgvmAgent start,
// live-migration IPsec) and a trusted-launch VM's create, on the driver
// instances that observed. The first version opened new drivers for apply,
// and the hyperv driver refused every node step and the first VM step.
func TestApplyDrivesHyperV(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "desired.yaml"), []byte(hypervfake.DesiredYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := drivers.ClusterRef{Name: "hv", Driver: hyperv.Name, Nodes: []string{"node1", "node2", "node3"}}
	host, err := hypervfake.New(t.TempDir(), ref, hypervfake.Options{Noise: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Sim().SetAgent("hv", "node2", drivers.AgentStopped); err != nil {
		t.Fatal(err)
	}
	reg := hypervfake.Registry(host)
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		root := newRoot(&rootOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, drivers: reg})
		root.SetArgs(append([]string{"--state-dir", t.TempDir(), "--no-color"}, args...))
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), errOut.String())
		}
		return out.String()
	}
	out := run("apply", "-f", dir, "--auto-approve")
	for _, want := range []string{"node/node2/start-igvm-agent", "node/node1/enable-migration-ipsec", "vm/tl-01/create-vm"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %s:\n%s", want, out)
		}
	}
	obs, err := host.Sim().Observe(context.Background(), drivers.ClusterRef{Name: "hv", Driver: "sim", Nodes: ref.Nodes})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range obs.Nodes {
		if n.IgvmAgent != drivers.AgentRunning || !n.MigrationIPsec {
			t.Errorf("node %s: IgvmAgent %s, IPsec %v; want running and on", n.Name, n.IgvmAgent, n.MigrationIPsec)
		}
	}
	if len(obs.VMs) != 1 || obs.VMs[0].Power != drivers.PowerRunning || !obs.VMs[0].TPMEnabled || obs.VMs[0].Annotations == nil {
		t.Fatalf("VMs %+v, want tl-01 running with a vTPM, managed", obs.VMs)
	}
	if out := run("apply", "-f", dir, "--auto-approve"); !strings.Contains(out, "No changes.") {
		t.Errorf("second apply is not a no-op:\n%s", out)
	}
}

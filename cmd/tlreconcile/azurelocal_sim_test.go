package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/azurelocal"
)

// azureLocalDesired is a cluster on the embedded simulated Azure Local and
// a trusted-launch VM whose admin password is given by reference.
const azureLocalDesired = `apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: hci-sim}
spec:
  nodes: [node1, node2]
  liveMigration: {encryption: none}
---
apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata: {name: avd-01, cluster: hci-sim}
spec:
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  processors: 2
  memoryMB: 4096
  network: {logicalNetwork: sim-lnet}
  osProfile:
    adminUsername: azureuser
    adminPassword: {fromEnv: TLR_TEST_ADMIN_PASSWORD}
`

// TestAzureLocalOnTheEmbeddedSim runs validate, plan (every format, and a
// plan file), apply, show and a second plan through the azurelocal driver on
// the embedded simulated Azure Local (registered as driver sim here: the
// switch of issue 11), and then looks for the admin password, given by
// fromEnv, in every output, the plan file and every file under the state
// dir: it is nowhere (issue 11's acceptance).
func TestAzureLocalOnTheEmbeddedSim(t *testing.T) {
	const secret = "Xq7-tlr-S3cr3t-pw!"
	t.Setenv("TLR_TEST_ADMIN_PASSWORD", secret)
	dir, state := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "desired.yaml"), []byte(azureLocalDesired), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := drivers.NewRegistry()
	reg.Register("sim", azurelocal.EmbeddedFactory)
	var all bytes.Buffer
	run := func(wantErr bool, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		root := newRoot(&rootOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, drivers: reg})
		root.SetArgs(append([]string{"--state-dir", state, "--no-color"}, args...))
		err := root.Execute()
		all.Write(out.Bytes())
		all.Write(errOut.Bytes())
		if (err != nil) != wantErr {
			t.Fatalf("%v: err %v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), errOut.String())
		}
		return out.String()
	}
	run(false, "validate", "-f", dir)
	for _, f := range []string{"text", "json", "markdown"} {
		run(true, "plan", "-f", dir, "--format", f, "--detailed-exitcode")
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	out := run(false, "plan", "-f", dir, "-out", planFile)
	if !strings.Contains(out, "create-vm") || strings.Contains(out, "ensure-key-protector") || strings.Contains(out, "enable-tpm") {
		t.Fatalf("the plan is not Azure Local's (one create-vm, no key protector or TPM step):\n%s", out)
	}
	out = run(false, "apply", planFile)
	if !strings.Contains(out, "avd-01") {
		t.Fatalf("apply output:\n%s", out)
	}
	run(false, "show", "-f", dir)
	run(false, "show", "-f", dir, "--format", "json")
	run(false, "plan", "-f", dir, "--detailed-exitcode")
	run(false, "apply", "-f", dir, "--auto-approve", "--format", "json")
	// watch creates a second VM with the same password reference.
	second := strings.ReplaceAll(azureLocalDesired[strings.Index(azureLocalDesired, "kind: TrustedLaunchVM"):], "avd-01", "avd-02")
	if err := os.WriteFile(filepath.Join(dir, "second.yaml"), []byte("apiVersion: tlreconcile/v1alpha1\n"+second), 0o644); err != nil {
		t.Fatal(err)
	}
	watched := watchOnce(t, reg, state, dir)
	if !bytes.Contains(watched, []byte("vm/avd-02/create-vm")) {
		t.Fatalf("watch did not create avd-02:\n%s", watched)
	}
	all.Write(watched)

	// Declare no VM and prune everything destructive: the VM tlreconcile
	// made goes, the Arc resource bridge (infrastructure) stays.
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "cluster.yaml"), []byte(strings.SplitN(azureLocalDesired, "---", 2)[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run(false, "apply", "-f", empty, "--prune", "--allow-destructive", "--auto-approve")
	if !strings.Contains(out, "vm/avd-01/delete-vm") || strings.Contains(out, "arcbridge/") {
		t.Fatalf("prune:\n%s", out)
	}
	out = run(false, "show", "-f", empty)
	if !strings.Contains(out, "hci-sim-arcbridge") || strings.Contains(out, "avd-01") {
		t.Fatalf("after the prune the bridge must remain and avd-01 be gone:\n%s", out)
	}

	if strings.Contains(all.String(), secret) {
		t.Fatal("the admin password is in the output of plan, apply or show")
	}
	files := 0
	for _, root := range []string{state, filepath.Dir(planFile)} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files++
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the admin password is in %s", p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 5 {
		t.Fatalf("only %d files under the state dir and the plan file: nothing was created?", files)
	}
}

// watchOnce runs `tlreconcile watch` in process until its first run has
// reconciled, and returns what it logged (JSON lines, debug level, also
// written to a file under the state dir) and printed.
func watchOnce(t *testing.T, reg *drivers.Registry, state, dir string) []byte {
	t.Helper()
	logFile := filepath.Join(state, "watch.log")
	var out, errOut bytes.Buffer
	root := newRoot(&rootOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, drivers: reg})
	root.SetArgs([]string{"--state-dir", state, "--no-color", "watch", dir, "--listen", "", "--log-format", "json", "--log-level", "debug", "--log-file", logFile})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.After(60 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if bytes.Contains(b, []byte(`"msg":"reconciled"`)) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("watch ended before it reconciled: %v\n%s%s%s", err, b, out.String(), errOut.String())
		case <-deadline:
			t.Fatalf("watch did not reconcile within 60s:\n%s", b)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	<-done
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	return append(append(b, out.Bytes()...), errOut.Bytes()...)
}

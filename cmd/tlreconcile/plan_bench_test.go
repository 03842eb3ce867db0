package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// BenchmarkPlanCommand10000VMs is the whole `tlreconcile plan` (load and
// validate 10,000 VM documents, observe a 10,000-VM classic Hyper-V model with every
// vTPM identity from the warm cache, plan, render text) once in sync and once
// with every VM drifted. Setup creates the VMs through the sim's ops and is
// not timed; it takes a minute or more. Run with -benchtime 1x.
func BenchmarkPlanCommand10000VMs(b *testing.B) {
	const n = 10000
	state := b.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "tlreconcile-bench-"); err == nil {
			state = dir
			b.Cleanup(func() { _ = os.RemoveAll(dir) })
		}
	}
	yamlDir := b.TempDir()
	var y strings.Builder
	y.WriteString("apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: big}\nspec:\n  driver: sim\n  nodes: [node1, node2, node3, node4]\n  liveMigration: {encryption: ipsec}\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&y, "---\napiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: vm-%05d, cluster: big}\nspec:\n  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}\n  placement: {node: node%d}\n", i, i%4+1)
	}
	if err := os.WriteFile(filepath.Join(yamlDir, "big.yaml"), []byte(y.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	desired, diags := spec.Load(spec.LoadOptions{Paths: []string{yamlDir}})
	if diags.HasErrors() {
		b.Fatal(diags.Err())
	}
	d, err := hvmodel.New(drivers.Config{StateDir: state})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ref := drivers.ClusterRef{Name: "big", Driver: hvmodel.Name, Nodes: []string{"node1", "node2", "node3", "node4"}}
	if _, err := d.Observe(ctx, ref); err != nil {
		b.Fatal(err)
	}
	for _, node := range ref.Nodes {
		if _, err := d.Apply(ctx, drivers.ClusterRef{Name: "big"}, drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: "big", Node: node}); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, n)
	for i := range desired.VMs {
		v := desired.VMs[i]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ann := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: v.Hash(), Node: v.Placement.Node}
			for _, op := range []drivers.Op{
				{Kind: drivers.OpCreateVM, Params: &drivers.Params{Generation: 2, SecurityType: v.SecurityType, Processors: v.Processors, MemoryMB: v.MemoryMB, TargetNode: v.Placement.Node, Annotations: ann}},
				{Kind: drivers.OpSetSecurity, Params: &drivers.Params{EncryptState: drivers.Bool(false), VBSOptOut: drivers.Bool(false)}},
				{Kind: drivers.OpEnsureKeyProtector},
				{Kind: drivers.OpEnableTPM},
				{Kind: drivers.OpSetSecurity, Params: &drivers.Params{EncryptState: drivers.Bool(true)}},
				{Kind: drivers.OpStartVM},
			} {
				op.Cluster, op.VM = "big", v.Name
				if _, err := d.Apply(ctx, drivers.ClusterRef{Name: op.Cluster}, op); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	// Record identities (warms the sim's identity cache, as a real first run would).
	obs, err := d.Observe(ctx, ref)
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range obs.VMs {
		a := *v.Annotations
		a.VTPMIdentity = v.VTPMIdentity
		if _, err := d.Apply(ctx, drivers.ClusterRef{Name: "big"}, drivers.Op{Kind: drivers.OpSetAnnotations, Cluster: "big", VM: v.Name, Params: &drivers.Params{Annotations: &a}}); err != nil {
			b.Fatal(err)
		}
	}
	// The classic Hyper-V model stands in for driver: sim here: this measures
	// load, observe-from-disk, plan and render at 10,000 VMs; the azurelocal
	// driver's observe and plan over the simulated ARM are measured in
	// internal/drivers/azurelocal (BenchmarkObserve*, BenchmarkPlan*).
	reg := drivers.NewRegistry()
	reg.Register("sim", hvmodel.Factory)
	run := func(b *testing.B, wantChanges bool) {
		for b.Loop() {
			root := newRoot(&rootOptions{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, drivers: reg})
			root.SetArgs([]string{"--state-dir", state, "plan", "-f", yamlDir, "--detailed-exitcode", "--no-color"})
			err := root.Execute()
			if got := exitCodeOf(err) == 2; got != wantChanges {
				b.Fatalf("plan: %v (want changes %t)", err, wantChanges)
			}
		}
	}
	b.Run("in-sync", func(b *testing.B) { run(b, false) })
	for _, v := range desired.VMs {
		if err := d.Drift(ctx, "big", v.Name, []hvmodel.Setting{{Field: "secureBoot", Value: "false"}, {Field: "processors", Value: "1"}}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("drifted", func(b *testing.B) { run(b, true) })
}

// Command insync writes an observed snapshot (the document of
// `tlreconcile show --format json`) in which every cluster and VM of a fleet
// matches its YAML, so that bench/fleet.sh measures `plan --observed` of a
// fleet with nothing to change without creating 10,000 VMs first. It plans
// the snapshot once and refuses to write it when the plan has a change, so a
// measurement of "in sync" is one.
//
//	go run ./internal/plan/insync -f FLEET_DIR -out observed.json
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

func main() {
	dir := flag.String("f", "", "fleet directory (from internal/spec/fleet/fleetgen)")
	out := flag.String("out", "", "snapshot file to write")
	flag.Parse()
	if err := run(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "insync:", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	if dir == "" || out == "" {
		return errors.New("want -f FLEET_DIR -out FILE")
	}
	desired, diags := spec.Load(spec.LoadOptions{Paths: []string{dir}})
	if diags.HasErrors() {
		return diags.Err()
	}
	observed := inSync(desired, time.Now().UTC())
	p, err := plan.Build(desired, observed, plan.Options{})
	if err != nil {
		return err
	}
	if len(p.Changes) > 0 {
		c := p.Changes[0]
		return fmt.Errorf("the snapshot is not in sync: %d changes, the first %s %s (%v); update this generator to what the planner now checks", len(p.Changes), c.Action, c.Resource, c.Reasons)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := plan.WriteObserved(f, observed, nil); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// inSync is what a cluster that matches desired reports: healthy nodes with
// encrypted live migration, every VM managed, annotated with its spec hash
// and its vTPM identity, on its declared node (else the first).
func inSync(desired *spec.Desired, at time.Time) map[string]*drivers.Observed {
	out := map[string]*drivers.Observed{}
	for _, c := range desired.Clusters {
		o := &drivers.Observed{Cluster: c.Name, Driver: c.Driver, ObservedAt: at, VMs: []drivers.VM{}}
		for _, n := range c.Nodes {
			o.Nodes = append(o.Nodes, drivers.Node{Name: n, State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning, MigrationIPsec: c.LiveMigration.Encryption != "none"})
		}
		out[c.Name] = o
	}
	for _, d := range desired.VMs {
		o := out[d.Cluster]
		node := d.Placement.Node
		if node == "" && len(o.Nodes) > 0 {
			node = o.Nodes[0].Name
		}
		sum := sha256.Sum256([]byte(d.Cluster + "/" + d.Name))
		id := hex.EncodeToString(sum[:])
		if !d.VTPM.Enabled {
			id = ""
		}
		o.VMs = append(o.VMs, drivers.VM{
			Name: d.Name, ID: "id-" + d.Name, Node: node, Generation: 2,
			Power: drivers.PowerState(d.Power), Processors: d.Processors, MemoryMB: d.MemoryMB,
			SecurityType: d.SecurityType, SecureBoot: d.SecureBoot.Enabled, SecureBootTemplate: d.SecureBoot.Template,
			TPMEnabled: d.VTPM.Enabled, KeyProtector: d.VTPM.Enabled, EncryptState: d.EncryptStateAndMigrationTraffic,
			VBSOptOut: !d.VBS, FileAccess: drivers.FileAccessHostAdminsOnly, VTPMInitialized: d.VTPM.Enabled && d.Power == spec.PowerRunning,
			VTPMIdentity: id,
			Annotations:  &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: d.Hash(), Protect: d.Protect, VTPMIdentity: id, Node: node},
		})
	}
	return out
}

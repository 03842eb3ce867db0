package plan_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

var (
	t0      = time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	win11   = spec.Image{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", Sku: "win11-22h2-avd", Version: "22621.2428.231001"}
	custom  = spec.Image{Publisher: "contoso", Offer: "hardened", Sku: "win11", Version: "1.0.0"}
	catalog = []spec.CatalogImage{
		{Image: win11, OS: "windows", BuiltIn: true},
		{Image: custom, OS: "windows", Pos: spec.Pos{File: "catalog.yaml", Line: 3, Column: 1}},
	}
)

// desiredOf builds a desired state of one cluster "c1" with three nodes.
func desiredOf(c spec.Cluster, vms ...spec.VM) *spec.Desired {
	return &spec.Desired{Clusters: []spec.Cluster{c}, VMs: vms, Catalog: catalog, Files: []string{"vms.yaml"}}
}

func clusterSpec(mut ...func(*spec.Cluster)) spec.Cluster {
	c := spec.Cluster{
		Name: "c1", Driver: "sim", Nodes: []string{"node1", "node2", "node3"},
		IgvmAgent: "required", VMFileAccess: "hostAdminsOnly",
		LiveMigration: spec.LiveMigration{Encryption: "ipsec"},
	}
	for _, m := range mut {
		m(&c)
	}
	return c
}

func vmSpec(name string, mut ...func(*spec.VM)) spec.VM {
	v := spec.VM{
		Name: name, Cluster: "c1", SecurityType: spec.SecurityTrustedLaunch, Image: win11,
		Processors: 4, MemoryMB: 8192,
		SecureBoot:                      spec.SecureBoot{Enabled: true, Template: spec.TemplateMicrosoftWindows},
		VTPM:                            spec.VTPM{Enabled: true},
		VBS:                             true,
		EncryptStateAndMigrationTraffic: true,
		Power:                           spec.PowerRunning,
		Pos:                             spec.Pos{File: "vms.yaml", Line: 10, Column: 1},
	}
	for _, m := range mut {
		m(&v)
	}
	return v
}

// healthyNodes are Up, with IgvmAgent running and IPsec on.
func healthyNodes() []drivers.Node {
	return []drivers.Node{
		{Name: "node1", State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning, MigrationIPsec: true},
		{Name: "node2", State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning, MigrationIPsec: true},
		{Name: "node3", State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning, MigrationIPsec: true},
	}
}

// synced is the observed VM that matches d on node, managed, identity id.
func synced(d spec.VM, node, id string, mut ...func(*drivers.VM)) drivers.VM {
	o := drivers.VM{
		Name: d.Name, ID: "id-" + d.Name, Node: node, Generation: 2,
		Power: drivers.PowerState(d.Power), Processors: d.Processors, MemoryMB: d.MemoryMB,
		SecurityType: d.SecurityType, SecureBoot: d.SecureBoot.Enabled, SecureBootTemplate: d.SecureBoot.Template,
		TPMEnabled: d.VTPM.Enabled, KeyProtector: d.VTPM.Enabled, EncryptState: d.EncryptStateAndMigrationTraffic,
		VBSOptOut: !d.VBS, FileAccess: drivers.FileAccessHostAdminsOnly, VTPMInitialized: d.VTPM.Enabled && d.Power == spec.PowerRunning,
		VTPMIdentity: id,
		Annotations:  &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: d.Hash(), Protect: d.Protect, VTPMIdentity: id, Node: node},
	}
	if !d.VTPM.Enabled {
		o.VTPMIdentity, o.Annotations.VTPMIdentity = "", ""
	}
	for _, m := range mut {
		m(&o)
	}
	return o
}

func observedOf(nodes []drivers.Node, vms ...drivers.VM) map[string]*drivers.Observed {
	return map[string]*drivers.Observed{"c1": {Cluster: "c1", Driver: "sim", ObservedAt: t0, Nodes: nodes, VMs: vms}}
}

func mustBuild(t *testing.T, d *spec.Desired, o map[string]*drivers.Observed, opts plan.Options) *plan.Plan {
	t.Helper()
	p, err := plan.Build(d, o, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return p
}

// render is a compact, whole-plan string: ordering tests compare it entirely.
func render(p *plan.Plan) string {
	var b strings.Builder
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "%s %s\n", c.Action, c.Resource)
		for _, s := range c.Steps {
			var flags []string
			if s.RequiresPowerOff {
				flags = append(flags, "off")
			}
			if s.Destructive {
				flags = append(flags, "destructive")
			}
			if s.Disruptive {
				flags = append(flags, "disruptive")
			}
			if s.Blocked != nil {
				flags = append(flags, "BLOCKED")
			}
			fmt.Fprintf(&b, "  %s", s.ID)
			if len(s.DependsOn) > 0 {
				fmt.Fprintf(&b, " <- %s", strings.Join(s.DependsOn, ","))
			}
			if len(flags) > 0 {
				fmt.Fprintf(&b, " [%s]", strings.Join(flags, " "))
			}
			b.WriteString("\n")
		}
	}
	for _, f := range p.Findings {
		fmt.Fprintf(&b, "finding %s %s %s\n", f.Severity, f.Rule, f.Resource)
	}
	s := p.Summary
	fmt.Fprintf(&b, "summary create=%d update=%d replace=%d delete=%d noop=%d blocked=%d\n", s.Create, s.Update, s.Replace, s.Delete, s.Noop, s.Blocked)
	return b.String()
}

func findStep(p *plan.Plan, id string) *plan.Step {
	for i := range p.Changes {
		for j := range p.Changes[i].Steps {
			if p.Changes[i].Steps[j].ID == id {
				return &p.Changes[i].Steps[j]
			}
		}
	}
	return nil
}

package view_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/golden"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simCluster has a VM in each state the text table spells differently: an
// initialised vTPM with an identity, a vTPM whose identity is unknown, no
// vTPM, Secure Boot off and a drifted managed-by marker; and a fault of each
// kind, including one that is used up.
func simCluster() view.SimCluster {
	at := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	obs := &drivers.Observed{Cluster: "hci-west", Driver: sim.Name, ObservedAt: at,
		Nodes: []drivers.Node{
			{Name: "node1", State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning, MigrationIPsec: true},
			{Name: "node2", State: drivers.NodeDown, IgvmAgent: drivers.AgentAbsent},
		},
		VMs: []drivers.VM{
			{Name: "avd-01", Node: "node1", Generation: 2, Power: drivers.PowerRunning, Processors: 4, MemoryMB: 8192,
				SecurityType: drivers.SecurityTrustedLaunch, SecureBoot: true, SecureBootTemplate: "MicrosoftWindows",
				TPMEnabled: true, VTPMInitialized: true, KeyProtector: true, EncryptState: true,
				FileAccess: drivers.FileAccessHostAdminsOnly, VTPMIdentity: strings.Repeat("ab", 32),
				Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy}},
			{Name: "avd-02", Node: "node2", Generation: 2, Power: drivers.PowerOff, Processors: 2, MemoryMB: 4096,
				SecurityType: drivers.SecurityTrustedLaunch, TPMEnabled: true, VBSOptOut: true,
				FileAccess: drivers.FileAccessViolation, Annotations: &drivers.Annotations{ManagedBy: "someone-else"}},
			{Name: "old-01", Node: "node1", Generation: 1, Power: drivers.PowerSaved, Processors: 1, MemoryMB: 1024,
				SecurityType: drivers.SecurityStandard, FileAccess: drivers.FileAccessHostAdminsOnly},
		}}
	return view.SimCluster{
		Backend:  sim.BackendReference,
		Observed: obs,
		Faults: []sim.Fault{
			{Op: sim.AnyOp, Latency: 20 * time.Millisecond},
			{Op: drivers.OpStartVM, Fail: 2, Latency: 5 * time.Millisecond},
			{Op: drivers.OpSetSecureBoot, FailAlways: true},
			{Op: drivers.OpStopVM},
		},
		Ref: drivers.ClusterRef{Name: "hci-west", Driver: sim.Name, Nodes: []string{"node1", "node2"}, Options: map[string]any{"vtpmBackend": sim.BackendReference}},
	}
}

func TestSimShowGolden(t *testing.T) {
	for _, tt := range []struct{ format, golden string }{
		{view.FormatText, "sim-show.txt.golden"},
		{view.FormatJSON, "sim-show.json.golden"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			var b bytes.Buffer
			if err := view.SimShow(&b, tt.format, simCluster()); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tt.golden), b.Bytes())
		})
	}
}

func TestSimShowEmpty(t *testing.T) {
	c := view.SimCluster{Backend: sim.BackendSwtpm, Observed: &drivers.Observed{Cluster: "lab", Nodes: []drivers.Node{{Name: "n1", State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning}}}}
	t.Run("text has no fault block", func(t *testing.T) {
		var b bytes.Buffer
		if err := view.SimShow(&b, view.FormatText, c); err != nil {
			t.Fatal(err)
		}
		want := "cluster/lab (sim, vTPM backend swtpm)\n\nNODE  STATE  IGVMAGENT  MIGRATION-IPSEC\nn1    Up     running    off\n\nno VMs\n"
		if b.String() != want {
			t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
		}
	})
	t.Run("json faults are [] not null", func(t *testing.T) {
		var b bytes.Buffer
		if err := view.SimShow(&b, view.FormatJSON, c); err != nil {
			t.Fatal(err)
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if got := string(doc["faults"]); got != "[]" {
			t.Errorf("faults = %s, want []", got)
		}
	})
	if err := view.SimShow(&bytes.Buffer{}, "yaml", c); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("unknown format: err = %v", err)
	}
}

func TestSimChangeLines(t *testing.T) {
	tests := []struct {
		name   string
		render func(*bytes.Buffer) error
		want   string
	}{
		{"change", func(b *bytes.Buffer) error {
			return view.SimChanged(b, view.SimChange{Resource: "vm/avd-01", Summary: "drifted secureBoot=false"})
		}, "vm/avd-01: drifted secureBoot=false\n"},
		{"init created", func(b *bytes.Buffer) error {
			return view.SimInitialised(b, view.SimInit{Cluster: "hci-west", Nodes: []string{"node1", "node2"}, Created: true})
		}, "cluster/hci-west: created (nodes node1, node2)\n"},
		{"init existing", func(b *bytes.Buffer) error {
			return view.SimInitialised(b, view.SimInit{Cluster: "lab", Nodes: []string{"n1"}})
		}, "cluster/lab: exists already (nodes n1)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.render(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}

package view_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/golden"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

func TestShowGolden(t *testing.T) {
	p := scenario(t)
	obs := map[string]*drivers.Observed{
		"hci-west": {Cluster: "hci-west", Driver: "sim", ObservedAt: observedAt,
			Nodes: []drivers.Node{
				{Name: "node1", State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning, MigrationIPsec: true},
				{Name: "node2", State: drivers.NodeDown, IgvmAgent: drivers.AgentAbsent},
			},
			VMs: []drivers.VM{
				synced(vmSpec("hci-west", "avd-01", func(v *spec.VM) { v.Protect = true }), "node1", idA),
				synced(vmSpec("hci-west", "avd-02"), "node1", "", func(o *drivers.VM) { o.Annotations = nil; o.SecureBoot = false; o.Power = drivers.PowerOff }),
			}},
		"hci-east": {Cluster: "hci-east", Driver: "sim", ObservedAt: observedAt, Nodes: []drivers.Node{{Name: "e1", State: drivers.NodeUp, IgvmAgent: drivers.AgentStopped}}},
	}
	for _, tt := range []struct{ format, golden string }{{"text", "show.txt.golden"}, {"json", "show.json.golden"}} {
		t.Run(tt.format, func(t *testing.T) {
			var b bytes.Buffer
			if err := view.Show(&b, tt.format, obs, p.Findings[:3]); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tt.golden), b.Bytes())
		})
	}
	t.Run("json reads back as a snapshot", func(t *testing.T) {
		var b bytes.Buffer
		if err := view.Show(&b, "json", obs, nil); err != nil {
			t.Fatal(err)
		}
		back, at, err := plan.ReadObserved(&b)
		if err != nil {
			t.Fatal(err)
		}
		if !at.Equal(observedAt) || len(back) != 2 || len(back["hci-west"].VMs) != 2 {
			t.Errorf("snapshot round trip: at %v, %d clusters", at, len(back))
		}
	})
	if err := view.Show(&bytes.Buffer{}, "markdown", obs, nil); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("unknown format: err = %v", err)
	}
}

// TestShowAttestations: VMs with a recorded attestation get a table of its
// result, time, node, Secure Boot and boot digests; none, no table.
func TestShowAttestations(t *testing.T) {
	on := true
	obs := map[string]*drivers.Observed{"c1": {Cluster: "c1", Driver: "azurelocal", ObservedAt: observedAt,
		VMs: []drivers.VM{
			{Name: "tl-01", Attestation: &drivers.Attested{Time: observedAt, Result: drivers.AttestVerified, Node: "node1", SecureBoot: &on, Boot: "ed031ef2e96b", Baseline: "f51b6df69b09"}},
			{Name: "tl-02", Attestation: &drivers.Attested{Time: observedAt, Result: drivers.AttestUnavailable, Problem: "no-agent"}},
			{Name: "plain"},
		}}}
	var b bytes.Buffer
	if err := view.Show(&b, "text", obs, nil); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "show-attestations.txt.golden"), b.Bytes())
}

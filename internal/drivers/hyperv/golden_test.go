package hyperv_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/golden"
)

func goldenRef() drivers.ClusterRef {
	return drivers.ClusterRef{
		Name: "hci-west", Driver: hyperv.Name, Nodes: []string{"node1", "node2"},
		Options: map[string]any{
			"imageStore": map[string]any{"microsoftwindowsdesktop/windows-11/win11-22h2-avd/22621.2428.231001": `C:\ClusterStorage\Images\w11.vhdx`},
			"vmPath":     `C:\ClusterStorage\Volume1\VMs`,
		},
	}
}

// sampleOps is one representative op per kind.
func sampleOps() []drivers.Op {
	ann := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "sha256:0f1e", Protect: true, VTPMIdentity: "ab12", Node: "node1"}
	vm := func(k drivers.OpKind, p *drivers.Params) drivers.Op {
		return drivers.Op{Kind: k, Cluster: "hci-west", VM: "avd-01", Params: p}
	}
	return []drivers.Op{
		vm(drivers.OpCreateVM, &drivers.Params{Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, Processors: 4, MemoryMB: 8192, TargetNode: "node2",
			Image:       &drivers.Image{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", Sku: "win11-22h2-avd", Version: "22621.2428.231001"},
			Annotations: ann}),
		vm(drivers.OpDeleteVM, nil),
		vm(drivers.OpStopVM, nil),
		vm(drivers.OpStartVM, nil),
		vm(drivers.OpSetSecureBoot, &drivers.Params{SecureBoot: drivers.Bool(true), SecureBootTemplate: "MicrosoftWindows"}),
		vm(drivers.OpEnsureKeyProtector, &drivers.Params{Reset: true}),
		vm(drivers.OpEnableTPM, nil),
		vm(drivers.OpDisableTPM, nil),
		vm(drivers.OpSetSecurity, &drivers.Params{EncryptState: drivers.Bool(true), VBSOptOut: drivers.Bool(false)}),
		vm(drivers.OpSetProcessor, &drivers.Params{Processors: 8}),
		vm(drivers.OpSetMemory, &drivers.Params{MemoryMB: 16384}),
		vm(drivers.OpMoveVM, &drivers.Params{TargetNode: "node2", MigrationType: "Live"}),
		vm(drivers.OpSetAnnotations, &drivers.Params{Annotations: ann}),
		{Kind: drivers.OpStartIgvmAgent, Cluster: "hci-west", Node: "node1"},
		vm(drivers.OpRestrictFileAccess, nil),
		{Kind: drivers.OpEnableMigrationIPsec, Cluster: "hci-west", Node: "node2"},
	}
}

// TestRequestGolden pins the JSON parameters each op sends (go test -run Golden -update).
func TestRequestGolden(t *testing.T) {
	ref := goldenRef()
	o, err := hyperv.ParseOptions(ref)
	if err != nil {
		t.Fatal(err)
	}
	ops := sampleOps()
	if len(ops) != len(drivers.AllOps) {
		t.Fatalf("sampleOps has %d ops, want one per kind (%d)", len(ops), len(drivers.AllOps))
	}
	for _, op := range ops {
		t.Run(string(op.Kind), func(t *testing.T) {
			script, p, err := hyperv.BuildRequest(ref, o, op, "owner: finance\n")
			if err != nil {
				t.Fatal(err)
			}
			body, err := json.MarshalIndent(struct {
				Script string          `json:"script"`
				Params *hyperv.Payload `json:"params"`
			}{script, p}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			body = append(body, '\n')
			golden.Check(t, filepath.Join("testdata", "payloads", string(op.Kind)+".json"), body)
		})
	}
}

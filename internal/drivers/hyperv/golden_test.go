package hyperv_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/guestattest"
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
		vm(drivers.OpAttest, &drivers.Params{TargetNode: "node1"}),
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
	if len(ops) != len(drivers.ClassicHyperV().Ops) {
		t.Fatalf("sampleOps has %d ops, want one per op of the classic profile (%d)", len(ops), len(drivers.ClassicHyperV().Ops))
	}
	for _, op := range ops {
		t.Run(string(op.Kind), func(t *testing.T) {
			script, p, err := hyperv.BuildRequest(ref, o, op, "owner: finance\n")
			if op.Kind == drivers.OpAttest {
				// The attest op's requests carry the agent's command of the moment (a fresh
				// nonce, then the credential challenge) and the password read for each.
				gc := &hyperv.Options{GuestAgentPath: hyperv.DefaultGuestAgentPath, GuestCredential: &hyperv.GuestCredential{User: `CONTOSO\svc-attest`}}
				script, err = hyperv.ScriptAttest, nil
				p = hyperv.AttestRequest(gc, op.VM, "(read from TLR_GUEST_PASSWORD)", guestattest.AttestArgs(make([]byte, 32)))
			}
			if err != nil {
				t.Fatal(err)
			}
			doc := struct {
				Script string          `json:"script"`
				Params *hyperv.Payload `json:"params"`
				// SecretLine is what the line after the request carries (attest.ps1 reads it).
				SecretLine string `json:"secretLine,omitempty"`
			}{Script: script, Params: p}
			if s, ok := p.SecretLine(); ok {
				doc.SecretLine = s
			}
			body, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			body = append(body, '\n')
			golden.Check(t, filepath.Join("testdata", "payloads", string(op.Kind)+".json"), body)
		})
	}
}

// TestBuildRequestRefuses pins what BuildRequest refuses before anything is sent, and with
// which sentinel.
func TestBuildRequestRefuses(t *testing.T) {
	ref := goldenRef()
	o, err := hyperv.ParseOptions(ref)
	if err != nil {
		t.Fatal(err)
	}
	op := func(k drivers.OpKind, vm string, p *drivers.Params) drivers.Op {
		return drivers.Op{Kind: k, Cluster: ref.Name, VM: vm, Params: p}
	}
	tests := []struct {
		name string
		op   drivers.Op
		want error
		msg  string
	}{
		{"unknown op", op("reboot-host", "avd-01", nil), drivers.ErrNotSupported, `op "reboot-host"`},
		{"create: name with a slash", op(drivers.OpCreateVM, "a/b", nil), drivers.ErrPrecondition, `VM name "a/b"`},
		{"create: name with a trailing dot", op(drivers.OpCreateVM, "a.", nil), drivers.ErrPrecondition, `VM name "a."`},
		{"create: unknown target node", op(drivers.OpCreateVM, "a", &drivers.Params{TargetNode: "node9"}), drivers.ErrNotFound, "node/node9: "},
		{"create: generation 3", op(drivers.OpCreateVM, "a", &drivers.Params{Generation: 3}), drivers.ErrInvalidArgument, "generation 3"},
		{"create: unknown security type", op(drivers.OpCreateVM, "a", &drivers.Params{SecurityType: "Shielded"}), drivers.ErrInvalidArgument, `security type "Shielded"`},
		{"create: trusted launch on generation 1", op(drivers.OpCreateVM, "a", &drivers.Params{Generation: 1}), drivers.ErrPrecondition, "Generation 2"},
		{"create: image not in the store", op(drivers.OpCreateVM, "a", &drivers.Params{Image: &drivers.Image{Publisher: "p", Offer: "o", Sku: "s", Version: "v"}}), drivers.ErrPrecondition, "image p/o/s/v"},
		{"set-secure-boot: nothing to set", op(drivers.OpSetSecureBoot, "a", nil), drivers.ErrInvalidArgument, "set-secure-boot needs"},
		{"set-secure-boot: unknown template", op(drivers.OpSetSecureBoot, "a", &drivers.Params{SecureBootTemplate: "Mine"}), drivers.ErrInvalidArgument, `template "Mine"`},
		{"set-security: nothing to set", op(drivers.OpSetSecurity, "a", &drivers.Params{}), drivers.ErrInvalidArgument, "set-security needs"},
		{"set-processor: zero", op(drivers.OpSetProcessor, "a", nil), drivers.ErrInvalidArgument, "set-processor needs"},
		{"set-memory: zero", op(drivers.OpSetMemory, "a", nil), drivers.ErrInvalidArgument, "set-memory needs"},
		{"move-vm: no target", op(drivers.OpMoveVM, "a", nil), drivers.ErrNotFound, "move-vm needs params.target_node"},
		{"move-vm: unknown migration type", op(drivers.OpMoveVM, "a", &drivers.Params{TargetNode: "NODE2", MigrationType: "Teleport"}), drivers.ErrInvalidArgument, `migration type "Teleport"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			script, p, err := hyperv.BuildRequest(ref, o, tc.op, "")
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("BuildRequest = %q, %+v, %v; want an error wrapping %v that says %q", script, p, err, tc.want, tc.msg)
			}
		})
	}
}

package hyperv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// hostile are values that would break out of a PowerShell string or command line if any
// script spliced them into its text.
var hostile = map[string]string{
	"single quote":    `it's'; Stop-Computer -Force; '`,
	"double quote":    `say "hi" "; Remove-Item -Recurse C:\ ; "`,
	"subexpression":   `$(Remove-Item -Recurse -Force C:\)`,
	"backticks":       "back`tick`n`0 `$env:PATH",
	"semicolon":       `a; Stop-Computer -Force`,
	"pipe":            `x | Out-File C:\pwn.txt`,
	"newlines":        "line1\nline2\r\nStop-Computer\r",
	"stop parsing":    `--% /c calc.exe & whoami`,
	"unicode quotes":  "‘smart’ “double” „low“ ‚single‛ ＂fullwidth＂",
	"frame markers":   "<<<TLR-END x>>>\nTLR1 exit\n<<<TLR-READY 1>>>",
	"notes markers":   hyperv.NotesEnd + "\n" + hyperv.NotesBegin,
	"1000 characters": strings.Repeat("a'$()`;|\"", 112)[:1000],
}

type recorder struct {
	mu   sync.Mutex
	reqs []psnode.Request
}

func (r *recorder) record(req psnode.Request) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
}

// echoHandler answers like a host that owns one VM named vm on node1 and does what it is asked.
func echoHandler(vm, notes string) func(node string) hypervfake.Handler {
	return func(node string) hypervfake.Handler {
		return func(_ context.Context, script string, p *hyperv.Payload) (any, *psnode.ScriptError) {
			t := true
			switch script {
			case hyperv.ScriptObserve:
				r := hyperv.NodeReport{ComputerName: node}
				if node == "node1" {
					state := "Off"
					r.VMs = []hyperv.VMReport{{Name: vm, VMId: "6f1c1f6e-0d1e-4b8e-9c39-3b5b3a1f2e01", Generation: 2, State: hyperv.FlexString(state), Notes: notes}}
				}
				return r, nil
			case hyperv.ScriptFindVM:
				owner := "node1"
				return hyperv.FindResult{OwnerNode: &owner}, nil
			case hyperv.ScriptNodeStatus:
				running := "Running"
				return hyperv.NodeStatus{ComputerName: node, IgvmAgent: &running}, nil
			case string(drivers.OpSetAnnotations):
				if *p.Expected != notes { // compare-and-swap, as set-annotations.ps1 does
					f, current := false, notes
					return hyperv.OpResult{Applied: &f, Current: &current}, nil
				}
			}
			return hyperv.OpResult{Changed: true, Applied: &t, Current: p.Notes, Message: "done"}, nil
		}
	}
}

// TestInjection sends every op with hostile names, paths and notes and checks that the
// script text on the wire is the embedded file byte for byte and the values arrive intact.
func TestInjection(t *testing.T) {
	for label, s := range hostile {
		t.Run(label, func(t *testing.T) {
			rec := &recorder{}
			adminNotes := "admin: " + s
			t.Setenv("TLR_TEST_GUEST_PASSWORD", s)
			ref := drivers.ClusterRef{Name: "c", Driver: hyperv.Name, Nodes: []string{"node1", "node2"}, Options: map[string]any{
				"imageStore":      map[string]any{"p/o/s/v": `C:\images\` + s},
				"vmPath":          `C:\ClusterStorage\` + s, // a clustered create needs a CSV path
				"guestCredential": map[string]any{"user": s, "password": map[string]any{"fromEnv": "TLR_TEST_GUEST_PASSWORD"}},
				"guestAgentPath":  `C:\agent\` + s,
			}}
			tr := hypervfake.NewTransport(ref.Nodes, echoHandler(s, adminNotes), hypervfake.ServeOptions{OnRequest: rec.record, Noise: true}, nil)
			d, err := hyperv.New(drivers.Config{}, hyperv.WithTransport(func(drivers.ClusterRef, *hyperv.Options) (hyperv.Transport, error) { return tr, nil }))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctx := t.Context()
			obs, err := d.Observe(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(obs.VMs) != 1 || obs.VMs[0].Name != s {
				t.Fatalf("observed VMs %+v, want one named %q", obs.VMs, s)
			}
			ann := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: s, Node: s}
			for _, op := range sampleOps() {
				op.Cluster = "c"
				if op.VM != "" {
					op.VM = s
				}
				if op.Node != "" {
					op.Node = "node1"
				}
				if op.Params != nil {
					p := *op.Params
					if p.TargetNode != "" {
						p.TargetNode = "node2"
					}
					if p.Annotations != nil {
						p.Annotations = ann
					}
					if p.Image != nil {
						p.Image = &drivers.Image{Publisher: "p", Offer: "o", Sku: "s", Version: "v"}
					}
					op.Params = &p
				}
				if op.Kind == drivers.OpCreateVM {
					// A hostile name is refused before anything is sent: it cannot be a folder.
					if _, err := d.Apply(ctx, ref, op); err == nil && strings.ContainsAny(s, "\"|\n") {
						t.Errorf("create-vm accepted the VM name %q", s)
					}
					op.VM = "new-vm"
				}
				if _, err := d.Apply(ctx, ref, op); err != nil {
					// This host's set-annotations always answers with the admin-only Notes, so
					// the attest op, which writes only into an existing block, stops there.
					if op.Kind == drivers.OpAttest && errors.Is(err, drivers.ErrPrecondition) {
						continue
					}
					t.Fatalf("%s: %v", op.Kind, err)
				}
			}
			checkRequests(t, rec, s, adminNotes)
		})
	}
}

func checkRequests(t *testing.T, rec *recorder, s, adminNotes string) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	seen := map[string]bool{}
	annotated := false
	for _, req := range rec.reqs {
		name, ok := hyperv.Scripts().Identify(req.Script)
		if !ok {
			t.Fatalf("request %s carries a script that is not an embedded file:\n%s", req.ID, req.Script)
		}
		if want, _ := hyperv.Scripts().Text(name); !bytes.Equal(req.Script, want) {
			t.Fatalf("%s: script text on the wire differs from the embedded file", name)
		}
		seen[name] = true
		var p hyperv.Payload
		if err := json.Unmarshal(req.Params, &p); err != nil {
			t.Fatalf("%s: parameters: %v", name, err)
		}
		switch name {
		case hyperv.ScriptObserve, hyperv.ScriptNodeStatus, string(drivers.OpStartIgvmAgent), string(drivers.OpEnableMigrationIPsec):
		case string(drivers.OpCreateVM):
			if p.Name != "new-vm" || p.VMRoot != `C:\ClusterStorage\`+s || p.SourceVHDX != `C:\images\`+s {
				t.Errorf("create-vm: name %q, vmRoot %q, sourceVhdx %q; want the values unchanged", p.Name, p.VMRoot, p.SourceVHDX)
			}
			if a, _, ok := hyperv.ParseNotes(*p.Notes); !ok || a.SpecHash != s {
				t.Errorf("create-vm: notes %q do not carry the annotations", *p.Notes)
			}
		case string(drivers.OpSetAnnotations):
			a, admin, ok := hyperv.ParseNotes(*p.Notes)
			if !ok || a.SpecHash != s || a.Node != s {
				t.Errorf("set-annotations: notes %q do not round-trip the annotations", *p.Notes)
			}
			if *p.Expected == adminNotes {
				annotated = true
				if admin != adminNotes {
					t.Errorf("set-annotations: admin text %q, want %q kept", admin, adminNotes)
				}
			}
		case hyperv.ScriptAttest:
			if req.Secret == nil || strings.Contains(string(req.Params), "guestPassword") {
				t.Fatalf("attest: the password is in the parameters (%s) or not on the line after them", req.Params)
			}
			p.GuestPassword = hyperv.Secret(*req.Secret)
			if p.VM != s || p.GuestUser != s || string(p.GuestPassword) != s || p.AgentPath != `C:\agent\`+s || len(p.AgentArgs) == 0 {
				t.Errorf("attest: vm %q, user %q, agent %q, args %q; want the values unchanged", p.VM, p.GuestUser, p.AgentPath, p.AgentArgs)
			}
		default:
			if p.VM != s {
				t.Errorf("%s: vm %q, want %q", name, p.VM, s)
			}
		}
	}
	if !annotated {
		t.Error("no set-annotations request compared against the VM's real Notes")
	}
	for _, k := range drivers.ClassicHyperV().Ops {
		if !seen[string(k)] {
			t.Errorf("no %s request was sent", k)
		}
	}
}

// TestSettingThatDidNotTake: when a script's read-back shows the change did not happen (the
// known "Secure Boot change silently not applied to a running VM"), Apply fails loudly with
// ErrNotApplied, names the VM and op first, and is not retried as transient.
func TestSettingThatDidNotTake(t *testing.T) {
	handler := func(node string) hypervfake.Handler {
		base := echoHandler("vm1", "")(node)
		return func(ctx context.Context, script string, p *hyperv.Payload) (any, *psnode.ScriptError) {
			if script == string(drivers.OpSetSecureBoot) {
				return nil, &psnode.ScriptError{Category: psnode.CategoryNotApplied, Message: "vm/vm1: Set-VMFirmware returned but Secure Boot is Off with template MicrosoftWindows"}
			}
			return base(ctx, script, p)
		}
	}
	ref := drivers.ClusterRef{Name: "c", Driver: hyperv.Name, Nodes: []string{"node1", "node2"}}
	tr := hypervfake.NewTransport(ref.Nodes, handler, hypervfake.ServeOptions{}, nil)
	d, err := hyperv.New(drivers.Config{}, hyperv.WithTransport(func(drivers.ClusterRef, *hyperv.Options) (hyperv.Transport, error) { return tr, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Observe(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	_, err = d.Apply(t.Context(), ref, drivers.Op{Kind: drivers.OpSetSecureBoot, Cluster: "c", VM: "vm1", Params: &drivers.Params{SecureBoot: drivers.Bool(true)}})
	if !errors.Is(err, psnode.ErrNotApplied) || drivers.IsTransient(err) || !strings.HasPrefix(err.Error(), "vm/vm1: set-secure-boot: ") {
		t.Fatalf("error %v, want a non-transient ErrNotApplied starting with vm/vm1: set-secure-boot:", err)
	}
}

package plan_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

const id1 = "1111111111111111111111111111111111111111111111111111111111111111"
const id2 = "2222222222222222222222222222222222222222222222222222222222222222"
const id3 = "3333333333333333333333333333333333333333333333333333333333333333"

func TestBuildOrdering(t *testing.T) {
	off := func(v *spec.VM) { v.Power = spec.PowerOff }
	tests := []struct {
		name string
		d    *spec.Desired
		o    map[string]*drivers.Observed
		opts plan.Options
		want string
	}{
		{
			name: "in sync is a noop",
			d:    desiredOf(clusterSpec(), vmSpec("a")),
			o:    observedOf(healthyNodes(), synced(vmSpec("a"), "node1", id1)),
			want: "summary create=0 update=0 replace=0 delete=0 noop=1 blocked=0\n",
		},
		{
			name: "stopped VM with only a Secure Boot change gets no stop or start",
			d:    desiredOf(clusterSpec(), vmSpec("a", off)),
			o: observedOf(healthyNodes(), synced(vmSpec("a", off), "node1", id1, func(o *drivers.VM) {
				o.SecureBoot = false
			})),
			want: `update vm/a
  vm/a/set-secure-boot [off]
  vm/a/set-annotations <- vm/a/set-secure-boot
summary create=0 update=1 replace=0 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "running VM gets one stop and one start around all its Off-only changes",
			d:    desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) { v.VBS = false })),
			o: observedOf(healthyNodes(), synced(vmSpec("a"), "node1", id1, func(o *drivers.VM) {
				o.SecureBoot = false
				o.Processors = 2
				o.MemoryMB = 4096
				o.Annotations.SpecHash = "old"
			})),
			want: `update vm/a
  vm/a/stop-vm [disruptive]
  vm/a/set-secure-boot <- vm/a/stop-vm [off]
  vm/a/set-security <- vm/a/set-secure-boot [off]
  vm/a/set-processor <- vm/a/set-security [off]
  vm/a/set-memory <- vm/a/set-processor [off]
  vm/a/start-vm <- vm/a/set-memory [disruptive]
  vm/a/set-annotations <- vm/a/start-vm
summary create=0 update=1 replace=0 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "encrypt-state alone needs no stop",
			d:    desiredOf(clusterSpec(), vmSpec("a")),
			o: observedOf(healthyNodes(), synced(vmSpec("a"), "node1", id1, func(o *drivers.VM) {
				o.EncryptState = false
			})),
			want: `update vm/a
  vm/a/set-security
  vm/a/set-annotations <- vm/a/set-security
summary create=0 update=1 replace=0 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "create runs the full sequence after the agent it needs",
			d:    desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) { v.Placement.Node = "node2" })),
			o: observedOf(func() []drivers.Node {
				n := healthyNodes()
				n[1].IgvmAgent = drivers.AgentStopped
				return n
			}()),
			want: `update node/node2
  node/node2/start-igvm-agent
create vm/a
  vm/a/create-vm <- node/node2/start-igvm-agent
  vm/a/set-secure-boot <- vm/a/create-vm [off]
  vm/a/ensure-key-protector <- vm/a/set-secure-boot [off]
  vm/a/enable-tpm <- vm/a/ensure-key-protector [off]
  vm/a/set-security <- vm/a/enable-tpm [off]
  vm/a/start-vm <- vm/a/set-security
  vm/a/set-annotations <- vm/a/start-vm
summary create=1 update=1 replace=0 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "generation 1 is replaced: stop, delete, create sequence",
			d:    desiredOf(clusterSpec(), vmSpec("a", off)),
			o: observedOf(healthyNodes(), synced(vmSpec("a"), "node1", id1, func(o *drivers.VM) {
				o.Generation = 1
			})),
			want: `replace vm/a
  vm/a/stop-vm [disruptive]
  vm/a/delete-vm <- vm/a/stop-vm [destructive]
  vm/a/create-vm <- vm/a/delete-vm
  vm/a/set-secure-boot <- vm/a/create-vm [off]
  vm/a/ensure-key-protector <- vm/a/set-secure-boot [off]
  vm/a/enable-tpm <- vm/a/ensure-key-protector [off]
  vm/a/set-security <- vm/a/enable-tpm [off]
  vm/a/set-annotations <- vm/a/set-security
summary create=0 update=0 replace=1 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "template change after vTPM init is a guarded vTPM reset before the template",
			d:    desiredOf(clusterSpec(), vmSpec("a")),
			o: observedOf(healthyNodes(), synced(vmSpec("a"), "node1", id1, func(o *drivers.VM) {
				o.SecureBootTemplate = spec.TemplateMicrosoftUEFICA
			})),
			want: `update vm/a
  vm/a/stop-vm [disruptive]
  vm/a/ensure-key-protector <- vm/a/stop-vm [off destructive]
  vm/a/set-secure-boot <- vm/a/ensure-key-protector [off]
  vm/a/start-vm <- vm/a/set-secure-boot [disruptive]
  vm/a/set-annotations <- vm/a/start-vm
summary create=0 update=1 replace=0 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "running VM moves live after the IPsec it needs",
			d:    desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) { v.Placement.Node = "node2" })),
			o: observedOf(func() []drivers.Node {
				n := healthyNodes()
				n[0].MigrationIPsec = false
				return n
			}(), synced(vmSpec("a"), "node1", id1)),
			want: `update node/node1
  node/node1/enable-migration-ipsec
update vm/a
  vm/a/move-vm <- node/node1/enable-migration-ipsec
  vm/a/set-annotations <- vm/a/move-vm
summary create=0 update=2 replace=0 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "saved VM resumes without a stop; paused VM with Off-only changes is stopped once",
			d:    desiredOf(clusterSpec(), vmSpec("a"), vmSpec("b")),
			o: observedOf(healthyNodes(),
				synced(vmSpec("a"), "node1", id1, func(o *drivers.VM) { o.Power = drivers.PowerSaved }),
				synced(vmSpec("b"), "node1", id2, func(o *drivers.VM) { o.Power = drivers.PowerPaused; o.Processors = 1 })),
			want: `update vm/a
  vm/a/start-vm
  vm/a/set-annotations <- vm/a/start-vm
update vm/b
  vm/b/stop-vm [disruptive]
  vm/b/set-processor <- vm/b/stop-vm [off]
  vm/b/start-vm <- vm/b/set-processor
  vm/b/set-annotations <- vm/b/start-vm
summary create=0 update=2 replace=0 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "prune deletes managed VMs only, stopping them first",
			d:    desiredOf(clusterSpec()),
			o: observedOf(healthyNodes(),
				synced(vmSpec("gone"), "node1", id1),
				synced(vmSpec("theirs"), "node2", id2, func(o *drivers.VM) { o.Annotations = nil })),
			opts: plan.Options{Prune: true},
			want: `delete vm/gone
  vm/gone/stop-vm [disruptive]
  vm/gone/delete-vm <- vm/gone/stop-vm [destructive]
finding info unmanaged-vm vm/theirs
summary create=0 update=0 replace=0 delete=1 noop=0 blocked=0
`,
		},
		{
			name: "without prune a managed undeclared VM is only a finding",
			d:    desiredOf(clusterSpec()),
			o:    observedOf(healthyNodes(), synced(vmSpec("gone"), "node1", id1)),
			want: `finding warning managed-vm-not-declared vm/gone
summary create=0 update=0 replace=0 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "disable vTPM on a protected VM is blocked and so is the stop",
			d: desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) {
				v.VTPM.Enabled = false
				v.EncryptStateAndMigrationTraffic = false
				v.Protect = true
			})),
			o: observedOf(healthyNodes(), synced(vmSpec("a", func(v *spec.VM) { v.Protect = true }), "node1", id1)),
			want: `update vm/a
  vm/a/stop-vm [disruptive BLOCKED]
  vm/a/disable-tpm <- vm/a/stop-vm [off destructive BLOCKED]
  vm/a/set-security <- vm/a/disable-tpm [BLOCKED]
  vm/a/start-vm <- vm/a/set-security [disruptive BLOCKED]
  vm/a/set-annotations <- vm/a/start-vm [BLOCKED]
summary create=0 update=1 replace=0 delete=0 noop=0 blocked=1
`,
		},
		{
			name: "protect recorded on the VM alone: this plan only releases it, the replace comes next",
			d:    desiredOf(clusterSpec(), vmSpec("a")),
			o: observedOf(healthyNodes(), synced(vmSpec("a"), "node1", id1, func(o *drivers.VM) {
				o.SecurityType = spec.SecurityStandard
				o.Annotations.Protect = true
			})),
			want: `update vm/a
  vm/a/set-annotations
finding warning protect-released vm/a
summary create=0 update=1 replace=0 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "start on a node without IgvmAgent is blocked with a finding",
			d:    desiredOf(clusterSpec(), vmSpec("a")),
			o: observedOf(func() []drivers.Node {
				n := healthyNodes()
				n[0].IgvmAgent = drivers.AgentAbsent
				return n
			}(), synced(vmSpec("a"), "node1", "", func(o *drivers.VM) { o.Power = drivers.PowerOff; o.Annotations.VTPMIdentity = id1 })),
			want: `update vm/a
  vm/a/start-vm [BLOCKED]
  vm/a/set-annotations <- vm/a/start-vm [BLOCKED]
finding warning igvm-agent-absent node/node1
summary create=0 update=1 replace=0 delete=0 noop=0 blocked=1
`,
		},
		{
			name: "igvmAgent ignore: no start, the create picks a node whose agent runs",
			d:    desiredOf(clusterSpec(func(c *spec.Cluster) { c.IgvmAgent = "ignore" }), vmSpec("a", off)),
			o: observedOf(func() []drivers.Node {
				n := healthyNodes()
				n[0].IgvmAgent = drivers.AgentStopped
				return n
			}()),
			want: `create vm/a
  vm/a/create-vm
  vm/a/set-secure-boot <- vm/a/create-vm [off]
  vm/a/ensure-key-protector <- vm/a/set-secure-boot [off]
  vm/a/enable-tpm <- vm/a/ensure-key-protector [off]
  vm/a/set-security <- vm/a/enable-tpm [off]
  vm/a/set-annotations <- vm/a/set-security
finding warning igvm-agent-not-running node/node1
summary create=1 update=0 replace=0 delete=0 noop=0 blocked=0
`,
		},
		{
			name: "file access and encryption none: restrict first, warn about migration",
			d:    desiredOf(clusterSpec(func(c *spec.Cluster) { c.LiveMigration.Encryption = "none" }), vmSpec("a"), vmSpec("b", func(v *spec.VM) { v.Image = custom })),
			o: observedOf(func() []drivers.Node {
				n := healthyNodes()
				for i := range n {
					n[i].MigrationIPsec = false
				}
				return n
			}(), synced(vmSpec("a"), "node1", id1, func(o *drivers.VM) { o.FileAccess = drivers.FileAccessViolation }),
				synced(vmSpec("b", func(v *spec.VM) { v.Image = custom }), "node2", id2)),
			want: `update vm/a
  vm/a/restrict-file-access
  vm/a/set-annotations <- vm/a/restrict-file-access
finding warning live-migration-unencrypted cluster/c1
finding warning image-outside-builtin-catalog vm/b
summary create=0 update=1 replace=0 delete=0 noop=1 blocked=0
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustBuild(t, tt.d, tt.o, tt.opts)
			if got := render(p); got != tt.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestVTPMIdentity(t *testing.T) {
	tests := []struct {
		name        string
		obs         func(o *drivers.VM)
		accepted    bool              // AcceptedIdentityChanges holds c1/a (journal or operator: any identity)
		acceptedIDs map[string]string // AcceptedIdentities (journal: only the identity read after the step)
		wantRules   []string
		wantAnnID   string // identity set-annotations records; "-" = no set-annotations step
		wantAnnNode string
		wantMessage string // a substring of the one finding's message, when set
	}{
		{name: "same identity, same node", obs: func(o *drivers.VM) {}, wantAnnID: "-"},
		{
			name:      "different identity is vTPM state lost and is not overwritten",
			obs:       func(o *drivers.VM) { o.VTPMIdentity = id2; o.Processors = 2 },
			wantRules: []string{plan.RuleVTPMStateLost}, wantAnnID: id1, wantAnnNode: "node1",
		},
		{
			name:     "different identity accepted by apply's journal is recorded",
			obs:      func(o *drivers.VM) { o.VTPMIdentity = id2 },
			accepted: true, wantAnnID: id2, wantAnnNode: "node1",
		},
		{
			name:     "the identity apply's journal read after the step is recorded",
			obs:      func(o *drivers.VM) { o.VTPMIdentity = id2 },
			accepted: true, acceptedIDs: map[string]string{"vm/c1/a": id2}, wantAnnID: id2, wantAnnNode: "node1",
		},
		{
			name:        "the journaled identity alone is enough",
			obs:         func(o *drivers.VM) { o.VTPMIdentity = id2 },
			acceptedIDs: map[string]string{"vm/c1/a": id2}, wantAnnID: id2, wantAnnNode: "node1",
		},
		{
			name:     "an identity other than the journaled one is lost although the key is accepted",
			obs:      func(o *drivers.VM) { o.VTPMIdentity = id3 },
			accepted: true, acceptedIDs: map[string]string{"vm/c1/a": id2},
			wantRules: []string{plan.RuleVTPMStateLost}, wantAnnID: "-",
		},
		{
			name:     "moved by the cluster and not the journaled identity is lost",
			obs:      func(o *drivers.VM) { o.Node = "node3"; o.VTPMIdentity = id3 },
			accepted: true, acceptedIDs: map[string]string{"vm/c1/a": id2},
			wantRules: []string{plan.RuleVTPMStateLost}, wantAnnID: id1, wantAnnNode: "node3",
		},
		{
			name:     "an empty journaled identity narrows nothing",
			obs:      func(o *drivers.VM) { o.VTPMIdentity = id3 },
			accepted: true, acceptedIDs: map[string]string{"vm/c1/a": ""}, wantAnnID: id3, wantAnnNode: "node1",
		},
		{
			name:        "another VM's journaled identity does not concern this one",
			obs:         func(o *drivers.VM) { o.VTPMIdentity = id3 },
			acceptedIDs: map[string]string{"vm/c1/b": id3, "vm/c2/a": id3},
			wantRules:   []string{plan.RuleVTPMStateLost}, wantAnnID: "-",
		},
		{
			name:      "unknown identity is never lost",
			obs:       func(o *drivers.VM) { o.VTPMIdentity = "" },
			wantAnnID: "-",
		},
		{
			name:      "moved by the cluster with the same identity records the new node",
			obs:       func(o *drivers.VM) { o.Node = "node3" },
			wantRules: []string{plan.RuleMovedByCluster}, wantAnnID: id1, wantAnnNode: "node3",
		},
		{
			name:      "moved by the cluster and a new identity is lost, not moved",
			obs:       func(o *drivers.VM) { o.Node = "node3"; o.VTPMIdentity = id2 },
			wantRules: []string{plan.RuleVTPMStateLost}, wantAnnID: id1, wantAnnNode: "node3",
		},
		{
			name:     "moved by the cluster with an accepted new identity says so",
			obs:      func(o *drivers.VM) { o.Node = "node3"; o.VTPMIdentity = id2 },
			accepted: true, wantRules: []string{plan.RuleMovedByCluster}, wantAnnID: id2, wantAnnNode: "node3",
			wantMessage: "new vTPM identity",
		},
		{
			name:      "moved with an unknown identity keeps the recorded one",
			obs:       func(o *drivers.VM) { o.Node = "node3"; o.VTPMIdentity = "" },
			wantRules: []string{plan.RuleMovedByCluster}, wantAnnID: id1, wantAnnNode: "node3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := vmSpec("a")
			opts := plan.Options{}
			if tt.accepted {
				opts.Accept.Any = map[string]bool{"vm/c1/a": true}
			}
			opts.Accept.Only = tt.acceptedIDs
			p := mustBuild(t, desiredOf(clusterSpec(), d), observedOf(healthyNodes(), synced(d, "node1", id1, tt.obs)), opts)
			var rules []string
			for _, f := range p.Findings {
				rules = append(rules, f.Rule)
				if f.Rule == plan.RuleVTPMStateLost {
					if f.Severity != plan.SeverityError || !strings.HasPrefix(f.Message, plan.VTPMStateLostMessage) {
						t.Errorf("lost finding = %+v, want severity error and the issue's message", f)
					}
				}
			}
			if strings.Join(rules, ",") != strings.Join(tt.wantRules, ",") {
				t.Errorf("findings %v, want %v", rules, tt.wantRules)
			}
			if tt.wantMessage != "" && (len(p.Findings) != 1 || !strings.Contains(p.Findings[0].Message, tt.wantMessage)) {
				t.Errorf("findings %+v, want one saying %q", p.Findings, tt.wantMessage)
			}
			s := findStep(p, "vm/a/set-annotations")
			if tt.wantAnnID == "-" {
				if s != nil {
					t.Fatalf("unexpected set-annotations: %+v", s.Params.Annotations)
				}
				return
			}
			if s == nil {
				t.Fatalf("no set-annotations step:\n%s", render(p))
			}
			if a := s.Params.Annotations; a.VTPMIdentity != tt.wantAnnID || a.Node != tt.wantAnnNode {
				t.Errorf("annotations record identity %q node %q, want %q %q", a.VTPMIdentity, a.Node, tt.wantAnnID, tt.wantAnnNode)
			}
		})
	}
}

func TestBuildCreateCarriesAnnotationsAndExpect(t *testing.T) {
	d := vmSpec("a", func(v *spec.VM) { v.Protect = true; v.Placement.Node = "node2" })
	p := mustBuild(t, desiredOf(clusterSpec(), d), observedOf(healthyNodes()), plan.Options{})
	cr := findStep(p, "vm/a/create-vm")
	if cr == nil {
		t.Fatalf("no create-vm:\n%s", render(p))
	}
	want := drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: d.Hash(), Protect: true, Node: "node2"}
	if cr.Params.Annotations == nil || *cr.Params.Annotations != want {
		t.Errorf("create-vm annotations = %+v, want %+v", cr.Params.Annotations, want)
	}
	if cr.Params.Generation != 2 || cr.Params.TargetNode != "node2" || cr.Params.SecurityType != spec.SecurityTrustedLaunch {
		t.Errorf("create-vm params = %+v", cr.Params)
	}
	e := p.Changes[0].Expect
	if e == nil || e.Power != drivers.PowerRunning || e.Node != "node2" || e.VTPMIdentity != "" || !*e.TPMEnabled || e.SecureBootTemplate != spec.TemplateMicrosoftWindows {
		t.Errorf("expect = %+v", e)
	}
}

func TestBuildDeterministic(t *testing.T) {
	c := clusterSpec()
	var vms []spec.VM
	var obs []drivers.VM
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		d := vmSpec(n)
		vms = append(vms, d)
		obs = append(obs, synced(d, "node1", id1, func(o *drivers.VM) { o.Processors = 1; o.Node = "node2" }))
	}
	obs = append(obs, synced(vmSpec("x"), "node3", id2, func(o *drivers.VM) { o.Annotations = nil }))
	first := planJSON(t, desiredOf(c, vms...), observedOf(healthyNodes(), obs...))
	rng := rand.New(rand.NewSource(1))
	// Desired state comes sorted from spec.Load (its hash relies on that); the
	// observation's order is the driver's and must not matter.
	for i := 0; i < 20; i++ {
		o := append([]drivers.VM(nil), obs...)
		n := healthyNodes()
		rng.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		rng.Shuffle(len(n), func(i, j int) { n[i], n[j] = n[j], n[i] })
		if got := planJSON(t, desiredOf(c, vms...), observedOf(n, o...)); !bytes.Equal(got, first) {
			t.Fatalf("plan JSON differs for shuffled input %d:\n%s\nvs\n%s", i, got, first)
		}
	}
}

func planJSON(t *testing.T, d *spec.Desired, o map[string]*drivers.Observed) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := plan.Write(&b, mustBuild(t, d, o, plan.Options{})); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBuildJSONHasNoNulls(t *testing.T) {
	p := mustBuild(t, desiredOf(clusterSpec()), observedOf(healthyNodes()), plan.Options{})
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("null")) {
		t.Errorf("plan JSON has null: %s", b)
	}
	for _, key := range []string{`"format_version":"2"`, `"changes":[]`, `"findings":[]`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("plan JSON lacks %s: %s", key, b)
		}
	}
}

func TestBuildTargets(t *testing.T) {
	nodes := healthyNodes()
	nodes[0].IgvmAgent = drivers.AgentStopped
	nodes[1].IgvmAgent = drivers.AgentStopped
	d := desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) { v.Placement.Node = "node1" }), vmSpec("b"))
	p := mustBuild(t, d, observedOf(nodes), plan.Options{Targets: []string{"vm/a"}})
	got := render(p)
	if strings.Contains(got, "vm/b") {
		t.Errorf("targeted plan includes vm/b:\n%s", got)
	}
	if strings.Contains(got, "node/node2") {
		t.Errorf("targeted plan includes node2's step that vm/a does not need:\n%s", got)
	}
	if !strings.Contains(got, "node/node1/start-igvm-agent") {
		t.Errorf("targeted plan lacks the agent start vm/a depends on:\n%s", got)
	}
	if _, err := plan.Build(d, observedOf(nodes), plan.Options{Targets: []string{"vm/nope"}}); err == nil || !strings.Contains(err.Error(), "vm/nope") {
		t.Errorf("unknown target: err = %v, want one naming vm/nope", err)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := plan.Build(nil, nil, plan.Options{}); err == nil {
		t.Error("nil desired: want an error")
	}
	_, err := plan.Build(desiredOf(clusterSpec()), map[string]*drivers.Observed{}, plan.Options{})
	if err == nil || !strings.Contains(err.Error(), "cluster/c1") {
		t.Errorf("missing observation: err = %v, want one naming cluster/c1", err)
	}
}

func TestOrderCycle(t *testing.T) {
	p := &plan.Plan{Changes: []plan.Change{{Resource: "vm/a", Steps: []plan.Step{
		{ID: "vm/a/x", DependsOn: []string{"vm/a/z"}},
		{ID: "vm/a/y", DependsOn: []string{"vm/a/x"}},
		{ID: "vm/a/z", DependsOn: []string{"vm/a/y"}},
		{ID: "vm/a/free"},
	}}}}
	_, err := plan.Order(p)
	var cyc *plan.CycleError
	if !errors.As(err, &cyc) {
		t.Fatalf("err = %v, want *CycleError", err)
	}
	want := [][2]string{{"vm/a/x", "vm/a/z"}, {"vm/a/y", "vm/a/x"}, {"vm/a/z", "vm/a/y"}}
	if len(cyc.Edges) != len(want) {
		t.Fatalf("edges = %v, want %v", cyc.Edges, want)
	}
	for i := range want {
		if cyc.Edges[i] != want[i] {
			t.Errorf("edge %d = %v, want %v", i, cyc.Edges[i], want[i])
		}
	}
	if !strings.Contains(err.Error(), "vm/a/x -> vm/a/z") {
		t.Errorf("message %q does not list the edges", err)
	}
}

func TestOrderTiesByID(t *testing.T) {
	p := &plan.Plan{Changes: []plan.Change{{Steps: []plan.Step{
		{ID: "c"}, {ID: "b", DependsOn: []string{"d"}}, {ID: "a"}, {ID: "d"},
	}}}}
	got, err := plan.Order(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "a c d b" {
		t.Errorf("order = %v, want a c d b", got)
	}
}

// TestBlockDestructive: with BlockDestructive a change that would destroy a
// vTPM is blocked whole (its stop too, so the VM is not left Off), while
// other changes stay runnable — the watch daemon's mode without
// --allow-destructive.
func TestBlockDestructive(t *testing.T) {
	d := desiredOf(clusterSpec(), vmSpec("a"), vmSpec("b", func(v *spec.VM) { v.Processors = 8 }))
	o := observedOf(healthyNodes(),
		synced(vmSpec("a"), "node1", id1, func(o *drivers.VM) { o.SecureBootTemplate = spec.TemplateMicrosoftUEFICA }),
		synced(vmSpec("b"), "node1", id2))
	got := render(mustBuild(t, d, o, plan.Options{BlockDestructive: true}))
	want := `update vm/a
  vm/a/stop-vm [disruptive BLOCKED]
  vm/a/ensure-key-protector <- vm/a/stop-vm [off destructive BLOCKED]
  vm/a/set-secure-boot <- vm/a/ensure-key-protector [off BLOCKED]
  vm/a/start-vm <- vm/a/set-secure-boot [disruptive BLOCKED]
  vm/a/set-annotations <- vm/a/start-vm [BLOCKED]
update vm/b
  vm/b/stop-vm [disruptive]
  vm/b/set-processor <- vm/b/stop-vm [off]
  vm/b/start-vm <- vm/b/set-processor [disruptive]
  vm/b/set-annotations <- vm/b/start-vm
summary create=0 update=2 replace=0 delete=0 noop=0 blocked=1
`
	if got != want {
		t.Errorf("plan with BlockDestructive:\n%s\nwant:\n%s", got, want)
	}
	if s := findStep(mustBuild(t, d, o, plan.Options{BlockDestructive: true}), "vm/a/ensure-key-protector"); s.Blocked == nil || s.Blocked.Code != plan.BlockDestructive || !strings.Contains(s.Blocked.Reason, "--allow-destructive") {
		t.Errorf("blocked %+v: want code destructive-not-allowed and a reason that says how to let it run", s.Blocked)
	}
	if p := mustBuild(t, d, o, plan.Options{}); p.Summary.Blocked != 0 {
		t.Errorf("without BlockDestructive nothing is blocked (apply refuses the plan instead); got %d", p.Summary.Blocked)
	}
}

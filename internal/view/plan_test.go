package view_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/golden"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

var (
	observedAt = time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	win11      = spec.Image{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", Sku: "win11-22h2-avd", Version: "22621.2428.231001"}
	hardened   = spec.Image{Publisher: "contoso", Offer: "hardened-win11", Sku: "avd", Version: "1.0.0"}
)

const (
	idA = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	idB = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
	idC = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
)

func vmSpec(cluster, name string, mut ...func(*spec.VM)) spec.VM {
	v := spec.VM{
		Name: name, Cluster: cluster, SecurityType: spec.SecurityTrustedLaunch, Image: win11,
		Processors: 4, MemoryMB: 8192,
		SecureBoot: spec.SecureBoot{Enabled: true, Template: spec.TemplateMicrosoftWindows},
		VTPM:       spec.VTPM{Enabled: true}, VBS: true, EncryptStateAndMigrationTraffic: true,
		Power: spec.PowerRunning,
	}
	for _, m := range mut {
		m(&v)
	}
	return v
}

func synced(d spec.VM, node, id string, mut ...func(*drivers.VM)) drivers.VM {
	o := drivers.VM{
		Name: d.Name, ID: "id-" + d.Name, Node: node, Generation: 2, Power: drivers.PowerState(d.Power),
		Processors: d.Processors, MemoryMB: d.MemoryMB, SecurityType: d.SecurityType,
		SecureBoot: d.SecureBoot.Enabled, SecureBootTemplate: d.SecureBoot.Template,
		TPMEnabled: d.VTPM.Enabled, KeyProtector: d.VTPM.Enabled, KeyProtectorSHA256: "kp" + id,
		EncryptState: d.EncryptStateAndMigrationTraffic, VBSOptOut: !d.VBS,
		FileAccess: drivers.FileAccessHostAdminsOnly, VTPMInitialized: true, VTPMIdentity: id,
		Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: d.Hash(), Protect: d.Protect, VTPMIdentity: id, Node: node},
	}
	for _, m := range mut {
		m(&o)
	}
	return o
}

// scenario has every action, finding kind and warning kind the views render.
func scenario(t *testing.T) *plan.Plan {
	t.Helper()
	west := spec.Cluster{Name: "hci-west", Driver: "sim", Nodes: []string{"node1", "node2", "node3", "node4"},
		IgvmAgent: "required", VMFileAccess: "hostAdminsOnly", LiveMigration: spec.LiveMigration{Encryption: "ipsec"}}
	east := spec.Cluster{Name: "hci-east", Driver: "sim", Nodes: []string{"e1", "e2"},
		IgvmAgent: "ignore", VMFileAccess: "ignore", LiveMigration: spec.LiveMigration{Encryption: "none"}}
	off := func(v *spec.VM) { v.Power = spec.PowerOff }
	d := &spec.Desired{
		Clusters: []spec.Cluster{east, west},
		Catalog: []spec.CatalogImage{{Image: win11, OS: "windows", BuiltIn: true},
			{Image: hardened, OS: "windows", Pos: spec.Pos{File: "catalog.yaml", Line: 4, Column: 1}}},
		VMs: []spec.VM{
			vmSpec("hci-east", "east-01"),
			vmSpec("hci-west", "avd-01"),
			vmSpec("hci-west", "avd-02", func(v *spec.VM) {
				v.Placement.Node = "node2"
				v.Pos = spec.Pos{File: "vms/avd.yaml", Line: 12, Column: 1}
			}),
			vmSpec("hci-west", "avd-03"),
			vmSpec("hci-west", "avd-04", off),
			vmSpec("hci-west", "avd-05"),
			vmSpec("hci-west", "avd-06", func(v *spec.VM) { v.VTPM.Enabled = false; v.EncryptStateAndMigrationTraffic = false; v.Protect = true }),
			vmSpec("hci-west", "avd-07", func(v *spec.VM) { v.Image = hardened }),
			vmSpec("hci-west", "avd-08"),
			vmSpec("hci-west", "avd-09"),
			vmSpec("hci-west", "avd-10"),
			vmSpec("hci-west", "avd-11", func(v *spec.VM) { v.Placement.Node = "node1" }),
			vmSpec("hci-west", "avd-12", func(v *spec.VM) { v.SecurityType = spec.SecurityStandard }),
		},
	}
	protected := vmSpec("hci-west", "avd-06", func(v *spec.VM) { v.Protect = true })
	o := map[string]*drivers.Observed{
		"hci-west": {Cluster: "hci-west", Driver: "sim", ObservedAt: observedAt,
			Nodes: []drivers.Node{
				{Name: "node1", State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning, MigrationIPsec: true},
				{Name: "node2", State: drivers.NodeUp, IgvmAgent: drivers.AgentStopped, MigrationIPsec: false},
				{Name: "node3", State: drivers.NodeUp, IgvmAgent: drivers.AgentAbsent, MigrationIPsec: true},
			},
			VMs: []drivers.VM{
				synced(d.VMs[1], "node1", idA, func(o *drivers.VM) {
					o.SecureBoot = false
					o.Processors = 2
					o.FileAccess = drivers.FileAccessViolation
				}),
				synced(d.VMs[3], "node1", idB, func(o *drivers.VM) { o.Generation = 1 }),
				synced(d.VMs[4], "node1", idC, func(o *drivers.VM) { o.MemoryMB = 4096; o.VTPMIdentity = idA; o.Node = "node2" }),
				synced(d.VMs[5], "node1", idB, func(o *drivers.VM) { o.Annotations.Node = "node3" }),
				synced(protected, "node1", idC),
				synced(d.VMs[7], "node1", idA),
				synced(d.VMs[8], "node3", idB, func(o *drivers.VM) { o.Power = drivers.PowerOff; o.VTPMIdentity = "" }),
				synced(d.VMs[9], "node1", "", func(o *drivers.VM) { o.Annotations = nil }),
				synced(d.VMs[10], "node1", idC, func(o *drivers.VM) { o.SecureBootTemplate = spec.TemplateMicrosoftUEFICA }),
				synced(d.VMs[11], "node2", idA, func(o *drivers.VM) { o.Power = drivers.PowerSaved }),
				synced(d.VMs[1], "node1", idB, func(o *drivers.VM) { o.Name = "avd-12"; o.Annotations.Protect = true }),
				synced(vmSpec("hci-west", "legacy"), "node1", "", func(o *drivers.VM) { o.Annotations = nil }),
				synced(vmSpec("hci-west", "old-01"), "node1", idB),
			}},
		"hci-east": {Cluster: "hci-east", Driver: "sim", ObservedAt: observedAt.Add(time.Minute),
			Nodes: []drivers.Node{
				{Name: "e1", State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning},
				{Name: "e2", State: drivers.NodeUp, IgvmAgent: drivers.AgentStopped},
			},
			VMs: []drivers.VM{synced(d.VMs[0], "e1", idA, func(o *drivers.VM) { o.FileAccess = drivers.FileAccessViolation })}},
	}
	p, err := plan.Build(d, o, plan.Options{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	p.ObservedFile = "observed.json"
	p.PlannedAt = observedAt.Add(3*time.Hour + 12*time.Minute)
	return p
}

func TestPlanGolden(t *testing.T) {
	p := scenario(t)
	tests := []struct {
		golden string
		render func(*bytes.Buffer) error
	}{
		{"plan.txt.golden", func(b *bytes.Buffer) error { return view.PlanText(b, p, false) }},
		{"plan-color.txt.golden", func(b *bytes.Buffer) error { return view.PlanText(b, p, true) }},
		{"plan.json.golden", func(b *bytes.Buffer) error { return view.PlanJSON(b, p) }},
		{"plan.md.golden", func(b *bytes.Buffer) error { return view.PlanMarkdown(b, p) }},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.render(&b); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tt.golden), b.Bytes())
		})
	}
}

// TestPlanScenarioCoverage keeps the golden scenario honest: it must hold
// every action, every finding rule a pruning plan can produce, and every
// warning kind.
func TestPlanScenarioCoverage(t *testing.T) {
	p := scenario(t)
	actions := map[plan.Action]bool{}
	var destructive, disruptive, blocked bool
	for _, c := range p.Changes {
		actions[c.Action] = true
		for _, s := range c.Steps {
			destructive = destructive || s.Destructive
			disruptive = disruptive || s.Disruptive
			blocked = blocked || s.Blocked != nil
		}
	}
	for _, a := range []plan.Action{plan.ActionCreate, plan.ActionUpdate, plan.ActionReplace, plan.ActionDelete} {
		if !actions[a] {
			t.Errorf("scenario has no %s change", a)
		}
	}
	if !destructive || !disruptive || !blocked {
		t.Errorf("scenario warnings: destructive %t, disruptive %t, blocked %t; want all", destructive, disruptive, blocked)
	}
	rules := map[string]bool{}
	for _, f := range p.Findings {
		rules[f.Rule] = true
	}
	for _, r := range []string{plan.RuleVTPMStateLost, plan.RuleMovedByCluster, plan.RuleUnmanagedVM, plan.RuleIgvmAgentAbsent,
		plan.RuleIgvmAgentNotRunning, plan.RuleLiveMigrationUnencrypted, plan.RuleFileAccess, plan.RuleImageOutsideCatalog, plan.RuleNodeNotObserved,
		plan.RuleProtectReleased} {
		if !rules[r] {
			t.Errorf("scenario has no %s finding", r)
		}
	}
	if p.Summary.Noop == 0 {
		t.Error("scenario has no unchanged VM")
	}
}

func TestPlanJSONContract(t *testing.T) {
	var b bytes.Buffer
	if err := view.PlanJSON(&b, scenario(t)); err != nil {
		t.Fatal(err)
	}
	// The JSON contract is the plan file's body: plan.Read of the sealed
	// file gives back the same plan.
	var back plan.Plan
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("PlanJSON output: %v", err)
	}
	if back.FormatVersion != plan.FormatVersion || len(back.Changes) == 0 {
		t.Errorf("round trip lost the plan: %+v", back.Summary)
	}
	var raw map[string]any
	b.Reset()
	_ = view.PlanJSON(&b, &plan.Plan{FormatVersion: plan.FormatVersion})
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
}

func TestPlanMarkdownLimit(t *testing.T) {
	p := scenario(t)
	// Grow the plan far past the limit by repeating its changes under new names.
	base := p.Changes
	for i := 0; len(p.Changes) < 3000; i++ {
		for _, c := range base {
			c.Resource = c.Resource + "-copy" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
			p.Changes = append(p.Changes, c)
		}
	}
	var b bytes.Buffer
	if err := view.PlanMarkdown(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := len(out); n > view.MarkdownLimit {
		t.Fatalf("markdown is %d characters, over the %d limit", n, view.MarkdownLimit)
	}
	for _, want := range []string{view.MarkdownMarker, "**Plan: ", "> [!WARNING]", "Cut to stay under the 65000-character comment limit", "the step details of"} {
		if !strings.Contains(out, want) {
			t.Errorf("truncated markdown lacks %q", want)
		}
	}
	if strings.Count(out, "<details>") != strings.Count(out, "</details>") {
		t.Error("a <details> section was cut in half")
	}
}

func TestPlanTextNoChanges(t *testing.T) {
	p := &plan.Plan{FormatVersion: "1", ObservedAt: observedAt, PlannedAt: observedAt.Add(90 * time.Second), Summary: plan.Summary{Noop: 2}}
	var b bytes.Buffer
	if err := view.PlanText(&b, p, false); err != nil {
		t.Fatal(err)
	}
	want := "Observed live at 2026-11-27 02:00:00 UTC, 1m before planning.\n\nNo changes: the clusters match the YAML.\n\nPlan: 0 to create, 0 to update, 0 to replace, 0 to delete; 0 blocked. 2 unchanged.\n"
	if b.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", b.String(), want)
	}
}

func TestPlanFormatUnknown(t *testing.T) {
	if err := view.Plan(&bytes.Buffer{}, "yaml", &plan.Plan{}, false); err == nil || !strings.Contains(err.Error(), "markdown") {
		t.Errorf("err = %v, want one listing the formats", err)
	}
}

// plan600 is the 600-VM pull request of issue 14: every VM drifted (a
// stop/start window each), node15 without IgvmAgent, so its 37 VMs are
// blocked for one reason, and node14's agent stopped.
func plan600(t *testing.T) *plan.Plan {
	t.Helper()
	p := bigPlan(t, 600, func(nodes []drivers.Node) {
		nodes[14].IgvmAgent = drivers.AgentStopped
		nodes[15].IgvmAgent = drivers.AgentAbsent
	})
	p.PlannedAt = observedAt.Add(time.Minute)
	return p
}

func TestPlanMarkdown600VMs(t *testing.T) {
	p := plan600(t)
	var b bytes.Buffer
	if err := view.PlanMarkdownWith(&b, p, view.MarkdownOptions{PlanURL: "https://github.com/contoso/fleet/actions/runs/42#artifacts"}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "plan-600.md.golden"), b.Bytes())
	out := b.String()
	if n := len(out); n > view.MarkdownLimit {
		t.Fatalf("markdown is %d characters, over the %d limit", n, view.MarkdownLimit)
	}
	head, _, ok := strings.Cut(out, "| Resource |")
	if !ok {
		t.Fatal("no table of changes")
	}
	// The warning block names each cause once, with its count.
	blockedReason := "node node15 has no IgvmAgent"
	if n := strings.Count(head, blockedReason); n != 1 {
		t.Errorf("the blocked reason appears %d times above the table, want once (grouped)", n)
	}
	if !strings.Contains(head, "(37 VMs) — ") {
		t.Errorf("the blocked group lacks its count (37 VMs):\n%s", head)
	}
	if len(head) > 3000 {
		t.Errorf("the head before the table is %d characters, want a short summary", len(head))
	}
	for _, line := range strings.Split(head, "\n") {
		if len(line) > 1000 {
			t.Errorf("head line of %d characters: %.200s…", len(line), line)
		}
	}
	// Step details are kept for whole VMs while they fit.
	details := strings.Count(out, "<details>")
	if details == 0 || details != strings.Count(out, "</details>") {
		t.Fatalf("<details> %d, </details> %d: want some, all closed", details, strings.Count(out, "</details>"))
	}
	if last := strings.LastIndex(out, "</details>"); strings.Contains(out[last:], "| 1 | `") {
		t.Error("a change's step table was cut after its </details>")
	}
	note := fmt.Sprintf("the step details of %d of %d changes (shown for the first %d)", len(p.Changes)-details, len(p.Changes), details)
	for _, want := range []string{note, "[`tlreconcile-plan` artifact](https://github.com/contoso/fleet/actions/runs/42#artifacts)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the cut note lacks %q", want)
		}
	}
}

// A plan limited by --target says so in every view: its "no changes" and its
// counts are not the whole clusters'.
func TestPlanTargetsNotice(t *testing.T) {
	p := scenario(t)
	p.Targets = []string{"node/node2", "vm/avd-01"}
	const want = "Partial plan: it covers only the targeted resources (--target node/node2, vm/avd-01)"
	for format, firstChange := range map[string]string{view.FormatText: "(cluster hci-west)", view.FormatMarkdown: "| Resource |"} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := view.Plan(&b, format, p, false); err != nil {
				t.Fatal(err)
			}
			head, _, _ := strings.Cut(b.String(), firstChange)
			if !strings.Contains(head, want) {
				t.Errorf("%s view does not open with the partial-plan notice %q:\n%s", format, want, b.String())
			}
		})
	}
	t.Run("text summary", func(t *testing.T) {
		var b bytes.Buffer
		_ = view.PlanText(&b, p, false)
		if !strings.HasSuffix(b.String(), " (partial: --target)\n") {
			t.Errorf("the summary line does not say the plan is partial:\n%s", b.String())
		}
	})
	t.Run(view.FormatJSON, func(t *testing.T) {
		var b bytes.Buffer
		_ = view.PlanJSON(&b, p)
		var doc struct{ Targets []string }
		if err := json.Unmarshal(b.Bytes(), &doc); err != nil || strings.Join(doc.Targets, ",") != "node/node2,vm/avd-01" {
			t.Errorf("JSON targets = %v (%v), want the targets", doc.Targets, err)
		}
	})
	t.Run("many targets", func(t *testing.T) {
		many := *p
		many.Targets = nil
		for i := range 25 {
			many.Targets = append(many.Targets, fmt.Sprintf("vm/t-%02d", i))
		}
		var b bytes.Buffer
		_ = view.PlanText(&b, &many, false)
		if !strings.Contains(b.String(), "vm/t-09 and 15 more)") || strings.Contains(b.String(), "vm/t-10") {
			t.Errorf("the notice should name the first 10 targets and count the rest:\n%.600s", b.String())
		}
	})
	var b bytes.Buffer
	_ = view.PlanText(&b, scenario(t), false)
	if strings.Contains(b.String(), "Partial plan") {
		t.Error("an untargeted plan says it is partial")
	}
}

func TestCIPlanURL(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"outside CI", nil, ""},
		{"GitHub Actions", map[string]string{"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "contoso/fleet", "GITHUB_RUN_ID": "42"},
			"https://github.com/contoso/fleet/actions/runs/42#artifacts"},
		{"Azure Pipelines", map[string]string{"SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/", "SYSTEM_TEAMPROJECT": "Fleet Ops", "BUILD_BUILDID": "7"},
			"https://dev.azure.com/contoso/Fleet%20Ops/_build/results?buildId=7&view=artifacts&type=publishedArtifacts"},
		{"explicit", map[string]string{"TLRECONCILE_PLAN_URL": "https://ci.example/run/9", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "a/b", "GITHUB_RUN_ID": "1"},
			"https://ci.example/run/9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := view.CIPlanURL(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("CIPlanURL = %q, want %q", got, tt.want)
			}
		})
	}
}

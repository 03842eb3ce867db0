package plan_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// TestKeyBackupPolicy: backup-guest-state-keys is planned when a
// trusted-launch VM's guest state key is not in the newest backup, or the
// newest backup is older than maxAge; never where the platform has no such
// keys (a finding says so).
func TestKeyBackupPolicy(t *testing.T) {
	vm := synced(vmSpec("a"), "node1", "ek1", func(o *drivers.VM) { o.ID = "AAAA-1" })
	fresh := &drivers.KeyBackup{Folder: "20261127040000", Time: t0.Add(-time.Hour), Keys: []string{"aaaa-1"}}
	policy := &spec.KeyBackup{WrappingKey: `C:\tvm\wrap.pem`, Destination: `C:\ClusterStorage\tvm`, MaxAge: "24h"}
	for _, tt := range []struct {
		name    string
		policy  *spec.KeyBackup
		prof    drivers.Profile
		backup  *drivers.KeyBackup
		downAll bool
		want    string // in the backup step's reason; "" = no step
		finding string
	}{
		{name: "no policy", prof: drivers.AzureLocal()},
		{name: "no backup yet", policy: policy, prof: drivers.AzureLocal(), want: "no key backup exists and 1 VM(s)"},
		{name: "complete and fresh", policy: policy, prof: drivers.AzureLocal(), backup: fresh},
		{name: "a key is missing", policy: policy, prof: drivers.AzureLocal(),
			backup: &drivers.KeyBackup{Folder: "20261127040000", Time: t0.Add(-time.Hour), Keys: []string{"other"}}, want: "lacks the guest state key of vm/a"},
		{name: "too old", policy: policy, prof: drivers.AzureLocal(),
			backup: &drivers.KeyBackup{Folder: "20261120040000", Time: t0.Add(-7 * 24 * time.Hour), Keys: []string{"AAAA-1"}}, want: "more than keyBackup.maxAge 24h"},
		{name: "no maxAge, complete", policy: &spec.KeyBackup{WrappingKey: "w", Destination: "d"}, prof: drivers.AzureLocal(),
			backup: &drivers.KeyBackup{Folder: "20200101000000", Time: t0.AddDate(-6, 0, 0), Keys: []string{"AAAA-1"}}},
		{name: "classic Hyper-V", policy: policy, prof: drivers.ClassicHyperV(), finding: plan.RuleKeyBackupUnsupported},
		{name: "every node down", policy: policy, prof: drivers.AzureLocal(), downAll: true, finding: plan.RuleKeyBackupUnsupported},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nodes := healthyNodes()
			if tt.downAll {
				for i := range nodes {
					nodes[i].State = drivers.NodeDown
				}
			}
			obs := observedOf(nodes, vm)
			obs["c1"].Profile, obs["c1"].KeyBackup = tt.prof, tt.backup
			c := clusterSpec(func(c *spec.Cluster) { c.KeyBackup = tt.policy })
			p := mustBuild(t, desiredOf(c, vmSpec("a")), obs, plan.Options{})
			step := findStep(p, "node/node1/backup-guest-state-keys")
			switch {
			case tt.want == "" && step != nil:
				t.Fatalf("unexpected backup step: %+v", step)
			case tt.want != "" && (step == nil || !strings.Contains(step.Reason, tt.want) || step.Params.KeyBackup.Destination != policy.Destination):
				t.Fatalf("backup step %+v, want one saying %q\n%s", step, tt.want, render(p))
			}
			if tt.finding != "" && !hasFinding(p, tt.finding) {
				t.Errorf("no %s finding: %+v", tt.finding, p.Findings)
			}
			if err := plan.Validate(p); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func hasFinding(p *plan.Plan, rule string) bool {
	for _, f := range p.Findings {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

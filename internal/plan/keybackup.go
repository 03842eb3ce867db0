package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// RuleKeyBackupUnsupported: a keyBackup policy on a platform without
// guest state keys.
const RuleKeyBackupUnsupported = "key-backup-not-supported"

// keyBackup is the backup-guest-state-keys step of a cluster with a
// keyBackup policy (DESIGN §1.1: "a backup must cover all VM files and the
// key"): planned when a trusted-launch VM's key is not in the newest backup,
// or the newest backup is older than maxAge (measured against the
// observation's time, so the same inputs give the same plan). It runs on the
// first Up node; nil when nothing is due.
func (b *builder) keyBackup(cp *clusterPlan) (node string, s *Step) {
	kb := cp.spec.KeyBackup
	if kb == nil {
		return "", nil
	}
	if !cp.prof.Has(drivers.OpBackupGuestStateKeys) {
		b.finding(SeverityWarning, RuleKeyBackupUnsupported, "cluster/"+cp.spec.Name, cp.spec.Name,
			fmt.Sprintf("cluster/%s: keyBackup is declared but the %s platform has no guest state keys to back up; remove keyBackup", cp.spec.Name, cp.prof.Name))
		return "", nil
	}
	why := backupDue(cp, kb.MaxAge)
	if why == "" {
		return "", nil
	}
	for _, n := range cp.nodeOrder {
		if cp.nodes[n].State == drivers.NodeUp {
			node = n
			break
		}
	}
	if node == "" {
		b.finding(SeverityWarning, RuleKeyBackupUnsupported, "cluster/"+cp.spec.Name, cp.spec.Name,
			fmt.Sprintf("cluster/%s: a key backup is due (%s) but no node is Up to run it on; plan again once one is", cp.spec.Name, why))
		return "", nil
	}
	st := &Step{Op: drivers.Op{Kind: drivers.OpBackupGuestStateKeys, Cluster: cp.spec.Name, Node: node,
		Params: &drivers.Params{KeyBackup: &drivers.KeyBackupTarget{WrappingKey: kb.WrappingKey, Destination: kb.Destination}}},
		Reason: why + "; Backup-TVMKeys writes a timestamped folder of keys wrapped under " + kb.WrappingKey + " to " + kb.Destination + " (key material never passes through tlreconcile)"}
	return node, st
}

// backupDue says why a backup is due ("" when it is not).
func backupDue(cp *clusterPlan, maxAge string) string {
	last := cp.obs.KeyBackup
	in := map[string]bool{}
	if last != nil {
		for _, k := range last.Keys {
			in[strings.ToLower(k)] = true
		}
	}
	var missing []string
	for _, v := range cp.obs.VMs {
		if managed(&v) && v.TPMEnabled && v.ID != "" && !in[strings.ToLower(v.ID)] {
			missing = append(missing, "vm/"+v.Name)
		}
	}
	sort.Strings(missing)
	switch {
	case len(missing) > 0 && last == nil:
		return fmt.Sprintf("no key backup exists and %d VM(s) have a guest state key (%s)", len(missing), listSome(missing))
	case len(missing) > 0:
		return fmt.Sprintf("the newest key backup (%s) lacks the guest state key of %s", last.Folder, listSome(missing))
	case last == nil || maxAge == "":
		return ""
	}
	limit, err := time.ParseDuration(maxAge)
	if age := cp.obs.ObservedAt.Sub(last.Time); err == nil && age > limit {
		return fmt.Sprintf("the newest key backup (%s) is %s old, more than keyBackup.maxAge %s", last.Folder, age.Round(time.Minute), maxAge)
	}
	return ""
}

// listSome names at most five items and how many more.
func listSome(items []string) string {
	if len(items) <= 5 {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:5], ", "), len(items)-5)
}

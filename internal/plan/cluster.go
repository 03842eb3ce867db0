package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// clusterPlan is one cluster's observation plus what the node steps will change.
type clusterPlan struct {
	spec       spec.Cluster
	obs        *drivers.Observed
	prof       drivers.Profile // what the platform allows (never the zero value)
	nodes      map[string]*drivers.Node
	nodeOrder  []string          // observed node names, sorted
	agentStart map[string]string // node -> id of its planned start-igvm-agent
	ipsec      map[string]string // node -> id of its planned enable-migration-ipsec
}

func (cp *clusterPlan) agentRequired() bool { return cp.spec.IgvmAgent != "ignore" }
func (cp *clusterPlan) fileAccessEnforced() bool {
	return cp.spec.VMFileAccess != "ignore"
}

// cluster plans one cluster: node steps first, then every declared and observed VM.
func (b *builder) cluster(c spec.Cluster, obs *drivers.Observed, vms []*spec.VM) {
	cp := &clusterPlan{
		spec:       c,
		obs:        obs,
		prof:       obs.Profile.OrDefault(),
		nodes:      map[string]*drivers.Node{},
		agentStart: map[string]string{},
		ipsec:      map[string]string{},
	}
	for i := range obs.Nodes {
		n := &obs.Nodes[i]
		cp.nodes[n.Name] = n
		cp.nodeOrder = append(cp.nodeOrder, n.Name)
		b.plan.Observed[drivers.Resource{Kind: drivers.KindNode, Cluster: c.Name, Name: n.Name}.Key()] = fingerprint(n)
	}
	sort.Strings(cp.nodeOrder)
	for _, n := range c.Nodes {
		if cp.nodes[n] == nil {
			b.finding(SeverityWarning, RuleNodeNotObserved, "node/"+n, c.Name,
				fmt.Sprintf("node/%s: declared in cluster %s but the driver does not report it; check the node name or the cluster's membership", n, c.Name))
		}
	}
	b.nodes(cp)

	declared := map[string]bool{}
	obsVMs := map[string]*drivers.VM{}
	for i := range obs.VMs {
		obsVMs[obs.VMs[i].Name] = &obs.VMs[i]
	}
	for _, d := range vms {
		declared[d.Name] = true
		if !b.targeted("vm/" + d.Name) {
			continue
		}
		o := obsVMs[d.Name]
		if o != nil {
			b.plan.Observed[drivers.VMResource(c.Name, o.Name).Key()] = fingerprint(o)
		}
		b.vm(cp, d, o)
	}
	undeclared := make([]*drivers.VM, 0)
	for i := range obs.VMs {
		if !declared[obs.VMs[i].Name] {
			undeclared = append(undeclared, &obs.VMs[i])
		}
	}
	sort.Slice(undeclared, func(i, j int) bool { return undeclared[i].Name < undeclared[j].Name })
	for _, o := range undeclared {
		res := "vm/" + o.Name
		if !b.targeted(res) {
			continue
		}
		b.plan.Observed[drivers.VMResource(c.Name, o.Name).Key()] = fingerprint(o)
		switch {
		case o.ObserveError != "":
			b.observeFailed(c.Name, o)
		case o.Infrastructure:
			b.finding(SeverityInfo, RuleInfrastructureVM, res, c.Name,
				fmt.Sprintf("%s on node %s is platform infrastructure (the Arc resource bridge); tlreconcile never changes it", res, o.Node))
		case !managed(o):
			b.finding(SeverityInfo, RuleUnmanagedVM, res, c.Name,
				fmt.Sprintf("%s on node %s is not managed by tlreconcile (no tlreconcile annotations); it is left untouched", res, o.Node))
		case b.opts.Prune:
			b.prune(cp, o)
		default:
			b.finding(SeverityWarning, RuleManagedVMNotDeclared, res, c.Name,
				fmt.Sprintf("%s is managed by tlreconcile but no longer declared in the YAML; declare it again, or plan with --prune to delete it", res))
		}
		if o.FileAccess == drivers.FileAccessViolation {
			b.finding(SeverityWarning, RuleFileAccess, res, c.Name,
				fmt.Sprintf("%s: its configuration and state files (which hold the vTPM) are readable by more than host administrators; tlreconcile only fixes declared VMs — restrict the ACLs outside tlreconcile", res))
		}
	}
	if cp.prof.GracefulStop {
		b.noteGracefulStops(c.Name)
	}
}

// forceStopNote ends the reason of every stop-vm on a platform whose stop
// is a guest shutdown (Profile.GracefulStop).
const forceStopNote = "; a guest shutdown (up to 5 minutes): if the guest does not shut down the step fails and the VM keeps running, unless apply --allow-force-stop lets it turn the VM off (unsaved guest data is lost)"

// noteGracefulStops says on every stop-vm of cluster what a stop does there.
func (b *builder) noteGracefulStops(cluster string) {
	for i := range b.plan.Changes {
		ch := &b.plan.Changes[i]
		if ch.Cluster != cluster {
			continue
		}
		for j := range ch.Steps {
			if ch.Steps[j].Kind == drivers.OpStopVM && !strings.HasSuffix(ch.Steps[j].Reason, forceStopNote) {
				ch.Steps[j].Reason += forceStopNote
			}
		}
	}
}

// nodes plans the IgvmAgent and live-migration IPsec steps and the node findings.
func (b *builder) nodes(cp *clusterPlan) {
	c := cp.spec
	unencrypted := 0
	backupNode, backup := b.keyBackup(cp)
	for _, name := range cp.nodeOrder {
		n := cp.nodes[name]
		res := "node/" + name
		ch := &Change{Resource: res, Cluster: c.Name, Action: ActionUpdate}
		prefix := b.stepPrefix(c.Name, res)
		switch n.IgvmAgent {
		case drivers.AgentStopped:
			if !cp.agentRequired() {
				b.finding(SeverityWarning, RuleIgvmAgentNotRunning, res, c.Name,
					fmt.Sprintf("%s: IgvmAgent is stopped and igvmAgent: ignore keeps tlreconcile from starting it; trusted-launch VMs cannot start on or move to this node until it runs", res))
				break
			}
			if n.State != drivers.NodeUp {
				b.finding(SeverityWarning, RuleIgvmAgentNotRunning, res, c.Name,
					fmt.Sprintf("%s: IgvmAgent is stopped and the node is %s; it is started once the node is Up — plan again then", res, n.State))
				break
			}
			s := Step{
				ID:     prefix + "/" + string(drivers.OpStartIgvmAgent),
				Op:     drivers.Op{Kind: drivers.OpStartIgvmAgent, Cluster: c.Name, Node: name},
				Reason: "IgvmAgent is stopped, want running: without it this node cannot unlock the vTPM of trusted-launch VMs (igvmAgent: required)",
			}
			ch.Steps = append(ch.Steps, s)
			cp.agentStart[name] = s.ID
		case drivers.AgentAbsent:
			if cp.agentRequired() {
				b.finding(SeverityWarning, RuleIgvmAgentAbsent, res, c.Name,
					fmt.Sprintf("%s: IgvmAgent is not installed, so trusted-launch VMs cannot be created on, started on or moved to this node; redeploy the node with IgvmAgent (outside tlreconcile)", res))
			}
		}
		if n.MigrationTransport == drivers.MigrationTransportSMB {
			b.smbMigration(cp, n)
		} else if !n.MigrationIPsec {
			switch {
			case c.LiveMigration.Encryption == "ipsec" && n.State == drivers.NodeUp:
				s := Step{
					ID:     prefix + "/" + string(drivers.OpEnableMigrationIPsec),
					Op:     drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: c.Name, Node: name},
					Reason: "live-migration traffic of this node is not encrypted, want IPsec (liveMigration.encryption: ipsec)",
				}
				ch.Steps = append(ch.Steps, s)
				cp.ipsec[name] = s.ID
			case c.LiveMigration.Encryption != "ipsec":
				unencrypted++
			}
		}
		if backup != nil && name == backupNode {
			backup.ID = prefix + "/" + string(drivers.OpBackupGuestStateKeys)
			ch.Steps = append(ch.Steps, *backup)
		}
		b.add(ch)
	}
	if unencrypted > 0 {
		b.finding(SeverityWarning, RuleLiveMigrationUnencrypted, "cluster/"+c.Name, c.Name,
			fmt.Sprintf("cluster/%s: live-migration traffic is not encrypted on %d node(s) and the spec accepts it (liveMigration.encryption: none); the platform guidance strongly recommends network-layer encryption such as IPsec — set liveMigration.encryption: ipsec", c.Name, unencrypted))
	}
}

// nodeReady says whether a VM can be created on, started on or moved to node,
// returning the step it must wait for (a planned agent start) or why it is blocked.
func (cp *clusterPlan) nodeReady(node string, trusted bool) (dep string, blocked *Blocked) {
	n := cp.nodes[node]
	switch {
	case n == nil:
		return "", notReady("node %s is not a node of cluster %s; fix placement.node", node, cp.spec.Name)
	case n.State != drivers.NodeUp:
		return "", notReady("node %s is %s; plan again once it is Up, or choose another placement.node", node, n.State)
	case trusted && n.NodeAgent != "" && n.NodeAgent != drivers.AgentRunning:
		return "", notReady("the MOC node agent (wssdagent) on node %s is %s, so VMs cannot start, stop or be created there; restart it on the node (Restart-Service wssdagent) or choose another placement.node", node, n.NodeAgent)
	case !trusted || n.IgvmAgent == drivers.AgentRunning:
		return "", nil
	case n.IgvmAgent == drivers.AgentAbsent:
		return "", notReady("node %s has no IgvmAgent, so it cannot unlock a trusted-launch vTPM; redeploy the node with IgvmAgent or choose another placement.node", node)
	case cp.agentStart[node] != "":
		return cp.agentStart[node], nil
	default:
		return "", notReady("IgvmAgent on node %s is not running and igvmAgent: ignore keeps tlreconcile from starting it; start it outside tlreconcile or set igvmAgent: required", node)
	}
}

// pickNode chooses where to create a VM: its placement, else the first Up node
// whose IgvmAgent runs now, else the first whose agent this plan starts.
func (cp *clusterPlan) pickNode(d *spec.VM) (node, dep string, blocked *Blocked) {
	trusted := needsAgent(d)
	if d.Placement.Node != "" {
		dep, blocked = cp.nodeReady(d.Placement.Node, trusted)
		return d.Placement.Node, dep, blocked
	}
	var why []string
	for _, pass := range []bool{false, true} {
		for _, name := range cp.nodeOrder {
			dep, blocked := cp.nodeReady(name, trusted)
			if blocked == nil && (dep != "") == pass {
				return name, dep, nil
			}
			if blocked != nil && !pass {
				why = append(why, blocked.Reason)
			}
		}
	}
	if trusted {
		return "", "", notReady("no node of cluster %s can run a trusted-launch VM: %s", cp.spec.Name, strings.Join(why, "; "))
	}
	return "", "", notReady("no node of cluster %s is Up; plan again once one is", cp.spec.Name)
}

// notReady is a node-not-ready block with a formatted reason.
func notReady(format string, args ...any) *Blocked {
	return &Blocked{Code: BlockNodeNotReady, Reason: fmt.Sprintf(format, args...)}
}

func managed(o *drivers.VM) bool {
	return !o.Infrastructure && o.Annotations != nil && o.Annotations.ManagedBy == drivers.ManagedBy
}

// needsAgent reports whether the VM can only run where IgvmAgent runs: a
// trusted-launch VM, or any VM with a vTPM (its guest state must be unlocked).
func needsAgent(d *spec.VM) bool {
	return securityType(d) == spec.SecurityTrustedLaunch || d.VTPM.Enabled
}

func securityType(d *spec.VM) string {
	if d.SecurityType == "" {
		return spec.SecurityTrustedLaunch
	}
	return d.SecurityType
}

func wantPower(d *spec.VM) drivers.PowerState {
	if d.Power == spec.PowerOff {
		return drivers.PowerOff
	}
	return drivers.PowerRunning
}

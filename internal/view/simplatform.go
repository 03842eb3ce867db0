package view

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// SimPlatformFormatVersion is the format_version of `sim platform --format json`.
const SimPlatformFormatVersion = "1"

// SimPlatformDoc is the simulated Azure Local as `tlreconcile sim platform
// --format json` reports it: its clusters and the faults injected into its
// ARM. The field names are a contract for scripts; lists are [] when empty,
// never null. Key material never appears, not even its fingerprint.
type SimPlatformDoc struct {
	FormatVersion string               `json:"format_version"`
	Clusters      []SimPlatformCluster `json:"clusters"`
	ARMFaults     []SimPlatformFault   `json:"arm_faults"`
}

// SimPlatformCluster is one simulated cluster.
type SimPlatformCluster struct {
	Name           string            `json:"name"`
	CustomLocation string            `json:"custom_location"`
	Nodes          []SimPlatformNode `json:"nodes"`
	VMs            []SimPlatformVM   `json:"vms"`
}

// SimPlatformNode is one node with its host agents and live migration.
type SimPlatformNode struct {
	Name                   string            `json:"name"`
	Status                 string            `json:"status"`
	Agents                 map[string]string `json:"agents"` // IGVmAgent, wssdagent, wssdcloudagent
	LiveMigration          string            `json:"live_migration"`
	LiveMigrationEncrypted bool              `json:"live_migration_encrypted"`
}

// Roles of a VM on the platform.
const (
	RoleArc            = "arc"            // an Azure Local VM, created through ARM
	RoleLocal          = "local"          // created with local tools: unmanaged
	RoleInfrastructure = "infrastructure" // the Arc resource bridge: never planned against
)

// SimPlatformVM is one Hyper-V VM as its owner node and the key vault show it.
type SimPlatformVM struct {
	Name          string   `json:"name"`
	VMID          string   `json:"vm_id"`
	Node          string   `json:"node"`
	Power         string   `json:"power"`
	Role          string   `json:"role"`
	TrustedLaunch bool     `json:"trusted_launch"`
	Processors    int      `json:"processors"`
	MemoryMB      int64    `json:"memory_mb"`
	KeyPresent    bool     `json:"key_present"`
	KeyID         string   `json:"key_id,omitempty"`
	StateMissing  bool     `json:"state_missing"`
	FileOwner     string   `json:"file_owner"`
	FileACL       []string `json:"file_acl"`
	ACLRestricted bool     `json:"acl_restricted"`
	VTPMResets    int      `json:"vtpm_resets"`
	VTPMIdentity  string   `json:"vtpm_identity"` // "" when it cannot be read (no key, no vTPM)
}

// SimPlatformFault is one injected ARM fault, durations as Go writes them
// ("250ms"), "" when unset.
type SimPlatformFault struct {
	Operation  string `json:"operation"`
	Latency    string `json:"latency,omitempty"`
	Throttle   int    `json:"throttle,omitempty"`
	RetryAfter string `json:"retry_after,omitempty"`
	Transient  int    `json:"transient,omitempty"`
	Status     int    `json:"status,omitempty"`
	FailLRO    int    `json:"fail_lro,omitempty"`
	// OutputLimit keeps the last N bytes of a run command's output.
	OutputLimit int `json:"output_limit,omitempty"`
}

// NewSimPlatformDoc builds the document from what the cluster and ARM report.
func NewSimPlatformDoc(clusters []cluster.ClusterState, faults []arm.Fault) SimPlatformDoc {
	doc := SimPlatformDoc{FormatVersion: SimPlatformFormatVersion, Clusters: []SimPlatformCluster{}, ARMFaults: SimPlatformFaults(faults)}
	for _, c := range clusters {
		pc := SimPlatformCluster{Name: c.Name, CustomLocation: c.CustomLocation, Nodes: []SimPlatformNode{}, VMs: []SimPlatformVM{}}
		for _, n := range c.Nodes {
			agents := map[string]string{}
			for a, s := range n.Agents {
				agents[string(a)] = string(s)
			}
			pc.Nodes = append(pc.Nodes, SimPlatformNode{Name: n.Name, Status: string(n.Status), Agents: agents,
				LiveMigration: string(n.LiveMigration), LiveMigrationEncrypted: n.Encrypted})
		}
		for _, v := range c.VMs {
			pc.VMs = append(pc.VMs, simPlatformVM(v))
		}
		doc.Clusters = append(doc.Clusters, pc)
	}
	return doc
}

func simPlatformVM(v cluster.VMState) SimPlatformVM {
	role := RoleLocal
	switch {
	case v.Infrastructure:
		role = RoleInfrastructure
	case v.Managed:
		role = RoleArc
	}
	acl := slices.Clone(v.ACL)
	if acl == nil {
		acl = []string{}
	}
	return SimPlatformVM{Name: v.Name, VMID: v.VMID, Node: v.Node, Power: string(v.Power), Role: role,
		TrustedLaunch: v.GuestStateIsolationType == "TrustedLaunch", Processors: v.Processors, MemoryMB: v.MemoryMB,
		KeyPresent: v.KeyPresent, KeyID: v.KeyID, StateMissing: v.StateMissing, FileOwner: v.Owner, FileACL: acl,
		ACLRestricted: v.ACLRestricted, VTPMResets: v.Resets, VTPMIdentity: v.Identity}
}

// SimPlatformFaults converts ARM faults for display, [] when there are none.
func SimPlatformFaults(faults []arm.Fault) []SimPlatformFault {
	out := []SimPlatformFault{}
	for _, f := range faults {
		pf := SimPlatformFault{Operation: f.Operation, Throttle: f.Throttle, Transient: f.Transient, Status: f.Status, FailLRO: f.FailAsync, OutputLimit: f.OutputLimit}
		if f.Latency > 0 {
			pf.Latency = f.Latency.String()
		}
		if f.RetryAfter > 0 {
			pf.RetryAfter = f.RetryAfter.String()
		}
		out = append(out, pf)
	}
	return out
}

// SimPlatform renders the simulated Azure Local as text (per cluster a node
// table and a VM table, then the ARM faults) or as the JSON document, chosen
// once from --format.
func SimPlatform(w io.Writer, format string, doc SimPlatformDoc) error {
	switch format {
	case FormatText, "":
		var b strings.Builder
		for i, c := range doc.Clusters {
			if i > 0 {
				b.WriteString("\n")
			}
			simPlatformCluster(&b, c)
		}
		simPlatformFaultList(&b, doc.ARMFaults)
		_, err := io.WriteString(w, b.String())
		return err
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	return fmt.Errorf("format %q: unknown; use text or json", format)
}

func simPlatformCluster(b *strings.Builder, c SimPlatformCluster) {
	fmt.Fprintf(b, "cluster/%s (simulated Azure Local, custom location %s)\n\n", c.Name, c.CustomLocation)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATUS\tIGVMAGENT\tWSSDAGENT\tCLOUDAGENT\tLIVE-MIGRATION")
	for _, n := range c.Nodes {
		lm := n.LiveMigration + ", unencrypted"
		if n.LiveMigrationEncrypted {
			lm = n.LiveMigration + ", encrypted"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Status, n.Agents[string(cluster.AgentIGVm)],
			n.Agents[string(cluster.AgentNode)], n.Agents[string(cluster.AgentCloud)], lm)
	}
	_ = tw.Flush()
	b.WriteString("\n")
	if len(c.VMs) == 0 {
		b.WriteString("no VMs\n")
		return
	}
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tVM-ID\tNODE\tPOWER\tTRUSTED-LAUNCH\tKEY\tFILES\tVTPM-ID\tRESETS\tROLE")
	for _, v := range c.VMs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", v.Name, v.VMID, v.Node, v.Power, yesNo(v.TrustedLaunch),
			simPlatformKey(v), simPlatformFiles(v), simPlatformIdentity(v), v.VTPMResets, simPlatformRole(v))
	}
	_ = tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// simPlatformKey is the guest state protection key's presence, "-" for a VM
// without a vTPM (nothing to protect).
func simPlatformKey(v SimPlatformVM) string {
	switch {
	case !v.TrustedLaunch:
		return "-"
	case v.KeyPresent:
		return "present"
	}
	return "missing"
}

// simPlatformFiles is the verdict on the state files' ACL, and says when the
// guest state file the VM names is gone.
func simPlatformFiles(v SimPlatformVM) string {
	verdict := "open"
	if v.ACLRestricted {
		verdict = "restricted"
	}
	if v.StateMissing {
		verdict += ", state missing"
	}
	return verdict
}

// simPlatformIdentity shortens the vTPM identity to 12 characters, enough to
// see it change; "unknown" is a trusted-launch VM whose vTPM cannot be read.
func simPlatformIdentity(v SimPlatformVM) string {
	switch {
	case len(v.VTPMIdentity) >= 12:
		return v.VTPMIdentity[:12]
	case v.TrustedLaunch:
		return "unknown"
	}
	return "-"
}

func simPlatformRole(v SimPlatformVM) string {
	switch v.Role {
	case RoleInfrastructure:
		return "infrastructure (Arc resource bridge)"
	case RoleLocal:
		return "local (unmanaged)"
	}
	return v.Role
}

func simPlatformFaultList(b *strings.Builder, faults []SimPlatformFault) {
	if len(faults) == 0 {
		return
	}
	b.WriteString("\nARM faults (clear with `tlreconcile sim arm-fault --clear`):\n")
	for _, f := range faults {
		fmt.Fprintf(b, "  %s: %s\n", f.Operation, strings.Join(SimPlatformFaultEffects(f), ", "))
	}
}

// SimPlatformFaultEffects lists what a fault still does, in words.
func SimPlatformFaultEffects(f SimPlatformFault) []string {
	var what []string
	if f.Latency != "" {
		what = append(what, "latency "+f.Latency)
	}
	if f.Throttle > 0 {
		ra := f.RetryAfter
		if ra == "" {
			ra = "1s"
		}
		what = append(what, fmt.Sprintf("throttle next %d (429, Retry-After %s)", f.Throttle, ra))
	}
	if f.Transient > 0 {
		st := f.Status
		if st == 0 {
			st = 503
		}
		what = append(what, fmt.Sprintf("fail next %d with %d", f.Transient, st))
	}
	if f.FailLRO > 0 {
		what = append(what, fmt.Sprintf("fail next %d long-running operations", f.FailLRO))
	}
	if f.OutputLimit > 0 {
		what = append(what, fmt.Sprintf("run command output cut to its last %d bytes", f.OutputLimit))
	}
	if len(what) == 0 {
		what = append(what, "used up")
	}
	return what
}

// SimARMFaults renders the faults injected into the simulated ARM, as text
// (one line each, or a line saying there are none) or as a JSON array.
func SimARMFaults(w io.Writer, format string, faults []arm.Fault) error {
	list := SimPlatformFaults(faults)
	switch format {
	case FormatText, "":
		var b strings.Builder
		if len(list) == 0 {
			b.WriteString("no ARM faults injected\n")
		}
		for _, f := range list {
			fmt.Fprintf(&b, "%s: %s\n", f.Operation, strings.Join(SimPlatformFaultEffects(f), ", "))
		}
		_, err := io.WriteString(w, b.String())
		return err
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	return fmt.Errorf("format %q: unknown; use text or json", format)
}

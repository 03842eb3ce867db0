package view

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
)

// SimCluster is one simulated cluster as `tlreconcile sim show` reports it:
// what the sim driver observes, the vTPM backend behind it and the faults
// injected into it. Its JSON form is the `sim show --format json` document
// that scripts and CI read, so the field names are a contract.
type SimCluster struct {
	Backend  string             `json:"vtpm_backend"`
	Observed *drivers.Observed  `json:"observed"`
	Faults   []sim.Fault        `json:"faults"` // [] when none, never null
	Ref      drivers.ClusterRef `json:"ref"`
}

// SimShow renders c as text (a node table, a VM table, the injected faults)
// or as the indented JSON document, so `sim show` picks its layout once from
// --format and never formats anything itself.
func SimShow(w io.Writer, format string, c SimCluster) error {
	c.Faults = nonNilFaults(c.Faults)
	switch format {
	case FormatText, "":
		return simShowText(w, c)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	return fmt.Errorf("format %q: unknown; use text or json", format)
}

// nonNilFaults keeps "faults": [] in the JSON document when nothing is injected.
func nonNilFaults(f []sim.Fault) []sim.Fault {
	if f == nil {
		return []sim.Fault{}
	}
	return f
}

// simShowText builds the whole text in memory so a failed write leaves no
// half table behind a successful one.
func simShowText(w io.Writer, c SimCluster) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster/%s (sim, vTPM backend %s)\n\n", c.Observed.Cluster, c.Backend)
	simNodeTable(&b, c.Observed.Nodes)
	b.WriteString("\n")
	simVMTable(&b, c.Observed.VMs)
	simFaultList(&b, c.Faults)
	_, err := io.WriteString(w, b.String())
	return err
}

func simNodeTable(b *strings.Builder, nodes []drivers.Node) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tIGVMAGENT\tMIGRATION-IPSEC")
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.State, n.IgvmAgent, onOffWord(n.MigrationIPsec))
	}
	_ = tw.Flush()
}

func simVMTable(b *strings.Builder, vms []drivers.VM) {
	if len(vms) == 0 {
		b.WriteString("no VMs\n")
		return
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tNODE\tPOWER\tGEN\tSECURITY\tCPU\tMEMORY\tSECURE-BOOT\tTPM\tKEY-PROT\tVBS\tENCRYPT\tFILES\tVTPM-ID\tMANAGED")
	for _, v := range vms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d MB\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			v.Name, v.Node, v.Power, v.Generation, v.SecurityType, v.Processors, v.MemoryMB,
			simSecureBoot(v), simTPM(v), onOffWord(v.KeyProtector), simVBS(v), onOffWord(v.EncryptState),
			v.FileAccess, simVTPMID(v), simManaged(v))
	}
	_ = tw.Flush()
}

// simSecureBoot names the template when Secure Boot is on, because the
// template is what a drift usually changes.
func simSecureBoot(v drivers.VM) string {
	if v.SecureBoot {
		return v.SecureBootTemplate
	}
	return "off"
}

func simTPM(v drivers.VM) string {
	if v.TPMEnabled && v.VTPMInitialized {
		return "on, initialised"
	}
	return onOffWord(v.TPMEnabled)
}

func simVBS(v drivers.VM) string {
	if v.VBSOptOut {
		return "opted out"
	}
	return "allowed"
}

// simVTPMID shortens the identity to 12 characters, enough to see it change
// across a failover; "unknown" is a vTPM whose identity could not be read.
func simVTPMID(v drivers.VM) string {
	switch {
	case len(v.VTPMIdentity) >= 12:
		return v.VTPMIdentity[:12]
	case v.TPMEnabled:
		return "unknown"
	}
	return "-"
}

// simManaged shows the raw managed-by annotation, not yes/no as `show` does,
// because sim drift can set it to anything.
func simManaged(v drivers.VM) string {
	if v.Annotations != nil {
		return v.Annotations.ManagedBy
	}
	return "no"
}

func simFaultList(b *strings.Builder, faults []sim.Fault) {
	if len(faults) == 0 {
		return
	}
	b.WriteString("\ninjected faults (clear with `tlreconcile sim inject --clear`):\n")
	for _, f := range faults {
		fmt.Fprintf(b, "  %s: %s\n", f.Op, strings.Join(simFaultEffects(f), ", "))
	}
}

// simFaultEffects lists what a fault still does; a fault whose fail count is
// used up and that has no latency does nothing, and says so.
func simFaultEffects(f sim.Fault) []string {
	var what []string
	if f.FailAlways {
		what = append(what, "fail always")
	}
	if f.Fail > 0 {
		what = append(what, fmt.Sprintf("fail next %d", f.Fail))
	}
	if f.Latency > 0 {
		what = append(what, "latency "+f.Latency.String())
	}
	if len(what) == 0 {
		what = append(what, "used up")
	}
	return what
}

// SimChange is what one `tlreconcile sim` control did to a cluster: the
// resource it changed (vm/NAME, node/NAME, cluster/NAME) and a short summary.
type SimChange struct {
	Resource string
	Summary  string
}

// SimChanged writes the one line a sim control prints after it changed
// something, "vm/avd-01: drifted secureBoot=false"; scripts grep for it.
func SimChanged(w io.Writer, c SimChange) error {
	_, err := fmt.Fprintf(w, "%s: %s\n", c.Resource, c.Summary)
	return err
}

// SimInit is the outcome of `tlreconcile sim init` for one cluster.
type SimInit struct {
	Cluster string
	Nodes   []string
	Created bool // false: it existed already with these nodes
}

// SimInitialised writes the line `sim init` prints per cluster, saying
// whether it was created or existed already, so running init twice is visibly
// harmless.
func SimInitialised(w io.Writer, r SimInit) error {
	verb := "exists already"
	if r.Created {
		verb = "created"
	}
	return SimChanged(w, SimChange{Resource: "cluster/" + r.Cluster, Summary: fmt.Sprintf("%s (nodes %s)", verb, strings.Join(r.Nodes, ", "))})
}

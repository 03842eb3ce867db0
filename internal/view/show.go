package view

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// Show renders observations and the findings beside them: text (a node table
// and a VM table per cluster, then the findings) or json (the versioned
// snapshot document that `plan --observed FILE` reads).
func Show(w io.Writer, format string, observed map[string]*drivers.Observed, findings []plan.Finding) error {
	switch format {
	case FormatText, "":
		return showText(w, observed, findings)
	case FormatJSON:
		return plan.WriteObserved(w, observed, findings)
	}
	return fmt.Errorf("format %q: unknown; use text or json", format)
}

func showText(w io.Writer, observed map[string]*drivers.Observed, findings []plan.Finding) error {
	names := make([]string, 0, len(observed))
	for n, o := range observed {
		if o != nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		o := observed[name]
		fmt.Fprintf(&b, "cluster/%s (driver %s), observed at %s\n\n", o.Cluster, o.Driver, o.ObservedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NODE\tSTATE\tIGVMAGENT\tMIGRATION IPSEC")
		for _, n := range o.Nodes {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", n.Name, n.State, n.IgvmAgent, onOffWord(n.MigrationIPsec))
		}
		_ = tw.Flush()
		b.WriteString("\n")
		if len(o.VMs) == 0 {
			b.WriteString("  no VMs\n\n")
			continue
		}
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  VM\tPOWER\tNODE\tGEN\tSECURITY\tSECURE BOOT\tTPM\tKEY PROTECTOR\tVBS\tENCRYPT STATE\tFILE ACCESS\tVTPM IDENTITY\tMANAGED")
		for _, v := range o.VMs {
			sb := "off"
			if v.SecureBoot {
				sb = "on (" + v.SecureBootTemplate + ")"
			}
			kp := "none"
			if v.KeyProtector {
				kp = "yes " + shortID(v.KeyProtectorSHA256)
			}
			vbs := "allowed"
			if v.VBSOptOut {
				vbs = "opted out"
			}
			id := shortID(v.VTPMIdentity)
			if v.VTPMIdentity == "" && v.TPMEnabled {
				id = "unknown"
			}
			managed := "no"
			if v.Annotations != nil && v.Annotations.ManagedBy == drivers.ManagedBy {
				managed = "yes"
				if v.Annotations.Protect {
					managed += " (protected)"
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				v.Name, v.Power, v.Node, v.Generation, v.SecurityType, sb, onOffWord(v.TPMEnabled), kp, vbs, onOffWord(v.EncryptState), v.FileAccess, id, managed)
		}
		_ = tw.Flush()
		b.WriteString("\n")
		showAttestations(&b, o.VMs)
	}
	if len(findings) > 0 {
		b.WriteString("Findings:\n")
		for _, f := range findings {
			fmt.Fprintf(&b, "  %s %s [%s] %s\n", findingMark(f.Severity), f.Severity, f.Rule, f.Message)
		}
	} else {
		b.WriteString("No findings.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// showAttestations lists the last attestation of every VM that has one
// (nothing when none has: classic Hyper-V, or spec.attestation not used).
func showAttestations(b *strings.Builder, vms []drivers.VM) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	n := 0
	for _, v := range vms {
		a := v.Attestation
		if a == nil {
			continue
		}
		if n == 0 {
			fmt.Fprintln(tw, "  ATTESTED VM\tRESULT\tAT\tNODE\tSECURE BOOT\tBOOT\tBASELINE")
		}
		n++
		result := a.Result
		if a.Problem != "" {
			result += " (" + a.Problem + ")"
		}
		sb := "-"
		if a.SecureBoot != nil {
			sb = onOffWord(*a.SecureBoot)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, result, a.Time.UTC().Format("2006-01-02 15:04:05 UTC"), a.Node, sb, orDash(a.Boot), orDash(a.Baseline))
	}
	_ = tw.Flush()
	if n > 0 {
		b.WriteString("\n")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func onOffWord(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func shortID(id string) string {
	if id == "" {
		return "-"
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

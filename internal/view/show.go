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

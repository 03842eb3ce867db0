package azurelocal

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The last attestation of a VM is two ARM tags on its Arc machine, beside
// the annotations (set-annotations keeps them): a record of key=value
// fields, and the boot components for messages.
//
//	tlreconcile-attestation       v=1 t=2026-12-02T19:00:00Z r=verified n=node1 ak=<32 hex> sb=1 ci=1 vbs=1 ts=0 dbg=0 boot=<12 hex> base=<12 hex> p=<code>
//	tlreconcile-attestation-boot  \EFI\Microsoft\Boot\bootmgfw.efi;...
const (
	tagAttestation     = "tlreconcile-attestation"
	tagAttestationBoot = "tlreconcile-attestation-boot"
)

// attestRecord is the tag's content: the drivers.Attested the planner sees
// and the recorded AK's fingerprint (the AK bound to the EK at first contact).
type attestRecord struct {
	drivers.Attested
	AK string
}

var (
	attestHex  = regexp.MustCompile(`^[0-9a-f]{1,64}$`)
	attestCode = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)
	attestNode = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// formatAttestation is the record tag's value (within ARM's 256 characters:
// every field is bounded).
func formatAttestation(r attestRecord) string {
	f := []string{"v=1", "t=" + r.Time.UTC().Format(time.RFC3339), "r=" + r.Result}
	add := func(k, v string) {
		if v != "" {
			f = append(f, k+"="+v)
		}
	}
	add("n", r.Node)
	add("ak", r.AK)
	for _, b := range []struct {
		k string
		v *bool
	}{{"sb", r.SecureBoot}, {"ci", r.CodeIntegrity}, {"vbs", r.VBSRunning}, {"ts", r.TestSigning}, {"dbg", r.Debugging}} {
		if b.v != nil {
			add(b.k, map[bool]string{true: "1", false: "0"}[*b.v])
		}
	}
	add("boot", r.Boot)
	add("base", r.Baseline)
	add("p", r.Problem)
	return strings.Join(f, " ")
}

// parseAttestation reads the record tag (and the boot tag); a value
// tlreconcile never writes is an error naming the field.
func parseAttestation(record, boot string) (attestRecord, error) {
	var r attestRecord
	fields := strings.Fields(record)
	if len(fields) == 0 || fields[0] != "v=1" {
		return r, fmt.Errorf("tag %s is %q: want the v=1 record tlreconcile writes", tagAttestation, truncate(record, 60))
	}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return r, fmt.Errorf("tag %s: %q is not key=value", tagAttestation, truncate(f, 40))
		}
		if err := r.set(k, v); err != nil {
			return r, fmt.Errorf("tag %s: %s: %w", tagAttestation, k, err)
		}
	}
	if r.Time.IsZero() || r.Result == "" {
		return r, fmt.Errorf("tag %s lacks t= or r=", tagAttestation)
	}
	if boot != "" {
		r.Components = strings.Split(boot, ";")
	}
	return r, nil
}

func (r *attestRecord) set(k, v string) error {
	check := func(re *regexp.Regexp) error {
		if !re.MatchString(v) {
			return fmt.Errorf("%q is not a value tlreconcile writes", truncate(v, 40))
		}
		return nil
	}
	switch k {
	case "t":
		t, err := time.Parse(time.RFC3339, v)
		r.Time = t
		return err
	case "r":
		if v != drivers.AttestVerified && v != drivers.AttestFailed && v != drivers.AttestUnavailable {
			return fmt.Errorf("%q: want verified, failed or unavailable", truncate(v, 40))
		}
		r.Result = v
	case "n":
		r.Node = v
		return check(attestNode)
	case "ak", "boot", "base":
		*map[string]*string{"ak": &r.AK, "boot": &r.Boot, "base": &r.Baseline}[k] = v
		return check(attestHex)
	case "p":
		r.Problem = v
		return check(attestCode)
	case "sb", "ci", "vbs", "ts", "dbg":
		if v != "0" && v != "1" {
			return fmt.Errorf("%q: want 0 or 1", truncate(v, 40))
		}
		b := v == "1"
		*map[string]**bool{"sb": &r.SecureBoot, "ci": &r.CodeIntegrity, "vbs": &r.VBSRunning, "ts": &r.TestSigning, "dbg": &r.Debugging}[k] = &b
	default:
		return fmt.Errorf("unknown field (edited by hand?)")
	}
	return nil
}

// bootTag is the components joined with ";", whole components only, within
// ARM's limit.
func bootTag(components []string) string {
	var b strings.Builder
	for _, c := range components {
		c = strings.ReplaceAll(c, ";", "_")
		if b.Len()+len(c)+1 > maxTagValue {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(c)
	}
	return b.String()
}

// attestationOf is the VM's last attestation from its machine's tags; nil
// when none, or when the tag was edited into something tlreconcile never
// writes (then the VM is attested again, as if never).
func attestationOf(tags map[string]string) (*drivers.Attested, string) {
	v, ok := tags[tagAttestation]
	if !ok {
		return nil, ""
	}
	r, err := parseAttestation(v, tags[tagAttestationBoot])
	if err != nil {
		return nil, ""
	}
	return &r.Attested, r.AK
}

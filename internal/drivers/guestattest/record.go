package guestattest

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The text form of a Record: key=value fields, every one bounded, so that
// the whole fits MaxRecord characters (an ARM tag value; a Notes line):
//
//	v=1 t=2026-12-02T19:00:00Z r=verified n=node1 ak=<32 hex> sb=1 ci=1 vbs=1 ts=0 dbg=0 boot=<12 hex> base=<12 hex> p=<code>
//
// The boot components travel beside it (the driver decides how many fit).

// MaxRecord is the longest Format result.
const MaxRecord = 256

var (
	recordAK   = regexp.MustCompile(`^[0-9a-f]{32}$`) // the AK fingerprint's first 16 bytes
	recordBoot = regexp.MustCompile(`^[0-9a-f]{12}$`) // drivers.BootDigest
	recordCode = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)
	recordNode = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// Format is the record's text form.
func Format(r Record) string {
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

// Parse reads a record's text form and its boot components (joined with
// ";"); a value tlreconcile never writes is an error naming the field. what
// names where the record was read from (e.g. "tag tlreconcile-attestation").
func Parse(what, record, boot string) (Record, error) {
	var r Record
	fields := strings.Fields(record)
	if len(fields) == 0 || fields[0] != "v=1" {
		return r, fmt.Errorf("%s is %q: want the v=1 record tlreconcile writes", what, clip(record, 60))
	}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return r, fmt.Errorf("%s: %q is not key=value", what, clip(f, 40))
		}
		if err := r.set(k, v); err != nil {
			return r, fmt.Errorf("%s: %s: %w", what, k, err)
		}
	}
	if r.Time.IsZero() || r.Result == "" {
		return r, fmt.Errorf("%s lacks t= or r=", what)
	}
	if boot != "" {
		r.Components = strings.Split(boot, ";")
	}
	return r, nil
}

func (r *Record) set(k, v string) error {
	check := func(re *regexp.Regexp) error {
		if !re.MatchString(v) {
			return fmt.Errorf("%q is not a value tlreconcile writes", clip(v, 40))
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
			return fmt.Errorf("%q: want verified, failed or unavailable", clip(v, 40))
		}
		r.Result = v
	case "n":
		r.Node = v
		return check(recordNode)
	case "ak":
		r.AK = v
		return check(recordAK)
	case "boot", "base":
		*map[string]*string{"boot": &r.Boot, "base": &r.Baseline}[k] = v
		return check(recordBoot)
	case "p":
		r.Problem = v
		return check(recordCode)
	case "sb", "ci", "vbs", "ts", "dbg":
		if v != "0" && v != "1" {
			return fmt.Errorf("%q: want 0 or 1", clip(v, 40))
		}
		b := v == "1"
		*map[string]**bool{"sb": &r.SecureBoot, "ci": &r.CodeIntegrity, "vbs": &r.VBSRunning, "ts": &r.TestSigning, "dbg": &r.Debugging}[k] = &b
	default:
		return fmt.Errorf("unknown field (edited by hand?)")
	}
	return nil
}

// JoinComponents is components joined with ";" (a ";" inside one becomes
// "_"), whole components only, within max bytes.
func JoinComponents(components []string, max int) string {
	var b strings.Builder
	for _, c := range components {
		c = strings.ReplaceAll(c, ";", "_")
		if b.Len()+len(c)+1 > max {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(c)
	}
	return b.String()
}

// Of is the attestation a stored record shows, with the bound AK; nil when
// there is no record or it was edited into something tlreconcile never
// writes (then the VM is attested again, as if never).
func Of(record, boot string) (*drivers.Attested, string) {
	if record == "" {
		return nil, ""
	}
	r, err := Parse("the attestation record", record, boot)
	if err != nil {
		return nil, ""
	}
	return &r.Attested, r.AK
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

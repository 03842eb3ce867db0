package hyperv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/guestattest"
)

// The annotation block tlreconcile keeps at the end of a VM's Notes; everything else in the
// Notes is the administrator's and is kept byte for byte.
const (
	NotesBegin = "--- tlreconcile:begin ---"
	NotesEnd   = "--- tlreconcile:end ---"
)

// maxNotesLine bounds the JSON line of a block: a real one is a few hundred bytes.
const maxNotesLine = 64 << 10

// block is the JSON line between the markers: the annotations and, once the attest op ran,
// the last attestation's record (guestattest.Format) with its boot components.
type block struct {
	drivers.Annotations
	Attestation     string `json:"attestation,omitempty"`
	AttestationEK   string `json:"attestation_ek,omitempty"` // the EK fingerprint it was made under
	AttestationBoot string `json:"attestation_boot,omitempty"`
}

// maxBootComponents bounds the boot components a block keeps (for messages; the record's
// digest covers them all).
const maxBootComponents = 2 << 10

// ParseNotes finds tlreconcile's block in a VM's Notes: the last end-marker line and the
// nearest begin-marker line before it, with one JSON line between them whose managed_by is
// "tlreconcile". It returns the annotations, the administrator's text (the Notes without the
// block and its separating "\n" or "\r\n") and whether a valid block was found. Anything else
// (no block, a broken or hostile one) means "not managed": the whole text is the admin's.
func ParseNotes(notes string) (*drivers.Annotations, string, bool) {
	b, admin, ok := parseBlock(notes)
	if !ok {
		return nil, admin, false
	}
	return &b.Annotations, admin, true
}

func parseBlock(notes string) (*block, string, bool) {
	lines := splitLines(notes)
	end := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i].text == NotesEnd {
			end = i
			break
		}
	}
	if end < 2 || lines[end-2].text != NotesBegin {
		return nil, notes, false
	}
	body := lines[end-1].text
	if len(body) > maxNotesLine {
		return nil, notes, false
	}
	var b block
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || dec.More() || b.ManagedBy != drivers.ManagedBy {
		return nil, notes, false
	}
	start := lines[end-2].start
	before := notes[:start]
	if bb, ok := strings.CutSuffix(before, "\r\n"); ok {
		before = bb
	} else {
		before = strings.TrimSuffix(before, "\n")
	}
	after := notes[lines[end].next:]
	admin := before
	if after != "" {
		if admin != "" {
			admin += "\n"
		}
		admin += after
	}
	return &b, admin, true
}

// RenderNotes puts the block for a after the administrator's text; a nil a removes the block.
// ParseNotes(RenderNotes(admin, a)) gives back a and admin exactly.
func RenderNotes(admin string, a *drivers.Annotations) string {
	if a == nil {
		return admin
	}
	return renderBlock(admin, &block{Annotations: *a})
}

func renderBlock(admin string, b *block) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(b) // a struct of strings and a bool always encodes
	text := NotesBegin + "\n" + strings.TrimSuffix(buf.String(), "\n") + "\n" + NotesEnd
	switch {
	case admin == "":
		return text
	case strings.HasSuffix(admin, "\r"):
		// ParseNotes takes a "\r\n" before the block as the separator: keep this "\r".
		return admin + "\r\n" + text
	}
	return admin + "\n" + text
}

// MergeNotes replaces (or adds) the block's annotations in notes, keeping the administrator's
// text and the last attestation. A new vTPM identity (a reset tlreconcile made, or a lost vTPM
// accepted) releases the EK pinned by the last attestation: the next one binds the new vTPM.
func MergeNotes(notes string, a *drivers.Annotations) string {
	old, admin, ok := parseBlock(notes)
	if a == nil {
		return admin
	}
	b := &block{Annotations: *a}
	if ok {
		b.Attestation, b.AttestationEK, b.AttestationBoot = old.Attestation, old.AttestationEK, old.AttestationBoot
		if old.VTPMIdentity != a.VTPMIdentity {
			b.AttestationEK = ""
		}
	}
	return renderBlock(admin, b)
}

// NotesAttestation is the last attestation recorded in a VM's Notes and the AK it bound; nil
// when none (or when the record was edited into something tlreconcile never writes).
func NotesAttestation(notes string) (*drivers.Attested, string) {
	b, _, ok := parseBlock(notes)
	if !ok {
		return nil, ""
	}
	a, ak := guestattest.Of(b.Attestation, b.AttestationBoot)
	if a != nil && ekPattern.MatchString(b.AttestationEK) {
		a.EK = b.AttestationEK
	}
	return a, ak
}

// ekPattern is an EK fingerprint (the hex sha256 of its public area).
var ekPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// WithAttestation is notes with rec as the block's last attestation: everything else, the
// administrator's text included, stays. A VM whose Notes have no block is not tlreconcile's.
func WithAttestation(notes string, rec guestattest.Record) (string, error) {
	b, admin, ok := parseBlock(notes)
	if !ok {
		return "", fmt.Errorf("its Notes have no tlreconcile block, so it is not a VM tlreconcile manages: %w", drivers.ErrPrecondition)
	}
	b.Attestation = guestattest.Format(rec)
	b.AttestationEK = rec.EK
	b.AttestationBoot = guestattest.JoinComponents(rec.Components, maxBootComponents)
	return renderBlock(admin, b), nil
}

type line struct {
	text        string // without "\n" and a trailing "\r"
	start, next int    // byte offsets: where the line starts, where the next begins
}

func splitLines(s string) []line {
	var out []line
	pos := 0
	for pos <= len(s) {
		i := strings.IndexByte(s[pos:], '\n')
		if i < 0 {
			out = append(out, line{text: strings.TrimSuffix(s[pos:], "\r"), start: pos, next: len(s)})
			break
		}
		out = append(out, line{text: strings.TrimSuffix(s[pos:pos+i], "\r"), start: pos, next: pos + i + 1})
		pos += i + 1
	}
	return out
}

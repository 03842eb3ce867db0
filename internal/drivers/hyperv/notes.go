package hyperv

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The annotation block tlreconcile keeps at the end of a VM's Notes; everything else in the
// Notes is the administrator's and is kept byte for byte.
const (
	NotesBegin = "--- tlreconcile:begin ---"
	NotesEnd   = "--- tlreconcile:end ---"
)

// maxNotesLine bounds the JSON line of a block: a real one is a few hundred bytes.
const maxNotesLine = 64 << 10

// ParseNotes finds tlreconcile's block in a VM's Notes: the last end-marker line and the
// nearest begin-marker line before it, with one JSON line between them whose managed_by is
// "tlreconcile". It returns the annotations, the administrator's text (the Notes without the
// block and its separating "\n" or "\r\n") and whether a valid block was found. Anything else
// (no block, a broken or hostile one) means "not managed": the whole text is the admin's.
func ParseNotes(notes string) (*drivers.Annotations, string, bool) {
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
	var a drivers.Annotations
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || dec.More() || a.ManagedBy != drivers.ManagedBy {
		return nil, notes, false
	}
	start := lines[end-2].start
	before := notes[:start]
	if b, ok := strings.CutSuffix(before, "\r\n"); ok {
		before = b
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
	return &a, admin, true
}

// RenderNotes puts the block for a after the administrator's text; a nil a removes the block.
// ParseNotes(RenderNotes(admin, a)) gives back a and admin exactly.
func RenderNotes(admin string, a *drivers.Annotations) string {
	if a == nil {
		return admin
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(a) // a struct of strings and a bool always encodes
	block := NotesBegin + "\n" + strings.TrimSuffix(buf.String(), "\n") + "\n" + NotesEnd
	switch {
	case admin == "":
		return block
	case strings.HasSuffix(admin, "\r"):
		// ParseNotes takes a "\r\n" before the block as the separator: keep this "\r".
		return admin + "\r\n" + block
	}
	return admin + "\n" + block
}

// MergeNotes replaces (or adds) the block in notes, keeping the administrator's text.
func MergeNotes(notes string, a *drivers.Annotations) string {
	_, admin, _ := ParseNotes(notes)
	return RenderNotes(admin, a)
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

package plan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"sort"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// jsonStream writes the plan JSON document a piece at a time: the few
// top-level objects whose lists grow with the fleet (changes, observed,
// inputs.desired.vms, inputs.positions.vms) are written element by element,
// so that the whole document never sits in memory (a 10,000-VM plan's JSON
// is 40 to 70 MB). Its output is byte for byte what json.Encoder with
// SetEscapeHTML(false) writes for the same Plan, indented with "  " when
// indent is set and compact otherwise (TestJSONStreamMatchesEncoder).
type jsonStream struct {
	w      *bufio.Writer
	indent bool
	depth  int
	first  []bool // per open object or array: no element written yet
	buf    bytes.Buffer
	enc    *json.Encoder
	err    error
}

func newJSONStream(w io.Writer, indent bool) *jsonStream {
	s := &jsonStream{w: bufio.NewWriterSize(w, 64<<10), indent: indent}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	return s
}

func (s *jsonStream) raw(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (s *jsonStream) str(v string) {
	if s.err == nil {
		_, s.err = s.w.WriteString(v)
	}
}

// newline starts a line at the current depth (indented form only).
func (s *jsonStream) newline() {
	if !s.indent {
		return
	}
	s.str("\n")
	for range s.depth {
		s.str("  ")
	}
}

// sep writes what comes before the next element of the open container.
func (s *jsonStream) sep() {
	top := len(s.first) - 1
	if !s.first[top] {
		s.str(",")
	}
	s.first[top] = false
	s.newline()
}

func (s *jsonStream) open(delim string) {
	s.str(delim)
	s.depth++
	s.first = append(s.first, true)
}

// close ends the open container; an empty one stays "{}" or "[]" on one line.
func (s *jsonStream) close(delim string) {
	s.depth--
	empty := s.first[len(s.first)-1]
	s.first = s.first[:len(s.first)-1]
	if !empty {
		s.newline()
	}
	s.str(delim)
}

// key starts the member name of the open object.
func (s *jsonStream) key(name string) {
	s.sep()
	s.value(name)
	if s.indent {
		s.str(": ")
	} else {
		s.str(":")
	}
}

// value writes v, encoded by encoding/json, at the current depth.
func (s *jsonStream) value(v any) {
	if s.err != nil {
		return
	}
	s.buf.Reset()
	if s.indent {
		prefix := make([]byte, 0, 2*s.depth)
		for range s.depth {
			prefix = append(prefix, ' ', ' ')
		}
		s.enc.SetIndent(string(prefix), "  ")
	} else {
		s.enc.SetIndent("", "")
	}
	if s.err = s.enc.Encode(v); s.err != nil {
		return
	}
	s.raw(bytes.TrimSuffix(s.buf.Bytes(), []byte("\n")))
}

// member writes "name": v.
func (s *jsonStream) member(name string, v any) {
	s.key(name)
	s.value(v)
}

// list writes "name": [ ... ] element by element (null for a nil slice, as
// encoding/json does).
func list[T any](s *jsonStream, name string, xs []T) {
	s.key(name)
	if xs == nil {
		s.str("null")
		return
	}
	s.open("[")
	for i := range xs {
		s.sep()
		s.value(&xs[i])
	}
	s.close("]")
}

// stringMap writes "name": {...} with sorted keys, one member at a time.
func (s *jsonStream) stringMap(name string, m map[string]string) {
	s.key(name)
	if m == nil {
		s.str("null")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.open("{")
	for _, k := range keys {
		s.member(k, m[k])
	}
	s.close("}")
}

// plan writes p as encoding/json would, field by field in Plan's order,
// honouring its omitempty and omitzero tags. A field added to Plan, Inputs,
// Positions or spec.Desired must be added here too:
// TestJSONStreamCoversEveryField fails until it is.
func (s *jsonStream) plan(p *Plan) error {
	s.open("{")
	s.member("format_version", p.FormatVersion)
	list(s, "changes", p.Changes)
	list(s, "findings", p.Findings)
	s.member("summary", &p.Summary)
	s.member("desired_hash", p.DesiredHash)
	s.stringMap("observed", p.Observed)
	s.member("observed_at", p.ObservedAt)
	list(s, "clusters", p.Clusters)
	if len(p.Targets) > 0 {
		s.member("targets", p.Targets)
	}
	if p.ObservedFile != "" {
		s.member("observed_file", p.ObservedFile)
	}
	if !p.PlannedAt.IsZero() {
		s.member("planned_at", p.PlannedAt)
	}
	s.key("inputs")
	s.inputs(&p.Inputs)
	s.close("}")
	s.str("\n")
	if s.err == nil {
		s.err = s.w.Flush()
	}
	return s.err
}

func (s *jsonStream) inputs(in *Inputs) {
	s.open("{")
	s.key("desired")
	s.desired(in.Desired)
	s.key("positions")
	s.open("{")
	list(s, "clusters", in.Positions.Clusters)
	list(s, "vms", in.Positions.VMs)
	list(s, "catalog", in.Positions.Catalog)
	s.close("}")
	s.member("options", &in.Options)
	s.close("}")
}

func (s *jsonStream) desired(d *spec.Desired) {
	if d == nil {
		s.str("null")
		return
	}
	s.open("{")
	list(s, "clusters", d.Clusters)
	list(s, "vms", d.VMs)
	list(s, "catalog", d.Catalog)
	list(s, "files", d.Files)
	s.close("}")
}

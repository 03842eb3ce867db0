package plan

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// maxFileBytes bounds what Read and ReadObserved accept, so that a wrong or
// padded file cannot exhaust memory: the body of a plan file as stored. A
// 10,000-VM plan is 50 to 70 MB of indented JSON in format "2" and under
// 3 MB in format "3" (BenchmarkSave10000VMs, bench/fleet.sh).
const maxFileBytes = 128 << 20

// maxPlanJSONBytes bounds the plan JSON a format "3" body inflates to
// (inflateLimit): more than 100,000 VMs of plan.
const maxPlanJSONBytes = 1 << 30

// fileMagic names a plan file in its first line.
const fileMagic = "tlreconcile-plan"

// fileHeader is the first line of a plan file: what follows, how long it is,
// and its sha256, so that Read refuses an edited or padded file while it
// reads the bytes, before it decodes anything.
type fileHeader struct {
	Format        string `json:"format"`
	FormatVersion string `json:"format_version"`
	Bytes         int64  `json:"bytes"`
	SHA256        string `json:"sha256"`
}

// Write writes p as the plan file of DESIGN §5 in file format "2": a header
// line with the length and sha256 of the body, then the body, the plan's
// indented JSON (the same document as `plan --format json`). Save writes the
// compressed format "3" instead once that body passes 1 MiB (about 150 VMs).
func Write(w io.Writer, p *Plan) error {
	var body bytes.Buffer
	if err := WriteJSON(&body, p); err != nil {
		return err
	}
	return writeSealed(w, FormatVersion, body.Bytes())
}

// writeSealed writes the header line for body, then body.
func writeSealed(w io.Writer, version string, body []byte) error {
	sum := sha256.Sum256(body)
	h, err := json.Marshal(fileHeader{Format: fileMagic, FormatVersion: version, Bytes: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return fmt.Errorf("plan: write: %w", err)
	}
	if _, err := w.Write(append(h, '\n')); err != nil {
		return fmt.Errorf("plan: write: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("plan: write: %w", err)
	}
	return nil
}

// WriteJSON writes p as indented JSON, the plan's JSON contract. It streams:
// the lists that grow with the fleet are encoded one element at a time.
func WriteJSON(w io.Writer, p *Plan) error {
	if err := newJSONStream(w, true).plan(p); err != nil {
		return fmt.Errorf("plan: write: %w", err)
	}
	return nil
}

// DigestError says a plan file's body is not what its header recorded: it
// was edited, padded or cut after tlreconcile wrote it.
type DigestError struct{ Problem string }

func (e *DigestError) Error() string {
	return "plan file: " + e.Problem + ": it was changed after `tlreconcile plan -out` wrote it, so it is not the plan that was reviewed; nothing was applied; make and review the plan again"
}

// Read reads a plan file and checks that it is one this release can apply:
// the header's length and digest while the bytes are read (a padded or
// edited file is refused before it is decoded), then the format version,
// op and action names, step ids, dependencies and ordering (Validate).
func Read(r io.Reader) (*Plan, error) {
	h, body, err := readSealed(bufio.NewReader(r))
	if err != nil {
		return nil, err
	}
	var p Plan
	if err := decodeBody(h, body, &p); err != nil {
		return nil, fmt.Errorf("plan file: not valid plan JSON: %w; write it with tlreconcile plan -out FILE", err)
	}
	if p.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("plan file: format_version %q, this tlreconcile reads %q; make the plan again with this version", p.FormatVersion, FormatVersion)
	}
	if err := Validate(&p); err != nil {
		return nil, fmt.Errorf("plan file: %w; make the plan again with tlreconcile plan -out FILE", err)
	}
	if p.Changes == nil {
		p.Changes = []Change{}
	}
	if p.Findings == nil {
		p.Findings = []Finding{}
	}
	if p.Observed == nil {
		p.Observed = map[string]string{}
	}
	if p.Clusters == nil {
		p.Clusters = []drivers.ClusterRef{}
	}
	return &p, nil
}

// readSealed reads the header line and then exactly the body it announces,
// hashing as it reads; it never holds more than the header's length (itself
// bounded by maxFileBytes) and refuses trailing bytes.
func readSealed(r *bufio.Reader) (fileHeader, []byte, error) {
	var h fileHeader
	line, err := r.ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
		return h, nil, fmt.Errorf("plan file: read: %w", err)
	}
	if json.Unmarshal(line, &h) != nil || h.Format != fileMagic {
		return h, nil, notPlanFile(line, r)
	}
	if h.FormatVersion != FormatVersion && h.FormatVersion != FileFormatGzip {
		return h, nil, fmt.Errorf("plan file: format_version %q, this tlreconcile reads %q and %q; make the plan again with this version", h.FormatVersion, FormatVersion, FileFormatGzip)
	}
	if h.Bytes <= 0 || h.Bytes > maxFileBytes {
		return h, nil, &DigestError{Problem: fmt.Sprintf("its header announces %d bytes, outside 1 to %d MiB", h.Bytes, maxFileBytes>>20)}
	}
	sum := sha256.New()
	body := make([]byte, 0, min(h.Bytes, 1<<20))
	buf := bytes.NewBuffer(body)
	n, err := io.Copy(io.MultiWriter(buf, sum), io.LimitReader(r, h.Bytes+1))
	switch {
	case err != nil:
		return h, nil, fmt.Errorf("plan file: read: %w", err)
	case n > h.Bytes:
		return h, nil, &DigestError{Problem: fmt.Sprintf("it is longer than the %d bytes its header announces", h.Bytes)}
	case n < h.Bytes:
		return h, nil, &DigestError{Problem: fmt.Sprintf("it holds %d bytes of the %d its header announces (cut short)", n, h.Bytes)}
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h.SHA256 {
		return h, nil, &DigestError{Problem: fmt.Sprintf("its content has sha256 %s, its header records %s", got, h.SHA256)}
	}
	return h, buf.Bytes(), nil
}

// notPlanFile says what a file without a plan header is, when that can be
// told from its start: an observed snapshot, or a plan's bare JSON.
func notPlanFile(first []byte, rest io.Reader) error {
	head := append(append([]byte{}, first...), readUpTo(rest, 64<<10)...)
	if bytes.Contains(head, []byte(`"observed_at"`)) && !bytes.Contains(head, []byte(`"changes"`)) {
		return errors.New("plan file: this is an observed snapshot (from tlreconcile show --format json), not a plan; plan against it with tlreconcile plan -f PATH --observed FILE -out plan.json")
	}
	if bytes.Contains(head, []byte(`"changes"`)) {
		return errors.New("plan file: this is a plan's JSON without the plan file header (from tlreconcile plan --format json, or an older release): apply only what `tlreconcile plan -out FILE` saved; make the plan again with -out")
	}
	return errors.New("plan file: not a plan file: its first line is not a tlreconcile plan header; write it with tlreconcile plan -out FILE")
}

func readUpTo(r io.Reader, n int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	return b
}

// Stale compares the fingerprints the plan recorded with a fresh observation and
// returns one line per object that changed, appeared or disappeared (nil: the
// plan still holds). Clusters missing from observed are reported too.
func Stale(p *Plan, observed map[string]*drivers.Observed) []string {
	now := map[string]string{}
	var lines []string
	targets := map[string]bool{}
	for _, t := range p.Targets {
		targets[t] = true
	}
	for _, ref := range p.Clusters {
		o := observed[ref.Name]
		if o == nil {
			lines = append(lines, fmt.Sprintf("cluster/%s: not observed now", ref.Name))
			continue
		}
		for i := range o.Nodes {
			now[drivers.Resource{Kind: drivers.KindNode, Cluster: ref.Name, Name: o.Nodes[i].Name}.Key()] = fingerprint(&o.Nodes[i])
		}
		for i := range o.VMs {
			if len(targets) > 0 && !targets["vm/"+o.VMs[i].Name] {
				continue
			}
			now[drivers.VMResource(ref.Name, o.VMs[i].Name).Key()] = fingerprint(&o.VMs[i])
		}
	}
	missing := map[string]bool{}
	for _, l := range lines {
		missing[strings.TrimSuffix(strings.TrimPrefix(l, "cluster/"), ": not observed now")] = true
	}
	for key, fp := range p.Observed {
		if missing[clusterOf(key)] {
			continue
		}
		cur, ok := now[key]
		switch {
		case !ok:
			lines = append(lines, key+": gone since the plan was made")
		case cur != fp:
			lines = append(lines, key+": changed since the plan was made")
		}
	}
	for key := range now {
		if _, ok := p.Observed[key]; !ok {
			lines = append(lines, key+": appeared since the plan was made")
		}
	}
	sort.Strings(lines)
	return lines
}

// clusterOf returns C of "node/C/N" or "vm/C/V".
func clusterOf(key string) string {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) < 3 {
		return ""
	}
	return parts[1]
}

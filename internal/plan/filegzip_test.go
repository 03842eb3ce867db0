package plan_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// streamCases are plans whose JSON the streaming writer must produce exactly
// as encoding/json does: every optional field set, nil lists and maps, no
// desired state, characters encoding/json escapes.
func streamCases(t *testing.T) map[string]*plan.Plan {
	t.Helper()
	full := samplePlan(t)
	full.Targets = []string{"vm/a", "vm/b"}
	full.ObservedFile = "obs<&>.json"
	full.PlannedAt = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	full.Inputs.Options.Resumed = map[string]bool{"vm/c1/a": true}
	full.Changes[0].Reasons = append(full.Changes[0].Reasons, "quote \" backslash \\ tab \t <html> \u2028")
	d, o := bigCluster(40, true)
	big := mustBuild(t, d, o, plan.Options{})
	nilDesired := samplePlan(t)
	nilDesired.Inputs.Desired = nil
	return map[string]*plan.Plan{
		"sample":               samplePlan(t),
		"every optional field": full,
		"40 drifted VMs":       big,
		"zero plan":            {},
		"empty lists":          {FormatVersion: plan.FormatVersion, Changes: []plan.Change{}, Findings: []plan.Finding{}, Observed: map[string]string{}, Clusters: []drivers.ClusterRef{}, Inputs: plan.Inputs{Desired: &spec.Desired{}}},
		"no desired state":     nilDesired,
	}
}

func encoderJSON(t *testing.T, p *plan.Plan, indent bool) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gunzipBody returns the header and the decompressed body of a format "3" file.
func gunzipBody(t *testing.T, file []byte) (map[string]any, []byte) {
	t.Helper()
	line, body, ok := bytes.Cut(file, []byte("\n"))
	if !ok {
		t.Fatal("plan file has no header line")
	}
	var h map[string]any
	if err := json.Unmarshal(line, &h); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("body is not gzip: %v", err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return h, js
}

// TestJSONStreamMatchesEncoder: WriteJSON (indented, the golden contract)
// and the compact JSON inside a format "3" file are byte for byte what
// encoding/json writes for the whole plan at once.
func TestJSONStreamMatchesEncoder(t *testing.T) {
	for name, p := range streamCases(t) {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			if err := plan.WriteJSON(&got, p); err != nil {
				t.Fatal(err)
			}
			if want := encoderJSON(t, p, true); !bytes.Equal(got.Bytes(), want) {
				t.Errorf("WriteJSON differs from encoding/json:\n%s\nwant:\n%s", got.Bytes(), want)
			}
			var file bytes.Buffer
			if err := plan.WriteGzip(&file, p); err != nil {
				t.Fatal(err)
			}
			_, compact := gunzipBody(t, file.Bytes())
			if want := encoderJSON(t, p, false); !bytes.Equal(compact, want) {
				t.Errorf("format 3 body differs from encoding/json's compact JSON:\n%s\nwant:\n%s", compact, want)
			}
		})
	}
}

// TestJSONStreamCoversEveryField: the streaming writer names the fields of
// the types it writes member by member; a field added to one of them must be
// added to the writer (internal/plan/jsonstream.go) and to this list.
func TestJSONStreamCoversEveryField(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[plan.Plan](), "format_version changes findings summary desired_hash observed observed_at clusters targets,omitempty observed_file,omitempty planned_at,omitzero inputs"},
		{reflect.TypeFor[plan.Inputs](), "desired positions options"},
		{reflect.TypeFor[plan.Positions](), "clusters vms catalog"},
		{reflect.TypeFor[spec.Desired](), "clusters vms catalog files"},
	}
	for _, tt := range tests {
		var tags []string
		for f := range tt.typ.Fields() {
			tags = append(tags, f.Tag.Get("json"))
		}
		if got := strings.Join(tags, " "); got != tt.want {
			t.Errorf("%s has JSON fields %q, the streaming writer writes %q: update jsonstream.go and this test", tt.typ, got, tt.want)
		}
	}
}

// TestSaveFormats: Save writes a small plan exactly as Write does (format
// "2", indented, readable by jq), a large one compressed (format "3"); Read
// gives the same plan back from both, and a round trip is byte-identical.
func TestSaveFormats(t *testing.T) {
	d, o := bigCluster(400, true)
	tests := []struct {
		name        string
		p           *plan.Plan
		wantVersion string
	}{
		{"small plan", samplePlan(t), plan.FormatVersion},
		{"400 drifted VMs", mustBuild(t, d, o, plan.Options{}), plan.FileFormatGzip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var saved, written bytes.Buffer
			if err := plan.Save(&saved, tt.p); err != nil {
				t.Fatal(err)
			}
			if err := plan.Write(&written, tt.p); err != nil {
				t.Fatal(err)
			}
			line, _, _ := bytes.Cut(saved.Bytes(), []byte("\n"))
			var h struct {
				FormatVersion string `json:"format_version"`
			}
			if err := json.Unmarshal(line, &h); err != nil || h.FormatVersion != tt.wantVersion {
				t.Fatalf("Save wrote header %s, want format_version %q", line, tt.wantVersion)
			}
			if tt.wantVersion == plan.FormatVersion && !bytes.Equal(saved.Bytes(), written.Bytes()) {
				t.Error("Save of a small plan differs from Write")
			}
			if tt.wantVersion == plan.FileFormatGzip && saved.Len()*8 > written.Len() {
				t.Errorf("format 3 file is %d bytes, format 2 %d: want at least 8 times smaller", saved.Len(), written.Len())
			}
			fromSaved, err := plan.Read(bytes.NewReader(saved.Bytes()))
			if err != nil {
				t.Fatalf("Read(Save): %v", err)
			}
			fromWritten, err := plan.Read(bytes.NewReader(written.Bytes()))
			if err != nil {
				t.Fatalf("Read(Write): %v", err)
			}
			if !reflect.DeepEqual(fromSaved, fromWritten) {
				t.Error("Read gives another plan from the format Save chose than from format 2")
			}
			var again bytes.Buffer
			if err := plan.Save(&again, fromSaved); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), saved.Bytes()) {
				t.Error("Save → Read → Save is not byte-identical")
			}
			if err := plan.Replan(fromSaved, o); tt.wantVersion == plan.FileFormatGzip && err != nil {
				t.Errorf("Replan of the plan read back: %v", err)
			}
		})
	}
}

// sealGzip is a format "3" file whose header matches body.
func sealGzip(body []byte) []byte {
	sum := sha256.Sum256(body)
	h := fmt.Sprintf(`{"format":"tlreconcile-plan","format_version":%q,"bytes":%d,"sha256":%q}`+"\n", plan.FileFormatGzip, len(body), hex.EncodeToString(sum[:]))
	return append([]byte(h), body...)
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReadGzipRejects: a format "3" file is held to the digest before it is
// decompressed, to a bound on what it decompresses to, and to the same plan
// checks as format "2".
func TestReadGzipRejects(t *testing.T) {
	d, o := bigCluster(400, true)
	p := mustBuild(t, d, o, plan.Options{})
	var good bytes.Buffer
	if err := plan.WriteGzip(&good, p); err != nil {
		t.Fatal(err)
	}
	_, js := gunzipBody(t, good.Bytes())
	_, body, _ := bytes.Cut(good.Bytes(), []byte("\n"))
	flipped := append([]byte{}, good.Bytes()...)
	flipped[len(flipped)-100] ^= 0xff
	tests := []struct {
		name, want string
		in         []byte
		digest     bool // a *DigestError
	}{
		{"a compressed byte changed", "its content has sha256", flipped, true},
		{"cut short", "cut short", good.Bytes()[:good.Len()-10], true},
		{"resealed: not gzip", "body is not gzip", sealGzip([]byte("not gzip at all")), false},
		{"resealed: truncated gzip", "does not decompress", sealGzip(body[:len(body)/2]), false},
		{"resealed: gzip of YAML", "not valid plan JSON", sealGzip(gz(t, []byte("kind: Cluster\n"))), false},
		{"resealed: decompresses far past its size", "more than any plan does", sealGzip(gz(t, bytes.Repeat([]byte(" "), 64<<20))), false},
		{"resealed: unknown op", `unknown op "format-disk"`, sealGzip(gz(t, bytes.Replace(js, []byte(`"op":"set-annotations"`), []byte(`"op":"format-disk"`), 1))), false},
		{"resealed: other JSON format_version", `format_version "1"`, sealGzip(gz(t, bytes.Replace(js, []byte(`"format_version":"2"`), []byte(`"format_version":"1"`), 1))), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plan.Read(bytes.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Read = %v, want an error containing %q", err, tt.want)
			}
			var de *plan.DigestError
			if errors.As(err, &de) != tt.digest {
				t.Errorf("Read = %v: *DigestError %t, want %t", err, !tt.digest, tt.digest)
			}
		})
	}
	if _, err := plan.Read(bytes.NewReader(good.Bytes())); err != nil {
		t.Fatalf("the untouched file: %v", err)
	}
}

func FuzzReadGzip(f *testing.F) {
	var b bytes.Buffer
	if err := plan.WriteGzip(&b, samplePlanF(f)); err != nil {
		f.Fatal(err)
	}
	_, body, _ := bytes.Cut(b.Bytes(), []byte("\n"))
	f.Add(body)
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := plan.Read(bytes.NewReader(sealGzip(body)))
		if err != nil {
			return
		}
		// Whatever Read accepts can be saved and read back.
		var out bytes.Buffer
		if err := plan.Save(&out, p); err != nil {
			t.Fatalf("Save of a plan Read accepted: %v", err)
		}
		if _, err := plan.Read(&out); err != nil {
			t.Fatalf("Read of a plan Save wrote: %v", err)
		}
	})
}

// samplePlanF is samplePlan for a fuzz target's setup.
func samplePlanF(f *testing.F) *plan.Plan {
	f.Helper()
	nodes := healthyNodes()
	nodes[1].IgvmAgent = drivers.AgentStopped
	d := desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) { v.Placement.Node = "node2" }), vmSpec("b"))
	p, err := plan.Build(d, observedOf(nodes, synced(vmSpec("b"), "node1", id1, func(o *drivers.VM) { o.Processors = 1 })), plan.Options{})
	if err != nil {
		f.Fatal(err)
	}
	return p
}

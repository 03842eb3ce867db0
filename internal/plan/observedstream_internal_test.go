package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// repeatsKeys reports whether any object in data names a member twice
// (case-insensitively, as encoding/json matches fields), or data is not JSON.
func repeatsKeys(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	var walk func() bool
	walk = func() bool {
		t, err := dec.Token()
		if err != nil {
			return true
		}
		switch t {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return true
				}
				key := strings.ToLower(k.(string))
				if seen[key] || walk() {
					return true
				}
				seen[key] = true
			}
			_, err = dec.Token()
			return err != nil
		case json.Delim('['):
			for dec.More() {
				if walk() {
					return true
				}
			}
			_, err = dec.Token()
			return err != nil
		}
		return false
	}
	return walk()
}

func snapshotSeeds() [][]byte {
	var b bytes.Buffer
	o := map[string]*drivers.Observed{
		"c1": {Cluster: "c1", Driver: "sim", ObservedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
			Nodes: []drivers.Node{{Name: "n1", State: drivers.NodeUp}},
			VMs:   []drivers.VM{{Name: "a", Power: drivers.PowerOff, Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy}}, {Name: "b", Power: drivers.PowerRunning}}},
		"c2": {Cluster: "c2", Driver: "sim"},
	}
	_ = WriteObserved(&b, o, []Finding{{Severity: SeverityInfo, Rule: "r", Resource: "vm/a", Cluster: "c1", Message: "m"}})
	return [][]byte{
		b.Bytes(),
		[]byte(`{"format_version":"1","clusters":null}`),
		[]byte(`{"format_version":"1","clusters":[null,{"cluster":"a","vms":null}]}`),
		[]byte(`{"Clusters":[{"VMS":[{"name":"v"}],"Cluster":"x"}],"FORMAT_VERSION":"1"}`),
		[]byte(`{"format_version":"1","clusters":[{"cluster":"a","vms":[{"name":1}]}]}`),
		[]byte(`{"format_version":"1","clusters":[7]}`),
		[]byte(`{"format_version":"1","clusters":[{"cluster":"a"}]} x`),
		[]byte(`{"format_version":"1","clusters":{}}`),
		[]byte(`[]`),
	}
}

// FuzzDecodeSnapshot: the streaming decoder accepts exactly what
// json.Unmarshal accepts and gives the same snapshot (for documents that do
// not name a member twice, where encoding/json's merge rules are its own).
func FuzzDecodeSnapshot(f *testing.F) {
	for _, s := range snapshotSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want Snapshot
		wantErr := json.Unmarshal(data, &want)
		got, err := decodeSnapshot(bytes.NewReader(data), maxFileBytes)
		if errors.Is(err, errIsPlan) {
			return
		}
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeSnapshot error %v, json.Unmarshal error %v", err, wantErr)
		}
		if err == nil && !repeatsKeys(data) && !reflect.DeepEqual(*got, want) {
			t.Fatalf("decodeSnapshot = %+v, json.Unmarshal = %+v", *got, want)
		}
	})
}

// TestDecodeSnapshotIsBounded: a snapshot is refused once more than its
// limit has been read, and one of exactly the limit is read.
func TestDecodeSnapshotIsBounded(t *testing.T) {
	doc := []byte(`{"format_version":"1","clusters":[{"cluster":"a","vms":[{"name":"v","power":"Off"}]}]}`)
	n := int64(len(doc))
	tests := []struct {
		name  string
		limit int64
		want  error
	}{
		{"exactly the limit", n, nil},
		{"one byte over", n - 1, errSnapshotTooBig},
		{"far over", 10, errSnapshotTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeSnapshot(bytes.NewReader(doc), tt.limit)
			if !errors.Is(err, tt.want) {
				t.Errorf("decodeSnapshot(limit %d) of %d bytes = %v, want %v", tt.limit, n, err, tt.want)
			}
		})
	}
	// A stream that never ends is refused after the limit, not read to its end.
	endless := io.MultiReader(strings.NewReader(`{"format_version":"1","clusters":[{"cluster":"a","vms":[{"name":"`), neverEnding('a'))
	if _, err := decodeSnapshot(endless, 1<<20); !errors.Is(err, errSnapshotTooBig) {
		t.Errorf("decodeSnapshot of an endless stream = %v, want errSnapshotTooBig", err)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

package plan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// errSnapshotTooBig is a snapshot larger than its limit (maxFileBytes).
var errSnapshotTooBig = errors.New("snapshot larger than the limit")

// errIsPlan is a plan (file or bare JSON) passed where a snapshot belongs.
var errIsPlan = errors.New("a plan, not a snapshot")

// limitedReader is io.LimitReader that fails once more than limit bytes
// were read (left starts at limit+1).
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errSnapshotTooBig
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left <= 0 {
		return n, errSnapshotTooBig
	}
	return n, err
}

// decodeSnapshot decodes a snapshot document as json.Unmarshal would, but
// one VM at a time, so that its text (100 MB for 100,000 VMs) is never held
// whole, only the decoded VMs. Every member other than a cluster's "vms" is
// decoded by encoding/json itself, so fields added to Snapshot or
// drivers.Observed need nothing here.
func decodeSnapshot(r io.Reader, limit int64) (*Snapshot, error) {
	br := bufio.NewReaderSize(&limitedReader{r: r, left: limit + 1}, 64<<10)
	if head, _ := br.Peek(len(`{"format":"` + fileMagic + `"`)); bytes.Equal(head, []byte(`{"format":"`+fileMagic+`"`)) {
		return nil, errIsPlan
	}
	dec := json.NewDecoder(br)
	var s Snapshot
	var rest members
	err := decodeObject(dec, func(key string) error {
		switch {
		case key == "changes":
			return errIsPlan
		case strings.EqualFold(key, "clusters"):
			return decodeClusters(dec, &s)
		}
		return rest.add(dec, key)
	})
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		if errors.Is(err, errSnapshotTooBig) {
			return nil, err
		}
		return nil, errors.New("invalid data after the top-level value")
	}
	clusters := s.Clusters
	if err := unmarshalMembers(rest, &s); err != nil {
		return nil, err
	}
	s.Clusters = clusters
	return &s, nil
}

// decodeObject reads an object's members, calling member with the decoder
// positioned at each member's value.
func decodeObject(dec *json.Decoder, member func(key string) error) error {
	if t, err := dec.Token(); err != nil {
		return err
	} else if t != json.Delim('{') {
		return fmt.Errorf("want an object, found %v", t)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		if err := member(t.(string)); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// members are an object's members in document order.
type members []member

type member struct {
	key   string
	value json.RawMessage
}

func (m *members) add(dec *json.Decoder, key string) error {
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*m = append(*m, member{key, v})
	return nil
}

// unmarshalMembers decodes the collected members, in their order, into v
// with encoding/json.
func unmarshalMembers(ms members, v any) error {
	var obj bytes.Buffer
	obj.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			obj.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return err
		}
		obj.Write(k)
		obj.WriteByte(':')
		obj.Write(m.value)
	}
	obj.WriteByte('}')
	return json.Unmarshal(obj.Bytes(), v)
}

func decodeClusters(dec *json.Decoder, s *Snapshot) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	s.Clusters = nil
	if t == nil {
		return nil
	}
	if t != json.Delim('[') {
		return fmt.Errorf("clusters: want a list, found %v", t)
	}
	s.Clusters = []*drivers.Observed{}
	for dec.More() {
		o, err := decodeCluster(dec)
		if err != nil {
			return fmt.Errorf("cluster %d: %w", len(s.Clusters), err)
		}
		s.Clusters = append(s.Clusters, o)
	}
	_, err = dec.Token() // ']'
	return err
}

// decodeCluster decodes one cluster (nil for null), its VMs one at a time.
func decodeCluster(dec *json.Decoder) (*drivers.Observed, error) {
	var raw json.RawMessage
	var vms []drivers.VM
	hasVMs := false
	var rest members
	// A cluster is an object or null; anything else is decoded by
	// encoding/json so that its error is the one Unmarshal gives.
	first, err := peekDelim(dec)
	if err != nil {
		return nil, err
	}
	if !first {
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		var o *drivers.Observed
		return o, json.Unmarshal(raw, &o)
	}
	err = decodeObject(dec, func(key string) error {
		if !strings.EqualFold(key, "vms") {
			return rest.add(dec, key)
		}
		hasVMs = true
		var err error
		vms, err = decodeVMs(dec)
		return err
	})
	if err != nil {
		return nil, err
	}
	o := &drivers.Observed{}
	if err := unmarshalMembers(rest, o); err != nil {
		return nil, err
	}
	if hasVMs {
		o.VMs = vms
	}
	return o, nil
}

// peekDelim reports whether the decoder's buffer shows that the next value
// is an object (json.Decoder cannot peek). When it cannot tell, the caller
// decodes the value whole, which is correct, only not streamed.
func peekDelim(dec *json.Decoder) (bool, error) {
	buf, err := io.ReadAll(io.LimitReader(dec.Buffered(), 4096))
	if err != nil {
		return false, err
	}
	for _, c := range buf {
		switch c {
		case ' ', '\t', '\r', '\n', ',':
			continue
		}
		return c == '{', nil
	}
	return false, nil
}

func decodeVMs(dec *json.Decoder) ([]drivers.VM, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, nil
	}
	if t != json.Delim('[') {
		return nil, fmt.Errorf("vms: want a list, found %v", t)
	}
	vms := []drivers.VM{}
	for dec.More() {
		var v drivers.VM
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("vm %d: %w", len(vms), err)
		}
		vms = append(vms, v)
	}
	_, err = dec.Token() // ']'
	return vms, err
}

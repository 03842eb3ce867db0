package vtpm_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// scriptedTPM answers each command with the next response of a script; the
// responses come from a real TPM session, fuzzed.
type scriptedTPM struct{ responses [][]byte }

func (s *scriptedTPM) Send([]byte) ([]byte, error) {
	if len(s.responses) == 0 {
		return nil, errors.New("script exhausted")
	}
	r := s.responses[0]
	s.responses = s.responses[1:]
	return r, nil
}

// recordingTPM records a real TPM's responses.
type recordingTPM struct {
	tr        transport.TPM
	responses [][]byte
}

func (r *recordingTPM) Send(cmd []byte) ([]byte, error) {
	rsp, err := r.tr.Send(cmd)
	r.responses = append(r.responses, bytes.Clone(rsp))
	return rsp, err
}

var sep = []byte("\x00--next--\x00")

// FuzzReadIdentity feeds ReadIdentity mutated responses of a real reference
// TPM session. A TPM on the other end of a socket (swtpm, a guest's vTPM) is
// outside input: whatever it answers, ReadIdentity must return an error or an
// identity, never panic.
func FuzzReadIdentity(f *testing.F) {
	r := vtpm.NewReference()
	rec := &recordingTPM{}
	var want *vtpm.Identity
	err := r.Do(1, func(tr transport.TPM) error {
		defineNV(f, tr, 0x01500001)
		rec.tr = tr
		var err error
		want, err = vtpm.ReadIdentity(rec, vtpm.ReadOptions{})
		return err
	})
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.Fatal(err)
	}
	// The unmutated script must replay to the very same identity, or the
	// fuzzer would only be exploring the first command's error path.
	replayed, err := vtpm.ReadIdentity(&scriptedTPM{responses: rec.responses}, vtpm.ReadOptions{})
	if err != nil || !reflect.DeepEqual(replayed, want) {
		f.Fatalf("replay: %+v, %v; want %+v", replayed, err, want)
	}
	f.Add(bytes.Join(rec.responses, sep))
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		tr := &scriptedTPM{responses: bytes.Split(script, sep)}
		id, err := vtpm.ReadIdentity(tr, vtpm.ReadOptions{})
		if err == nil && (id == nil || len(id.EKECC) != 64) {
			t.Fatalf("no error but identity %+v", id)
		}
	})
}

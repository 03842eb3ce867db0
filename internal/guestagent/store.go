package guestagent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// KeyStore keeps the AK blob (go-attestation's AK.Marshal) between runs, so
// the verifier sees the AK whose credential it activated at first contact.
// The blob is only loadable by the TPM that made it; it is not a secret the
// way a private key file is, but it is kept private anyway.
type KeyStore interface {
	// Load returns the stored blob, or nil and no error when there is none.
	Load() ([]byte, error)
	// Save replaces the stored blob.
	Save(blob []byte) error
}

// AKFileName is the AK blob's file in a FileStore's directory.
const AKFileName = "ak.blob"

// FileStore keeps the AK blob in Dir/ak.blob (mode 0600, Dir 0700). It is
// the only file the agent writes.
type FileStore struct {
	Dir string
}

// Path is the AK blob's file.
func (s FileStore) Path() string { return filepath.Join(s.Dir, AKFileName) }

// Load reads the AK blob; a missing file is no blob.
func (s FileStore) Load() ([]byte, error) {
	b, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("guestagent: read the AK file %s: %w (pass --state with a readable directory)", s.Path(), err)
	}
	return b, nil
}

// Save writes the AK blob through a temporary file and a rename, so a crash
// leaves the old blob or the new one, never half of one.
func (s FileStore) Save(blob []byte) error {
	if s.Dir == "" {
		return errors.New("guestagent: no state directory for the AK file: pass --state DIR")
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("guestagent: create the state directory %s: %w", s.Dir, err)
	}
	tmp, err := os.CreateTemp(s.Dir, AKFileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("guestagent: write the AK file in %s: %w", s.Dir, err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("guestagent: write the AK file %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(blob); err != nil {
		tmp.Close()
		return fmt.Errorf("guestagent: write the AK file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("guestagent: write the AK file %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), s.Path()); err != nil {
		return fmt.Errorf("guestagent: replace the AK file %s: %w", s.Path(), err)
	}
	return nil
}

// MemoryStore keeps the AK blob in memory: a simulated guest keeps it with
// its vTPM, and a one-shot agent (the e2e boot's init) needs no file.
type MemoryStore struct {
	mu   sync.Mutex
	blob []byte
}

// Load returns a copy of the blob.
func (s *MemoryStore) Load() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.blob...), nil
}

// Save keeps a copy of blob.
func (s *MemoryStore) Save(blob []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blob = append([]byte(nil), blob...)
	return nil
}

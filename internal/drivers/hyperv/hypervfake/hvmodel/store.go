package hvmodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFileAtomic replaces path with data so that a reader (in this or any
// other process) sees either the old or the new content, never a torn file:
// write a temp file in the same directory, fsync it, rename it over path.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}

// writeJSONAtomic marshals v and writes it with writeFileAtomic.
func writeJSONAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'), 0o600)
}

// readJSON reads path into v. A missing file returns an error satisfying
// errors.Is(err, fs.ErrNotExist).
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w: the sim state is damaged; delete the cluster directory and run `tlreconcile sim init` again", path, err)
	}
	return nil
}

// lockFile is an exclusive advisory lock on a file. flock locks belong to the
// open file description, so they exclude other goroutines of this process as
// well as other processes.
type lockFile struct{ f *os.File }

// lock takes the exclusive lock on path, creating the file if needed, and
// blocks until it is free.
func lock(path string) (*lockFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flock(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &lockFile{f: f}, nil
}

// unlock releases the lock; closing the descriptor drops the flock.
func (l *lockFile) unlock() {
	if l != nil && l.f != nil {
		_ = l.f.Close()
	}
}

// exists reports whether path exists; other stat errors count as "exists" so
// callers go on to fail with the real error when they open it.
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

package simfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrDamaged is wrapped by ReadJSON's error when the file exists but does
// not decode: callers add what the damage means for their state.
var ErrDamaged = errors.New("damaged")

// ReadJSON decodes path into v; ok is false when the file does not exist.
func ReadJSON(path string, v any) (ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w (%w)", path, err, ErrDamaged)
	}
	return true, nil
}

// WriteJSON writes v, indented and newline-terminated, to path with
// WriteFileAtomic.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(b, '\n'), 0o600)
}

package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// dataLink is the symlink Kubernetes ConfigMap volumes (and some Git sync tools)
// swap atomically to publish a new set of files; it is hidden, but its
// replacement is exactly the event that says "the files changed".
const dataLink = "..data"

// Ignored reports whether a file or folder name is never desired state and
// never a reason to reconcile: hidden names (.git, .#lock, .x.swp, ..2024_x),
// editor backups and probes (x~, #x#, vim's 4913) and temporary files (*.tmp).
func Ignored(name string) bool {
	switch {
	case name == "" || strings.HasPrefix(name, "."):
		return true
	case strings.HasSuffix(name, "~"):
		return true
	case name == "4913": // vim checks it may create files in the folder
		return true
	case len(name) > 1 && strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"): // emacs auto-save
		return true
	}
	for _, suf := range []string{".tmp", ".temp", ".swp", ".swx", ".swpx", ".part", "___jb_tmp___", "___jb_old___"} {
		if strings.HasSuffix(strings.ToLower(name), suf) {
			return true
		}
	}
	return false
}

// IsYAML reports whether name is a desired-state file by its extension.
func IsYAML(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// Files lists every desired-state file under root, sorted: YAML files (or
// symlinks to them, as in a ConfigMap volume) that are not Ignored, in folders
// that are not Ignored. Symlinked folders are not followed.
func Files(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != root && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked; the next trigger sees the rest
			}
			return err
		}
		if p == root {
			return nil
		}
		if Ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !IsYAML(d.Name()) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				return nil // dangling or not a file: mid-swap, or not ours
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		files = append(files, p)
		return nil
	})
	sort.Strings(files)
	return files, err
}

// tree is an fsnotify watch over root and every non-ignored folder below it.
// It is owned by the loop goroutine.
type tree struct {
	root string
	fw   *fsnotify.Watcher
	dirs map[string]bool
	log  *slog.Logger
}

func newTree(root string, log *slog.Logger) (*tree, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	t := &tree{root: root, fw: fw, dirs: map[string]bool{}, log: log}
	if err := t.add(root); err != nil {
		fw.Close()
		return nil, err
	}
	return t, nil
}

func (t *tree) close() { t.fw.Close() }

// add watches dir and every non-ignored folder below it. Folders created before
// their watch existed are covered because the caller triggers a full re-read.
func (t *tree) add(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != t.root && Ignored(d.Name()) {
			return filepath.SkipDir
		}
		if t.dirs[p] {
			return nil
		}
		if err := t.fw.Add(p); err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return fmt.Errorf("watch %s: %w", p, err)
		}
		t.dirs[p] = true
		return nil
	})
}

// forget drops the watches of dir and everything below it (moved or removed).
func (t *tree) forget(dir string) {
	prefix := dir + string(filepath.Separator)
	for d := range t.dirs {
		if d == dir || strings.HasPrefix(d, prefix) {
			_ = t.fw.Remove(d) // already gone with the folder: nothing to undo
			delete(t.dirs, d)
		}
	}
}

// relevant says whether ev may have changed the desired state, and keeps the
// set of watched folders in step with the tree.
func (t *tree) relevant(ev fsnotify.Event) bool {
	if ev.Name == t.root {
		return ev.Op != fsnotify.Chmod
	}
	name := filepath.Base(ev.Name)
	if name == dataLink {
		return true
	}
	if Ignored(name) {
		return false
	}
	if ev.Op == fsnotify.Chmod {
		return false // touch or chmod: the contents did not change
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			if err := t.add(ev.Name); err != nil {
				t.log.Warn("cannot watch new folder; it is still read on every resync", "folder", ev.Name, "err", err)
			}
			return true
		}
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if t.dirs[ev.Name] {
			t.forget(ev.Name)
			return true
		}
	}
	return IsYAML(name)
}

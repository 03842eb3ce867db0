package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// dataLink is the symlink Kubernetes ConfigMap volumes (and some Git sync tools)
// swap atomically to publish a new set of files; it is hidden, but its
// replacement is exactly the event that says "the files changed".
const dataLink = "..data"

// tree is an fsnotify watch over root and every non-ignored folder below it.
// Which files are desired state is spec's walker's business (spec.Files); the
// tree only has to see every change that may alter what it finds. A root given
// as a symlink is watched at its target, and the symlinks inside it are
// remembered so that adding or removing one (a linked folder) triggers a run.
// It is owned by the loop goroutine.
type tree struct {
	root   string // the folder as given (absolute)
	real   string // root with every symlink followed: what fsnotify watches
	parent string // the folder holding root when root is a symlink, watched for its swap
	fw     *fsnotify.Watcher
	dirs   map[string]bool
	links  map[string]bool
	log    *slog.Logger
}

func newTree(root string, log *slog.Logger) (*tree, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	t := &tree{root: root, real: real, fw: fw, dirs: map[string]bool{}, links: map[string]bool{}, log: log}
	if err := t.add(real); err != nil {
		fw.Close()
		return nil, err
	}
	if fi, err := os.Lstat(root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// `ln -sfn new root` (or a deploy tool's swap) changes nothing below
		// the old target: only the folder holding the link sees it.
		if err := fw.Add(filepath.Dir(root)); err != nil {
			log.Warn("cannot watch the folder holding the watched link; a new link target is seen at the next resync", "dir", filepath.Dir(root), "err", err)
		} else {
			t.parent = filepath.Dir(root)
		}
	}
	return t, nil
}

func (t *tree) close() { t.fw.Close() }

// stale reports whether the root symlink now leads somewhere else (or nowhere):
// then the watches are on the old target and must be made again.
func (t *tree) stale() bool {
	real, err := filepath.EvalSymlinks(t.root)
	return err != nil || real != t.real
}

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
		if d.Type()&fs.ModeSymlink != 0 {
			t.links[p] = true
			t.follow(p)
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && spec.Ignored(d.Name()) {
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

// follow watches the target of a link to a folder inside the root as well:
// the walker reads through such links, so a change behind one must trigger a
// run even when the target lies below a hidden folder the tree skips.
func (t *tree) follow(link string) {
	real, err := filepath.EvalSymlinks(link)
	if err != nil || t.dirs[real] || (real != t.real && !strings.HasPrefix(real, t.real+string(filepath.Separator))) {
		return // dangling, watched already, or outside (refused by the walker)
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return
	}
	if err := t.add(real); err != nil {
		t.log.Warn("cannot watch a linked folder; it is still read on every run", "link", link, "folder", real, "err", err)
	}
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
	if ev.Name == t.real {
		return ev.Op != fsnotify.Chmod
	}
	if t.parent != "" && filepath.Dir(ev.Name) == t.parent {
		return ev.Name == t.root && ev.Op != fsnotify.Chmod // the root link itself; nothing else there is ours
	}
	name := filepath.Base(ev.Name)
	if name == dataLink {
		return true
	}
	if spec.Ignored(name) {
		return false
	}
	if ev.Op == fsnotify.Chmod {
		return false // touch or chmod: the contents did not change
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			t.links[ev.Name] = true // maybe a linked folder: its files are read through it
			t.follow(ev.Name)
			return true
		}
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
		if t.links[ev.Name] {
			delete(t.links, ev.Name)
			return true
		}
	}
	return spec.IsYAMLName(name)
}

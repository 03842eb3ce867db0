package spec

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// walker finds the desired-state files below the directories a user gave. It is
// the only walk: Load reads what it finds and Files (which watch uses) lists the
// same files, so a symlink, a FIFO or a hidden file is treated alike by
// validate, plan, apply and watch. Symlinks are followed, for files and for
// folders, as long as their target stays below one of the given paths; a link
// leading outside is refused (RuleSymlinkOutsideRoot) rather than skipped, so
// VMs behind it are never silently dropped and then pruned.
type walker struct {
	roots   []string        // resolved absolute roots
	visited map[string]bool // resolved folders already walked, against link loops
	pending []string        // symlinked folders, walked after the real tree
	sawYAML bool
	report  func(rule, file, msg string)
	found   func(path string, fi fs.FileInfo)
}

// walkRoot walks one given directory and its linked folders; it reports
// whether any desired-state name was seen.
func (w *walker) walkRoot(dir string) bool {
	w.sawYAML = false
	w.walkDir(dir)
	// Linked folders come last so that a folder reachable both directly and
	// through a link is named by its real path.
	for len(w.pending) > 0 {
		next := w.pending[0]
		w.pending = w.pending[1:]
		w.walkDir(next)
	}
	return w.sawYAML
}

func (w *walker) walkDir(dir string) {
	if real, err := resolve(dir); err == nil {
		if w.visited[real] {
			return
		}
		w.visited[real] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		w.report(RuleFileUnreadable, dir, fmt.Sprintf("cannot read: %v; fix its permissions or move it out of the directory", unwrapPathError(err)))
	}
	for _, e := range entries {
		name := e.Name()
		if Ignored(name) {
			continue
		}
		path := filepath.Join(dir, name)
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			w.symlink(path)
		case e.IsDir():
			w.walkDir(path)
		case IsYAMLName(name):
			w.sawYAML = true
			w.file(path, e)
		}
	}
}

// file hands one YAML-named entry on, or refuses it when it is not a regular
// file: a FIFO or a device is never opened, since reading it may block forever.
func (w *walker) file(path string, e fs.DirEntry) {
	if !e.Type().IsRegular() {
		w.report(RuleFileUnreadable, path, notRegular(e.Type()))
		return
	}
	fi, err := e.Info()
	if err != nil {
		w.report(RuleFileUnreadable, path, fmt.Sprintf("cannot read: %v; check the file", unwrapPathError(err)))
		return
	}
	w.found(path, fi)
}

// symlink follows one link found in the walk.
func (w *walker) symlink(path string) {
	yaml := IsYAMLName(filepath.Base(path))
	if yaml {
		w.sawYAML = true
	}
	real, err := resolve(path)
	if err != nil {
		w.report(RuleFileUnreadable, path, fmt.Sprintf("symlink cannot be followed: %v; fix or remove the link (the desired state behind it is not read)", unwrapPathError(err)))
		return
	}
	fi, err := os.Stat(real)
	if err != nil {
		w.report(RuleFileUnreadable, path, fmt.Sprintf("cannot read: %v; check the link target", unwrapPathError(err)))
		return
	}
	if !fi.IsDir() && !yaml {
		return // a link to some other file (a README): not desired state
	}
	if !w.inRoots(real) {
		shown := real
		if raw, err := os.Readlink(path); err == nil {
			shown = raw
		}
		fix := "copy the file in, or pass its directory with -f too"
		if fi.IsDir() {
			fix = "copy the folder in, or pass it with -f too (watch: move it below the watched folder)"
		}
		w.report(RuleSymlinkOutsideRoot, path, fmt.Sprintf("symlink leads outside the given paths (to %s) and is refused; %s", shown, fix))
		return
	}
	switch {
	case fi.IsDir():
		w.pending = append(w.pending, path)
	case !fi.Mode().IsRegular():
		w.report(RuleFileUnreadable, path, "symlink leads to something that is not a regular file; point it at a plain YAML file")
	default:
		w.found(path, fi)
	}
}

func (w *walker) inRoots(abs string) bool {
	for _, r := range w.roots {
		if abs == r || strings.HasPrefix(abs, strings.TrimSuffix(r, string(filepath.Separator))+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// resolve is the absolute path with every symlink followed.
func resolve(p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	return filepath.Abs(real)
}

// notRegular is the diagnostic of a FIFO, socket or device where YAML was expected.
func notRegular(m fs.FileMode) string {
	what := "a socket or device"
	if m&fs.ModeNamedPipe != 0 {
		what = "a FIFO (named pipe)"
	}
	return "not a regular file (" + what + ") and not opened, since reading it could block forever; replace it with a plain YAML file, or pipe the YAML in with -f -"
}

// Files lists the desired-state files Load would read below paths (folders or
// files, "-" excluded), sorted, with every problem the walk found: symlinks
// outside the paths, dangling links, FIFOs and devices, folders without YAML.
// Nothing is opened. watch uses it to know which files it acts on.
func Files(paths ...string) ([]string, Diagnostics) {
	var diags Diagnostics
	col := &collector{maxSize: DefaultMaxFileSize, seen: map[string]bool{}, diags: &diags, listOnly: true}
	col.collect(paths)
	files := make([]string, 0, len(col.srcs))
	for _, s := range col.srcs {
		files = append(files, s.name)
	}
	slices.Sort(files)
	return files, diags.sortAndDedup()
}

// Ignored reports whether a file or folder name is never desired state: hidden
// names (.git, .#lock, .x.swp, Kubernetes' ..data and ..2024_x), editor backups
// and probes (x~, #x#, vim's 4913) and temporary files (*.tmp, *.part).
func Ignored(name string) bool {
	switch {
	case name == "" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#"):
		return true
	case strings.HasSuffix(name, "~"):
		return true
	case name == "4913": // vim checks it may create files in the folder
		return true
	}
	lower := strings.ToLower(name)
	for _, suf := range []string{".tmp", ".temp", ".swp", ".swx", ".swpx", ".part", "___jb_tmp___", "___jb_old___"} {
		if strings.HasSuffix(lower, suf) {
			return true
		}
	}
	return false
}

// IsYAMLName reports whether name is a desired-state file by its extension.
func IsYAMLName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

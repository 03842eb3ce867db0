package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultMaxFileSize is the largest YAML file read when LoadOptions.MaxFileSize is 0.
const DefaultMaxFileSize int64 = 4 << 20

// StdinName is the file name diagnostics use for standard input (-f -).
const StdinName = "<stdin>"

// source is one file's bytes, named as the user will recognise it.
type source struct {
	name string
	data []byte
}

// collector walks the given paths and reads every YAML file once.
type collector struct {
	maxSize int64
	stdin   io.Reader
	roots   []string        // resolved absolute roots, for the symlink check
	seen    map[string]bool // resolved paths already read
	srcs    []source
	diags   *Diagnostics
}

func (c *collector) report(rule, file, msg string) {
	*c.diags = append(*c.diags, Diagnostic{Severity: SeverityError, Rule: rule, File: file, Message: msg})
}

// collect reads all paths. Roots are resolved first so that a symlink found in
// one root may point into another given root.
func (c *collector) collect(paths []string) {
	for _, p := range paths {
		if p == "-" {
			continue
		}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if abs, err := filepath.Abs(real); err == nil {
				c.roots = append(c.roots, abs)
			}
		}
	}
	stdinRead := false
	for _, p := range paths {
		if p == "-" {
			if !stdinRead {
				stdinRead = true
				c.readStdin()
			}
			continue
		}
		c.collectPath(p)
	}
}

func (c *collector) readStdin() {
	if c.stdin == nil {
		c.report(RuleFileUnreadable, StdinName, "standard input is not available; pass files with -f PATH instead of -f -")
		return
	}
	data, err := io.ReadAll(io.LimitReader(c.stdin, c.maxSize+1))
	if err != nil {
		c.report(RuleFileUnreadable, StdinName, fmt.Sprintf("cannot read standard input: %v; pipe the YAML in again or pass a file with -f PATH", err))
		return
	}
	if int64(len(data)) > c.maxSize {
		c.report(RuleFileTooLarge, StdinName, c.tooLarge("standard input"))
		return
	}
	c.srcs = append(c.srcs, source{name: StdinName, data: data})
}

func (c *collector) tooLarge(what string) string {
	return fmt.Sprintf("%s is larger than the limit of %d bytes; split it into several files or raise --max-file-size", what, c.maxSize)
}

// collectPath reads one -f argument: a file (any name, symlinks followed, pipes
// allowed because the user named it) or a directory (walked).
func (c *collector) collectPath(p string) {
	fi, err := os.Stat(p)
	if err != nil {
		c.report(RuleFileUnreadable, p, fmt.Sprintf("cannot read: %v; check the path given with -f", unwrapPathError(err)))
		return
	}
	if fi.IsDir() {
		c.walk(p)
		return
	}
	c.readFile(p, fi, true)
}

// walk reads every *.yaml and *.yml below dir, skipping hidden and editor
// temporary files and refusing symlinks that lead outside the given roots.
func (c *collector) walk(dir string) {
	before := len(c.srcs)
	sawYAML := false
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			c.report(RuleFileUnreadable, path, fmt.Sprintf("cannot read: %v; fix its permissions or move it out of the directory", unwrapPathError(err)))
			if d != nil && d.IsDir() && path != dir {
				return fs.SkipDir
			}
			return nil
		}
		if path == dir {
			return nil
		}
		name := d.Name()
		if ignoredName(name) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !isYAMLName(name) {
			return nil
		}
		sawYAML = true
		if d.Type()&fs.ModeSymlink != 0 {
			c.readSymlink(path)
			return nil
		}
		if !d.Type().IsRegular() {
			c.report(RuleFileUnreadable, path, "not a regular file (a pipe, socket or device); replace it with a plain YAML file or rename it")
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			c.report(RuleFileUnreadable, path, fmt.Sprintf("cannot read: %v; check the file", unwrapPathError(err)))
			return nil
		}
		c.readFile(path, fi, false)
		return nil
	})
	if !sawYAML && len(c.srcs) == before {
		c.report(RuleNoYAMLFiles, dir, "directory holds no *.yaml or *.yml files (hidden and editor temporary files are skipped); add a file or pass the right directory with -f")
	}
}

func (c *collector) readSymlink(path string) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		c.report(RuleFileUnreadable, path, fmt.Sprintf("symlink cannot be followed: %v; fix or remove the link", unwrapPathError(err)))
		return
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		c.report(RuleFileUnreadable, path, fmt.Sprintf("symlink cannot be followed: %v; fix or remove the link", err))
		return
	}
	if !c.inRoots(abs) {
		shown := abs
		if raw, err := os.Readlink(path); err == nil {
			shown = raw
		}
		c.report(RuleSymlinkOutsideRoot, path, fmt.Sprintf("symlink leads outside the given paths (to %s) and is refused; copy the file in, or pass its directory with -f too", shown))
		return
	}
	fi, err := os.Stat(abs)
	if err != nil {
		c.report(RuleFileUnreadable, path, fmt.Sprintf("cannot read: %v; check the link target", unwrapPathError(err)))
		return
	}
	if fi.IsDir() {
		return // its target is inside a root and read there
	}
	if !fi.Mode().IsRegular() {
		c.report(RuleFileUnreadable, path, "symlink leads to something that is not a regular file; point it at a plain YAML file")
		return
	}
	c.readFile(path, fi, false)
}

func (c *collector) inRoots(abs string) bool {
	for _, r := range c.roots {
		if abs == r || strings.HasPrefix(abs, strings.TrimSuffix(r, string(filepath.Separator))+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// readFile reads one file under the size limit, once per resolved path.
func (c *collector) readFile(path string, fi fs.FileInfo, explicit bool) {
	key := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		if abs, err := filepath.Abs(real); err == nil {
			key = abs
		}
	}
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	if fi.Mode().IsRegular() && fi.Size() > c.maxSize {
		c.report(RuleFileTooLarge, path, c.tooLarge(fmt.Sprintf("file (%d bytes)", fi.Size())))
		return
	}
	if !fi.Mode().IsRegular() && !(explicit && fi.Mode()&fs.ModeNamedPipe != 0) {
		c.report(RuleFileUnreadable, path, "not a regular file; pass a plain YAML file, a directory or - for standard input")
		return
	}
	f, err := os.Open(path)
	if err != nil {
		c.report(RuleFileUnreadable, path, fmt.Sprintf("cannot read: %v; fix its permissions or leave it out", unwrapPathError(err)))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, c.maxSize+1))
	if err != nil {
		c.report(RuleFileUnreadable, path, fmt.Sprintf("cannot read: %v; fix the file or leave it out", unwrapPathError(err)))
		return
	}
	if int64(len(data)) > c.maxSize {
		c.report(RuleFileTooLarge, path, c.tooLarge("file"))
		return
	}
	c.srcs = append(c.srcs, source{name: path, data: data})
}

// ignoredName reports hidden files and editor leftovers: .x, .#x, x~, #x#, x.swp.
func ignoredName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") ||
		strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".swx")
}

func isYAMLName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// unwrapPathError drops the path from *fs.PathError: diagnostics already name the file.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultMaxFileSize is the largest YAML file read when LoadOptions.MaxFileSize is 0.
const DefaultMaxFileSize int64 = 4 << 20

// StdinName is the file name diagnostics use for standard input (-f -).
const StdinName = "<stdin>"

// source is one file's bytes, named as the user will recognise it.
type source struct {
	name string
	data []byte
	// deferred: data is read by the worker that checks the file (readChecked),
	// so only the files being checked are in memory at once.
	deferred bool
}

// collector walks the given paths and reads every YAML file once.
type collector struct {
	maxSize int64
	stdin   io.Reader
	roots   []string        // resolved absolute roots, for the symlink check
	seen    map[string]bool // resolved paths already read
	srcs    []source
	diags   *Diagnostics
	walker  *walker // shared by every root, so a folder reached twice is walked once
	// listOnly records the files that would be read without opening them (Files).
	listOnly bool
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

// collectPath reads one -f argument: a file (any name, symlinks followed) or a
// directory (walked). A FIFO or device is refused even when named: reading it
// may block forever; standard input is given as -.
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
	c.readFile(p, fi)
}

// walk reads every *.yaml and *.yml below dir as the walker finds them.
func (c *collector) walk(dir string) {
	before := len(c.srcs)
	if c.walker == nil {
		c.walker = &walker{roots: c.roots, visited: map[string]bool{}, report: func(rule, file, msg string) { c.report(rule, file, msg) },
			found: func(path string, fi fs.FileInfo) { c.readFile(path, fi) }}
	}
	if !c.walker.walkRoot(dir) && len(c.srcs) == before {
		c.report(RuleNoYAMLFiles, dir, "directory holds no *.yaml or *.yml files (hidden and editor temporary files are skipped); add a file or pass the right directory with -f")
	}
}

// readFile records one file under the size limit, once per resolved path, to
// be read by readChecked. Only regular files are read, and they are opened
// without blocking, so a file swapped for a FIFO after the walk still never
// hangs the read.
func (c *collector) readFile(path string, fi fs.FileInfo) {
	key := path
	if real, err := resolve(path); err == nil {
		key = real
	}
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	if !fi.Mode().IsRegular() {
		c.report(RuleFileUnreadable, path, notRegular(fi.Mode()))
		return
	}
	if fi.Size() > c.maxSize {
		c.report(RuleFileTooLarge, path, c.tooLarge(fmt.Sprintf("file (%d bytes)", fi.Size())))
		return
	}
	c.srcs = append(c.srcs, source{name: path, deferred: !c.listOnly})
}

// readChecked reads a deferred source; a problem is returned as its
// diagnostic. It only reads c's settings, so workers call it concurrently.
func (c *collector) readChecked(path string) ([]byte, *Diagnostic) {
	data, err := c.readRegular(path)
	if err != nil {
		return nil, &Diagnostic{Severity: SeverityError, Rule: RuleFileUnreadable, File: path, Message: err.Error()}
	}
	if int64(len(data)) > c.maxSize {
		return nil, &Diagnostic{Severity: SeverityError, Rule: RuleFileTooLarge, File: path, Message: c.tooLarge("file")}
	}
	return data, nil
}

// readRegular opens path without blocking and reads it only if it is still a
// regular file once open; errors are diagnostic messages.
func (c *collector) readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %v; fix its permissions or leave it out", unwrapPathError(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		if err != nil {
			return nil, fmt.Errorf("cannot read: %v; fix the file or leave it out", unwrapPathError(err))
		}
		return nil, errors.New(notRegular(fi.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, c.maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %v; fix the file or leave it out", unwrapPathError(err))
	}
	return data, nil
}

// unwrapPathError drops the path from *fs.PathError: diagnostics already name the file.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

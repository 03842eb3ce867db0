package archtest

import (
	"bufio"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sourceFile is one parsed .go file of the module. Test files are parsed for
// their imports only.
type sourceFile struct {
	pkg  string // directory relative to the module root, slash-separated: "internal/plan"
	path string // relative to the module root, for messages
	test bool
	ast  *ast.File
}

// source is the whole module as go/parser sees it: every directory with .go
// files, except testdata, vendor, hidden and underscore directories. Build
// tags are ignored on purpose: a rule holds for every platform's files.
type source struct {
	module string // module path from go.mod
	fset   *token.FileSet
	files  []sourceFile
}

// loadSource parses the module containing the working directory.
func loadSource(t *testing.T) *source {
	t.Helper()
	root, module, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := &source{module: module, fset: token.NewFileSet()}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		test := strings.HasSuffix(name, "_test.go")
		mode := parser.SkipObjectResolution
		if test {
			mode |= parser.ImportsOnly
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(src.fset, rel, body, mode)
		if err != nil {
			return err
		}
		src.files = append(src.files, sourceFile{pkg: filepath.ToSlash(filepath.Dir(rel)), path: rel, test: test, ast: f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(src.files) == 0 {
		t.Fatalf("no Go files under %s", root)
	}
	return src
}

// moduleRoot walks up from the working directory to go.mod and returns its
// directory and module path.
func moduleRoot() (dir, module string, err error) {
	dir, err = os.Getwd()
	if err != nil {
		return "", "", err
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(rest), `"`), nil
				}
			}
			return "", "", errors.New(filepath.Join(dir, "go.mod") + ": no module line")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

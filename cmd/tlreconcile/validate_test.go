package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/tlreconcile/tlreconcile/internal/golden"
	"github.com/tlreconcile/tlreconcile/schema"
)

// runCLI runs the root command from the repository root, so paths and the
// golden output read "examples/...".
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	t.Chdir("../..")
	var out, errOut bytes.Buffer
	cmd := newRootCmd(strings.NewReader(stdin), &out, &errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if errOut.Len() > 0 {
		t.Logf("stderr: %s", errOut.String())
	}
	return out.String(), err
}

func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func TestValidateExamplesAreClean(t *testing.T) {
	t.Setenv("GITHUB_ACTIONS", "")
	out, err := runCLI(t, "", "validate", "-f", "examples/basic", "-f", "examples/avd-pool")
	if err != nil {
		t.Fatalf("validate examples: %v\n%s", err, out)
	}
	if want := "valid: 6 files, 2 clusters, 13 VMs\n"; out != want {
		t.Errorf("output = %q, want %q", out, want)
	}
}

func TestValidateInvalidGolden(t *testing.T) {
	t.Setenv("GITHUB_ACTIONS", "")
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			out, err := runCLI(t, "", "validate", "-f", "examples/invalid", "--format", format)
			if code := exitCodeOf(err); code != 1 {
				t.Fatalf("exit code = %d (err %v), want 1", code, err)
			}
			golden.Check(t, filepath.Join("examples", "invalid", "testdata", "validate."+format+".golden"), []byte(out))
		})
	}
}

// Every file of examples/invalid named after a rule must produce that rule,
// at a real line and column, in that file.
func TestValidateInvalidCoversEveryRule(t *testing.T) {
	t.Setenv("GITHUB_ACTIONS", "")
	out, _ := runCLI(t, "", "validate", "-f", "examples/invalid")
	files, err := filepath.Glob("examples/invalid/*.yaml")
	if err != nil || len(files) < 20 {
		t.Fatalf("examples/invalid has %d files (%v); want one per rule", len(files), err)
	}
	for _, f := range files {
		rule := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".yaml"), "-a")
		rule = strings.TrimSuffix(rule, "-b")
		if rule == "cluster" {
			continue // the valid cluster the others refer to
		}
		t.Run(rule, func(t *testing.T) {
			pos := `:\d+:\d+`
			if rule == "symlink-outside-root" {
				pos = "" // about the file, not a line in it
			}
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(f) + pos + `: (error|warning)\[` + regexp.QuoteMeta(rule) + `\]: .+; .+$`)
			if !re.MatchString(out) {
				t.Errorf("no %s diagnostic with a position and a next step for %s in:\n%s", rule, f, out)
			}
		})
	}
}

func TestValidateFormatsAndFlags(t *testing.T) {
	vm := "apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: a}\nspec:\n  image: {publisher: x, offer: y, sku: z, version: \"1\"}\n"
	warnOnly := "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c}\nspec: {nodes: [n1], igvmAgent: ignore}\n"
	cases := []struct {
		name     string
		env      string // GITHUB_ACTIONS
		stdin    string
		args     []string
		wantCode int
		want     []string // substrings of stdout
		wantErr  string   // substring of the returned error
	}{
		{name: "stdin text", stdin: vm, args: []string{"-f", "-"}, wantCode: 1,
			want: []string{"<stdin>:5:"}},
		{name: "github chosen from env", env: "true", stdin: vm, args: []string{"-f", "-"}, wantCode: 1,
			want: []string{"::error file=<stdin>,line=5,col=", "title=tlreconcile image-not-supported::"}},
		{name: "explicit format beats env", env: "true", stdin: vm, args: []string{"-f", "-", "--format", "json"}, wantCode: 1,
			want: []string{`"format_version": "1"`, `"valid": false`}},
		{name: "warnings pass", stdin: warnOnly, args: []string{"-f", "-"}, wantCode: 0,
			want: []string{"warning[igvm-agent-ignored]", "valid: 1 file, 1 cluster, 0 VMs"}},
		{name: "warnings as errors", stdin: warnOnly, args: []string{"-f", "-", "--warnings-as-errors"}, wantCode: 1,
			want: []string{"error[igvm-agent-ignored]"}},
		{name: "max file size", stdin: warnOnly, args: []string{"-f", "-", "--max-file-size", "10"}, wantCode: 1,
			want: []string{"error[file-too-large]"}},
		{name: "no input", args: nil, wantCode: 1, wantErr: "pass files or directories with -f"},
		{name: "unknown format", args: []string{"-f", "-", "--format", "xml"}, wantCode: 1, wantErr: `--format "xml" is unknown`},
		{name: "bad max size", args: []string{"-f", "-", "--max-file-size", "0"}, wantCode: 1, wantErr: "must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GITHUB_ACTIONS", tc.env)
			out, err := runCLI(t, tc.stdin, append([]string{"validate"}, tc.args...)...)
			if code := exitCodeOf(err); code != tc.wantCode {
				t.Fatalf("exit code = %d (err %v), want %d\n%s", code, err, tc.wantCode, out)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestSchemaCommand(t *testing.T) {
	for _, kind := range append([]string{""}, schema.Kinds()...) {
		t.Run("kind="+kind, func(t *testing.T) {
			args := []string{"schema"}
			if kind != "" {
				args = append(args, "--kind", kind)
			}
			out, err := runCLI(t, "", args...)
			if err != nil {
				t.Fatal(err)
			}
			c := jsonschema.NewCompiler()
			c.Draft = jsonschema.Draft2020
			if err := c.AddResource("mem://s.json", strings.NewReader(out)); err != nil {
				t.Fatalf("printed schema is not JSON: %v", err)
			}
			s, err := c.Compile("mem://s.json")
			if err != nil {
				t.Fatalf("printed schema does not compile: %v", err)
			}
			doc := map[string]any{"apiVersion": "tlreconcile/v1alpha1", "kind": "Cluster",
				"metadata": map[string]any{"name": "c"}, "spec": map[string]any{"nodes": []any{"n1"}}}
			err = s.Validate(doc)
			if wantOK := kind == "" || kind == "Cluster"; (err == nil) != wantOK {
				t.Errorf("validate a Cluster with schema %q: err = %v, want ok=%v", kind, err, wantOK)
			}
		})
	}
	t.Run("unknown kind", func(t *testing.T) {
		_, err := runCLI(t, "", "schema", "--kind", "Pod")
		if err == nil || !strings.Contains(err.Error(), "use one of Cluster") {
			t.Errorf("err = %v, want an error listing the kinds", err)
		}
	})
}

// Every example starts with a yaml-language-server line whose schema path exists.
func TestExamplesPointAtSchema(t *testing.T) {
	t.Chdir("../..")
	files, _ := filepath.Glob("examples/*/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	re := regexp.MustCompile(`^# yaml-language-server: \$schema=(\S+)\n`)
	for _, f := range files {
		if fi, err := os.Lstat(f); err != nil || fi.Mode()&os.ModeSymlink != 0 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: first line is not a yaml-language-server $schema line", f)
			continue
		}
		var js map[string]any
		target := filepath.Join(filepath.Dir(f), string(m[1]))
		raw, err := os.ReadFile(target)
		if err != nil || json.Unmarshal(raw, &js) != nil {
			t.Errorf("%s: schema %s is not a readable JSON file (%v)", f, target, err)
		}
	}
}

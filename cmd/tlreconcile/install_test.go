package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// remoteInstall matches `go install MODULE/...@VERSION` of this module: it
// cannot resolve, since the module path is published nowhere.
var remoteInstall = regexp.MustCompile(`go install\s+github\.com/tlreconcile/tlreconcile\S*@\S*`)

// TestNoUnresolvableGoInstall: no document, script or example tells anyone
// to `go install github.com/tlreconcile/tlreconcile/...@latest` (or @v0.1.0):
// the module is not published, so it installs from a clone.
func TestNoUnresolvableGoInstall(t *testing.T) {
	t.Chdir("../..")
	var files []string
	for _, root := range []string{"README.md", "Makefile", "examples", "docs", "scripts", ".ci"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			if m := remoteInstall.FindString(line); m != "" {
				t.Errorf("%s:%d: %q does not resolve (the module is not published); build from the checkout: go install ./cmd/tlreconcile", file, i+1, m)
			}
		}
	}
}

// TestReadmeInstall: the README installs from a clone, the make target it
// names exists, and the tour (bare `tlreconcile`) says where that comes from.
func TestReadmeInstall(t *testing.T) {
	t.Chdir("../..")
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	install := section(readme, "## Install")
	for _, want := range []string{"go install ./cmd/tlreconcile", "make install", "PREFIX"} {
		if !strings.Contains(install, want) {
			t.Errorf("the README's Install section does not show %q:\n%s", want, install)
		}
	}
	tour := section(readme, "## A tour")
	if !strings.Contains(tour, "on PATH") || !strings.Contains(tour, "bin/tlreconcile") {
		t.Errorf("the tour runs a bare tlreconcile without saying where it comes from (PATH after make install, bin/ after make build):\n%s", tour)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not on PATH")
	}
	out, err := exec.Command("make", "-n", "install", "PREFIX=/opt/tlr").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/opt/tlr/bin/tlreconcile") {
		t.Errorf("make -n install PREFIX=/opt/tlr: %v\n%s", err, out)
	}
}

// section returns the markdown from heading to the next heading of the same
// level.
func section(doc, heading string) string {
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		return ""
	}
	rest := doc[i+1+len(heading):]
	level := strings.Fields(heading)[0] + " "
	if j := strings.Index(rest, "\n"+level); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// ciStep is one step of a GitHub Actions job or an Azure Pipelines job.
type ciStep struct {
	Uses       string            `yaml:"uses"`
	With       map[string]string `yaml:"with"`
	Run        string            `yaml:"run"`
	Script     string            `yaml:"script"`
	Checkout   string            `yaml:"checkout"`
	WorkingDir string            `yaml:"working-directory"`
	WorkingDr2 string            `yaml:"workingDirectory"`
}

func (s ciStep) command() string { return s.Run + s.Script }

// stepList is one `steps:` list of a CI file; pr is true when the job (or its
// stage) runs for pull requests (its `if` or `condition` names them).
type stepList struct {
	steps []ciStep
	pr    bool
}

// stepLists returns every `steps:` list in a CI file, named by where it sits.
func stepLists(t *testing.T, node *yaml.Node, where string, pr bool, out map[string]stepList) {
	t.Helper()
	switch node.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range node.Content {
			name := where
			if node.Kind == yaml.SequenceNode {
				name = where + "[" + strconv.Itoa(i) + "]"
			}
			stepLists(t, c, name, pr, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, val := node.Content[i].Value, node.Content[i+1]
			if (key == "if" || key == "condition") && regexp.MustCompile(`(?i)pull_?request`).MatchString(val.Value) {
				pr = true
			}
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, val := node.Content[i].Value, node.Content[i+1]
			if key == "steps" && val.Kind == yaml.SequenceNode {
				var steps []ciStep
				if err := val.Decode(&steps); err != nil {
					t.Fatalf("%s.steps: %v", where, err)
				}
				out[where] = stepList{steps: steps, pr: pr}
				continue
			}
			stepLists(t, val, where+"."+key, pr, out)
		}
	}
}

// TestCIExamplesBuildFromCheckout: every CI job that runs tlreconcile first
// checks the repository out and builds tlreconcile from it with
// `go install ./cmd/tlreconcile`; a pull-request job builds it from the base
// commit, never from the PR's code.
func TestCIExamplesBuildFromCheckout(t *testing.T) {
	t.Chdir("../..")
	files, err := filepath.Glob("examples/ci/*.yml")
	if err != nil || len(files) < 2 {
		t.Fatalf("CI examples: %v %v", files, err)
	}
	runsTL := regexp.MustCompile(`tlreconcile (validate|plan|show|apply)\b`)
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		lists := map[string]stepList{}
		stepLists(t, &doc, "", false, lists)
		jobs, prJobs := 0, 0
		for where, list := range lists {
			checkout, installed := -1, -1
			if list.pr {
				prJobs++
			}
			for i, s := range list.steps {
				switch {
				case strings.HasPrefix(s.Uses, "actions/checkout@") || s.Checkout == "self":
					if checkout < 0 {
						checkout = i
					}
				case strings.TrimSpace(s.command()) == "go install ./cmd/tlreconcile":
					installed = i
					dir := s.WorkingDir + s.WorkingDr2
					if list.pr && dir == "" {
						t.Errorf("%s %s: the pull-request job builds tlreconcile from the PR's checkout; build it from the base commit", file, where)
					}
				case runsTL.MatchString(s.command()):
					jobs++
					if checkout < 0 || installed < 0 {
						t.Errorf("%s %s: runs %q without checking out and building tlreconcile first (go install ./cmd/tlreconcile)", file, where, runsTL.FindString(s.command()))
					}
				}
			}
		}
		if jobs == 0 || prJobs == 0 {
			t.Errorf("%s: %d steps run tlreconcile, %d jobs run for pull requests: want both", file, jobs, prJobs)
		}
	}
}

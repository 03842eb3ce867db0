package spec_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// A duplicate key cites the definition it repeats: the one just before it,
// as written (an aliased key included), found without a map of key nodes.
func TestDuplicateKeyCitesPreviousDefinition(t *testing.T) {
	tests := []struct {
		name  string
		extra []string
		want  []string // file:line:col: rule: cited line
	}{
		{"twice", []string{"processors: 2", "processors: 3"},
			[]string{`v.yaml:7:3: error[duplicate-key]: key "processors" is already defined at line 6;`}},
		{"three times", []string{"processors: 2", "processors: 3", "processors: 4"},
			[]string{`v.yaml:7:3: error[duplicate-key]: key "processors" is already defined at line 6;`,
				`v.yaml:8:3: error[duplicate-key]: key "processors" is already defined at line 7;`}},
		{"other keys between", []string{"processors: 2", "memoryMB: 8192", "vbs: true", "processors: 3"},
			[]string{`v.yaml:9:3: error[duplicate-key]: key "processors" is already defined at line 6;`}},
		{"aliased key", []string{"&k processors: 2", "memoryMB: 8192", "*k : 3"},
			[]string{`v.yaml:8:3: error[duplicate-key]: key "processors" is already defined at line 6;`}},
		{"merge keys are not duplicates", []string{"<<: {vbs: true}", "<<: {protect: true}", "processors: 2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("v1", tt.extra...)})
			_, ds := load(t, dir)
			var got []string
			for _, d := range ds {
				if d.Rule == spec.RuleDuplicateKey {
					line := strings.ReplaceAll(d.Error(), dir+"/", "")
					got = append(got, line[:strings.IndexByte(line, ';')+1])
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("duplicate-key diagnostics:\n%s\nwant:\n%s\nall:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"), render(dir, ds))
			}
		})
	}
}

// Files are checked by parallel workers; what Load returns must not depend
// on how many there are or which finishes first: cross-file rules (duplicate
// names, "also declared at", the cluster a VM defaults to, the first catalog
// entry that wins) see the documents in input order.
func TestLoadDoesNotDependOnWorkers(t *testing.T) {
	files := map[string]string{"a-cluster.yaml": clusterYAML}
	for i := range 40 {
		var b strings.Builder
		for j := range 5 {
			if j > 0 {
				b.WriteString("---\n")
			}
			switch {
			case j == 0 && i%7 == 3: // the same name in several files
				b.WriteString(vmYAML("dup"))
			case j == 1 && i%5 == 1:
				b.WriteString(vmYAML(fmt.Sprintf("v%d-%d", i, j), "placement: {node: n9}"))
			case j == 2 && i%6 == 2:
				b.WriteString(vmYAML(fmt.Sprintf("v%d-%d", i, j), "processors: 0"))
			case j == 3 && i%9 == 4:
				b.WriteString("apiVersion: tlreconcile/v1alpha1\nkind: ImageCatalog\nmetadata: {name: extra}\nspec:\n  images:\n  - {publisher: p, offer: o, sku: s, version: \"1\", os: linux}\n")
			default:
				b.WriteString(vmYAML(fmt.Sprintf("v%d-%d", i, j)))
			}
		}
		files[fmt.Sprintf("f%02d.yaml", i)] = b.String()
	}
	dir := writeTree(t, files)
	run := func(procs int) (string, string, []string) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		d, ds := load(t, dir)
		if d == nil {
			t.Fatalf("GOMAXPROCS %d: nothing loaded:\n%s", procs, render(dir, ds))
		}
		return render(dir, ds), d.Hash(), d.Files
	}
	diags1, hash1, files1 := run(1)
	if !strings.Contains(diags1, "duplicate-name") || !strings.Contains(diags1, "unknown-node") || !strings.Contains(diags1, "processors-out-of-range") {
		t.Fatalf("the fleet should have cross-file and per-file problems, got:\n%s", diags1)
	}
	for _, procs := range []int{2, 3, 8} {
		diags, hash, files := run(procs)
		if diags != diags1 || hash != hash1 || strings.Join(files, "\n") != strings.Join(files1, "\n") {
			t.Errorf("GOMAXPROCS %d differs from 1:\n%s\nwant:\n%s", procs, diags, diags1)
		}
	}
}

// VMs of one file with equal labels share one map, and unequal ones do not.
func TestEqualLabelsShared(t *testing.T) {
	doc := func(name, labels string) string {
		return fmt.Sprintf("apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: %s, cluster: c1, labels: %s}\nspec:\n  image: %s\n", name, labels, goodImage)
	}
	dir := writeTree(t, map[string]string{"c.yaml": clusterYAML, "v.yaml": doc("a", "{x: '1', y: '2'}") + "---\n" + doc("b", "{y: '2', x: '1'}") + "---\n" + doc("c", "{x: '1', y: '3'}") + "---\n" + doc("d", "{\"x\\\"\": '1'}")})
	d, ds := load(t, dir)
	if ds.HasErrors() {
		t.Fatal(render(dir, ds))
	}
	labels := map[string]map[string]string{}
	for _, v := range d.VMs {
		labels[v.Name] = v.Labels
	}
	if fmt.Sprint(labels) != `map[a:map[x:1 y:2] b:map[x:1 y:2] c:map[x:1 y:3] d:map[x":1]]` {
		t.Fatalf("labels = %v", labels)
	}
	same := func(a, b string) bool { return fmt.Sprintf("%p", labels[a]) == fmt.Sprintf("%p", labels[b]) }
	if !same("a", "b") || same("a", "c") || same("a", "d") {
		t.Errorf("a and b should share one map, c and d their own: %p %p %p %p", labels["a"], labels["b"], labels["c"], labels["d"])
	}
}

package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/schema"
)

// fastBases are valid documents that between them use every part of the
// schema: each driver's options, key backup, every VM field, a catalog.
const fastBases = `apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: c1, labels: {site: west}}
spec:
  driver: hyperv
  nodes: [node1, node2]
  igvmAgent: required
  vmFileAccess: hostAdminsOnly
  liveMigration: {encryption: ipsec}
  keyBackup: {wrappingKey: k1, destination: '\\srv\keys', maxAge: 24h}
  options: {transport: ssh, user: admin, nodes: {node1: {host: 10.0.0.1}}, timeout: 5m, clustered: true, vmPath: 'C:\ClusterStorage\Volume1\VMs'}
---
apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: c2}
spec:
  driver: azurelocal
  nodes: [node1]
  options:
    azure: {subscriptionId: 00000000-0000-0000-0000-000000000000, resourceGroup: rg, location: eastus, customLocation: /subscriptions/s/resourceGroups/rg/providers/Microsoft.ExtendedLocation/customLocations/cl}
    logicalNetwork: lnet
    nodeAccess: {transport: ssh, user: admin}
---
apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: c3}
spec:
  nodes: [n1]
  options: {}
---
apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata: {name: vm-1, cluster: c1, labels: {pool: avd, batch: "7"}}
spec:
  securityType: TrustedLaunch
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  processors: 4
  memoryMB: 8192
  secureBoot: {enabled: true, template: MicrosoftWindows}
  vtpm: {enabled: true}
  vbs: true
  encryptStateAndMigrationTraffic: true
  bootIntegrityVerification: false
  attestation: {enabled: true, interval: 12h, require: {secureBoot: true, vbs: running, testSigning: false}}
  placement: {node: node1}
  power: Running
  protect: true
  network: {logicalNetwork: lnet, ipAddress: 10.0.0.5}
  storagePath: sc-1
  osProfile: {computerName: vm1, adminUsername: azureuser, adminPassword: {fromEnv: VM_PASSWORD}}
---
apiVersion: tlreconcile/v1alpha1
kind: ImageCatalog
metadata: {name: extra}
spec:
  images:
    - {publisher: p, offer: o, sku: s, version: latest, os: windows}
`

// fastSamples replace a value in turn: every JSON type, and values on both
// sides of the schema's bounds, patterns and enums.
var fastSamples = []any{
	nil, true, false, int64(0), int64(1), int64(-1), int64(240), int64(241), int64(511), int64(512),
	int64(12582912), int64(12582913), 1.5, 2.0, 1e300, "", "x", "-x", "a b", strings.Repeat("a", 63), strings.Repeat("a", 64),
	"TrustedLaunch", "Standard", "Off", "Running", "sim", "hyperv", "azurelocal", "ipsec", "none", "ssh", "1h", "soon",
	"tlreconcile/v1alpha1", "10.0.0.256", "MicrosoftWindows", "windows", "linux", "strict", "required", "ignore",
	[]any{}, []any{"a"}, []any{"a", "a"}, []any{int64(1)}, map[string]any{}, map[string]any{"fromEnv": "X"},
	map[string]any{"fromEnv": "X", "fromFile": "/p"}, map[string]any{"zz": int64(1)},
}

func fastValidator(t testing.TB) *validator {
	t.Helper()
	v, err := sharedValidator()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.fast) != 3 {
		t.Fatalf("fast schema: %d kinds compiled, want 3", len(v.fast))
	}
	return v
}

// TestFastSchemaCompiles: every keyword the schema uses is one fastSchema
// implements; when the schema gains another, this fails (and validate is
// slower until fastSchema learns it), rather than fastSchema guessing.
func TestFastSchemaCompiles(t *testing.T) {
	fast, err := compileFast(schema.JSON(), schema.Kinds())
	if err != nil {
		t.Fatalf("compileFast: %v; implement the keyword in fastschema.go, mirroring jsonschema/v5", err)
	}
	for _, k := range schema.Kinds() {
		if fast[k] == nil {
			t.Errorf("kind %s not compiled", k)
		}
	}
	if _, err := compileFast([]byte(`{"$defs": {"A": {"format": "ipv4"}}}`), []string{"A"}); err == nil {
		t.Error("a keyword fastSchema does not implement (format) compiled")
	}
}

// TestFastSchemaAgreesWithJSONSchema mutates valid documents at every value
// (delete it, replace it with each sample, add an unknown key, repeat a list
// item) and requires the fast check and jsonschema/v5 to give the same
// answer for every mutant, in both directions.
func TestFastSchemaAgreesWithJSONSchema(t *testing.T) {
	v := fastValidator(t)
	docs := fastDocs(t)
	valid, invalid := 0, 0
	for _, doc := range docs {
		kind, _ := doc.value.(map[string]any)["kind"].(string)
		mutate(doc.value, nil, func(path string, m any) {
			want := v.byKind[kind].Validate(m) == nil
			if got := v.fast[kind].valid(m, 0); got != want {
				t.Errorf("%s %s: fast check says valid=%t, jsonschema/v5 says valid=%t", doc.file, path, got, want)
			}
			if want {
				valid++
			} else {
				invalid++
			}
		})
	}
	t.Logf("%d documents, %d valid and %d invalid mutants", len(docs), valid, invalid)
	if valid < 100 || invalid < 1000 {
		t.Errorf("only %d valid and %d invalid mutants: the test no longer exercises the schema", valid, invalid)
	}
}

// fastDocs are fastBases and every document of the examples.
func fastDocs(t *testing.T) []*document {
	t.Helper()
	var diags Diagnostics
	docs := parseFile(source{name: "bases.yaml", data: []byte(fastBases)}, &diags)
	if len(docs) != 5 {
		t.Fatalf("bases: %d documents, %v", len(docs), diags)
	}
	v := fastValidator(t)
	for _, d := range docs {
		if err := v.compiled.Validate(d.value); err != nil {
			t.Fatalf("base document %v is not valid: %v", d.value, err)
		}
	}
	files, _ := filepath.Glob("../../examples/*/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, parseFile(source{name: f, data: b}, &diags)...)
	}
	return slices.DeleteFunc(docs, func(d *document) bool {
		m, ok := d.value.(map[string]any)
		kind, _ := m["kind"].(string)
		return !ok || !slices.Contains(schema.Kinds(), kind)
	})
}

// mutate calls visit with the whole document after each mutation of the
// value at path below v (restoring it afterwards), and once unchanged.
func mutate(root any, path []string, visit func(string, any)) {
	visit("(as written)", root)
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			x["zz-unknown"] = "x"
			visit(path+"/+zz-unknown", root)
			delete(x, "zz-unknown")
			for _, k := range sortedKeys(x) {
				old := x[k]
				delete(x, k)
				visit(path+"/"+k+" deleted", root)
				for i, s := range fastSamples {
					x[k] = s
					visit(fmt.Sprintf("%s/%s = sample %d (%v)", path, k, i, s), root)
				}
				x[k] = old
				walk(old, path+"/"+k)
			}
		case []any:
			for i, item := range x {
				for j, s := range fastSamples {
					x[i] = s
					visit(fmt.Sprintf("%s/%d = sample %d (%v)", path, i, j, s), root)
				}
				x[i] = item
				walk(item, fmt.Sprintf("%s/%d", path, i))
			}
		}
	}
	walk(root, "")
}

// FuzzFastSchema: for any YAML, the fast check never calls valid what
// jsonschema/v5 rejects (the direction validate relies on), and agrees the
// other way too.
func FuzzFastSchema(f *testing.F) {
	f.Add([]byte(fastBases))
	files, _ := filepath.Glob("../../examples/*/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	v := fastValidator(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var diags Diagnostics
		for _, doc := range parseFile(source{name: "f.yaml", data: data}, &diags) {
			kind, _ := mapOf(doc.value)["kind"].(string)
			if v.fast[kind] == nil {
				continue
			}
			want := v.byKind[kind].Validate(doc.value) == nil
			if got := v.fast[kind].valid(doc.value, 0); got != want {
				t.Fatalf("fast check says valid=%t, jsonschema/v5 says valid=%t, for %#v", got, want, doc.value)
			}
		}
	})
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

package hyperv_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
	"github.com/tlreconcile/tlreconcile/internal/golden"
)

func readReport(t *testing.T, name string) *hyperv.NodeReport {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "observe", name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := hyperv.ParseNodeReport(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func refName(n string) string {
	for _, r := range []string{"node1", "node2", "node3"} {
		if strings.EqualFold(r, n) || strings.EqualFold(r, strings.SplitN(n, ".", 2)[0]) {
			return r
		}
	}
	return n
}

// TestVMReportShapes converts the JSON shapes the cmdlets produce: null key protector, the
// AAAABA== placeholder, clustered and standalone VMs, Saved and Paused states, enum numbers,
// a one-element VM list unrolled to an object, hostile and broken Notes blocks.
func TestVMReportShapes(t *testing.T) {
	kp := make([]byte, 32)
	for i := range kp {
		kp[i] = byte(i + 1)
	}
	sum := sha256.Sum256(kp)
	kpHash := hex.EncodeToString(sum[:])
	standalone := readReport(t, "standalone.json")
	clustered := readReport(t, "clustered.json")
	vms := map[string]hyperv.VMReport{}
	for _, v := range append(append([]hyperv.VMReport{}, standalone.VMs...), clustered.VMs...) {
		vms[v.Name] = v
	}
	tests := []struct {
		name string
		node string
		want drivers.VM
	}{
		{"legacy-01", "hv01", drivers.VM{Name: "legacy-01", ID: "0e1c2a3b-4d5e-4f60-8172-93a4b5c6d7e8", Node: "hv01", Generation: 1, Power: drivers.PowerSaved,
			Processors: 2, MemoryMB: 4096, SecurityType: drivers.SecurityStandard, FileAccess: drivers.FileAccessUnknown}},
		{"avd-01", "node1", drivers.VM{Name: "avd-01", ID: "6f1c1f6e-0d1e-4b8e-9c39-3b5b3a1f2e01", Node: "node1", Generation: 2, Power: drivers.PowerRunning,
			Processors: 4, MemoryMB: 8192, SecurityType: drivers.SecurityTrustedLaunch, SecureBoot: true, SecureBootTemplate: "MicrosoftWindows",
			TPMEnabled: true, KeyProtector: true, KeyProtectorSHA256: kpHash, EncryptState: true, FileAccess: drivers.FileAccessHostAdminsOnly,
			VTPMInitialized: true, VTPMIdentity: kpHash,
			Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "sha256:1", Protect: true, VTPMIdentity: "aa", Node: "node1"}}},
		{"avd-02", "node1", drivers.VM{Name: "avd-02", ID: "7f1c1f6e-0d1e-4b8e-9c39-3b5b3a1f2e02", Node: "node1", Generation: 2, Power: drivers.PowerPaused,
			Processors: 2, MemoryMB: 2048, SecurityType: drivers.SecurityTrustedLaunch, SecureBootTemplate: "MicrosoftUEFICertificateAuthority",
			VBSOptOut: true, FileAccess: drivers.FileAccessViolation}},
		{"old-enum", "node2", drivers.VM{Name: "old-enum", ID: "8f1c1f6e-0d1e-4b8e-9c39-3b5b3a1f2e03", Node: "node1", Generation: 2, Power: drivers.PowerOff,
			Processors: 1, MemoryMB: 1024, SecurityType: drivers.SecurityStandard, SecureBoot: true, SecureBootTemplate: "OpenSourceShieldedVM",
			FileAccess: drivers.FileAccessUnknown}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := vms[tc.name]
			if !ok {
				t.Fatalf("fixture has no VM %s", tc.name)
			}
			got, err := r.ToVM(tc.node, refName)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if string(g) != string(w) {
				t.Errorf("converted VM:\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestKeyProtector(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name    string
		in      *string
		present bool
		wantErr bool
	}{
		{"null", nil, false, false},
		{"empty", str(""), false, false},
		{"placeholder AAAABA==", str("AAAABA=="), false, false},
		{"real", str("AQIDBAUGBwg="), true, false},
		{"five bytes starting like the placeholder", str("AAAABAA="), true, false},
		{"not base64", str("not base64!"), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ok, err := hyperv.KeyProtector(tc.in)
			if ok != tc.present || (err != nil) != tc.wantErr {
				t.Errorf("KeyProtector = present %v, err %v; want present %v, error %v", ok, err, tc.present, tc.wantErr)
			}
		})
	}
}

// TestObserveMerge runs Observe over node reports: cluster node names mapped to the Cluster
// document's spelling, a VM listed by two nodes during a live migration kept once (the
// owner's view), an unreachable node the cluster reports Down included as Down.
func TestObserveMerge(t *testing.T) {
	node1, _ := os.ReadFile(filepath.Join("testdata", "observe", "clustered.json"))
	var r1 hyperv.NodeReport
	if err := json.Unmarshal(node1, &r1); err != nil {
		t.Fatal(err)
	}
	handler := func(node string) hypervfake.Handler {
		return func(_ context.Context, script string, _ *hyperv.Payload) (any, *psnode.ScriptError) {
			if node == "node1" {
				return json.RawMessage(node1), nil
			}
			// node2 still lists avd-01 (the migration source), owned by NODE1.
			r := hyperv.NodeReport{ComputerName: "NODE2", ClusterNodes: r1.ClusterNodes, IgvmAgent: &hyperv.AgentReport{Status: "Stopped"}}
			stale := r1.VMs[0]
			stale.State = "Running"
			stale.ProcessorCount = 99
			r.VMs = []hyperv.VMReport{stale}
			return r, nil
		}
	}
	ref := drivers.ClusterRef{Name: "c", Driver: hyperv.Name, Nodes: []string{"node3", "node2", "node1"}}
	tr := hypervfake.NewTransport([]string{"node1", "node2"}, handler, hypervfake.ServeOptions{}, nil)
	d, err := hyperv.New(drivers.Config{}, hyperv.WithTransport(func(drivers.ClusterRef, *hyperv.Options) (hyperv.Transport, error) { return tr, nil }),
		hyperv.WithStartTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	obs, err := d.Observe(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	obs.ObservedAt = time.Time{}
	got, _ := json.MarshalIndent(obs, "", "  ")
	got = append(got, '\n')
	golden.Check(t, filepath.Join("testdata", "observe", "merged.want.json"), got)
	// The facts the golden file pins, stated so that an -update cannot quietly accept a regression.
	if len(obs.Nodes) != 3 || obs.Nodes[0].Name != "node1" || obs.Nodes[1].State != drivers.NodePaused ||
		obs.Nodes[1].IgvmAgent != drivers.AgentStopped || obs.Nodes[2].State != drivers.NodeDown || !obs.Nodes[0].MigrationIPsec {
		t.Errorf("nodes = %+v; want node1 Up with IPsec, node2 Paused with a stopped agent, node3 Down", obs.Nodes)
	}
	if len(obs.VMs) != 3 || obs.VMs[0].Name != "avd-01" || obs.VMs[0].Processors != 4 || obs.VMs[2].Node != "node1" {
		t.Errorf("VMs = %+v; want avd-01 once from its owner (4 processors) and old-enum on node1", obs.VMs)
	}
}

// FuzzObserveReport: cmdlet JSON is outside input; parsing and converting never panic.
func FuzzObserveReport(f *testing.F) {
	f.Add([]byte(`{"ComputerName":"N","ClusterNodes":null,"IgvmAgent":null,"VMs":{"Name":"a","State":3,"KeyProtector":"AAAABA==","Firmware":{"SecureBoot":0}}}`))
	f.Add([]byte(`{"VMs":[{"Name":"b","State":"Running","KeyProtector":"AQID","Notes":"--- tlreconcile:begin ---\n{}\n--- tlreconcile:end ---"}]}`))
	f.Add([]byte(`{"VMs":[null,{"State":null}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := hyperv.ParseNodeReport(raw)
		if err != nil {
			return
		}
		for i := range r.VMs {
			vm, err := r.VMs[i].ToVM("node1", func(s string) string { return s })
			if err == nil && vm.KeyProtector != (vm.KeyProtectorSHA256 != "") {
				t.Fatalf("key protector flag and hash disagree: %+v", vm)
			}
		}
		_, _ = json.Marshal(r)
	})
}

package view_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/golden"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simPlatform has a VM of each kind the tables spell differently: a running
// trusted-launch Arc VM with its key and identity, one whose key is gone and
// whose ACL is open, one whose state file is missing, a VM made with local
// tools, and the resource bridge; a node that is down, one with a stopped
// agent and encrypted live migration; and ARM faults of each kind.
func simPlatform() view.SimPlatformDoc {
	running := func(cloud cluster.AgentState) map[cluster.Agent]cluster.AgentState {
		return map[cluster.Agent]cluster.AgentState{cluster.AgentIGVm: cluster.AgentRunning, cluster.AgentNode: cluster.AgentRunning, cluster.AgentCloud: cloud}
	}
	stopped := running(cluster.AgentNotInstalled)
	stopped[cluster.AgentIGVm] = cluster.AgentStopped
	acl := func(id string) []string {
		return []string{cluster.PrincipalAdministrators, cluster.PrincipalSystem, cluster.VMPrincipal(id)}
	}
	tl := func(name, id, node string) cluster.VMState {
		return cluster.VMState{Name: name, VMID: id, Cluster: "hci-west", Node: node, Power: cluster.PowerRunning,
			GuestStateIsolationType: "TrustedLaunch", Managed: true, Processors: 2, MemoryMB: 4096,
			Owner: cluster.PrincipalAdministrators, ACL: acl(id), ACLRestricted: true, KeyPresent: true,
			KeyID: cluster.KeyVaultName + "/" + cluster.KeyGroup + "/" + id, KeyFingerprint: strings.Repeat("f", 64)}
	}
	avd1 := tl("avd-01", "11111111-1111-4111-8111-111111111111", "node1")
	avd1.Identity = strings.Repeat("ab", 32)
	avd2 := tl("avd-02", "22222222-2222-4222-8222-222222222222", "node3")
	avd2.KeyPresent, avd2.KeyID, avd2.KeyFingerprint, avd2.Power, avd2.Resets = false, "", "", cluster.PowerOff, 1
	avd2.ACL, avd2.ACLRestricted = append(avd2.ACL, cluster.PrincipalAllVMs), false
	avd3 := tl("avd-03", "33333333-3333-4333-8333-333333333333", "node1")
	avd3.StateMissing = true
	bridge := cluster.VMState{Name: "hci-west-arcbridge", VMID: "44444444-4444-4444-8444-444444444444", Cluster: "hci-west", Node: "node1",
		Power: cluster.PowerRunning, GuestStateIsolationType: "Disabled", Infrastructure: true, Processors: 4, MemoryMB: 8192,
		Owner: cluster.PrincipalAdministrators, ACL: acl("44444444-4444-4444-8444-444444444444"), ACLRestricted: true}
	local := cluster.VMState{Name: "legacy-01", VMID: "55555555-5555-4555-8555-555555555555", Cluster: "hci-west", Node: "node3",
		Power: cluster.PowerRunning, GuestStateIsolationType: "Disabled", Processors: 2, MemoryMB: 2048,
		Owner: cluster.PrincipalAdministrators, ACL: acl("55555555-5555-4555-8555-555555555555"), ACLRestricted: true}
	west := cluster.ClusterState{Name: "hci-west", CustomLocation: "/subscriptions/s/resourceGroups/sim/providers/Microsoft.ExtendedLocation/customLocations/hci-west",
		Nodes: []cluster.NodeState{
			{Name: "node1", Status: cluster.NodeUp, Agents: running(cluster.AgentRunning), LiveMigration: cluster.LMTCP},
			{Name: "node2", Status: cluster.NodeDown, Agents: running(cluster.AgentNotInstalled), LiveMigration: cluster.LMSMB, Encrypted: true},
			{Name: "node3", Status: cluster.NodeUp, Agents: stopped, LiveMigration: cluster.LMCompression},
		},
		VMs: []cluster.VMState{avd1, avd2, avd3, bridge, local}}
	east := cluster.ClusterState{Name: "hci-east", CustomLocation: "/subscriptions/s/resourceGroups/sim/providers/Microsoft.ExtendedLocation/customLocations/hci-east",
		Nodes: []cluster.NodeState{{Name: "n1", Status: cluster.NodeUp, Agents: running(cluster.AgentRunning), LiveMigration: cluster.LMTCP}}}
	faults := []arm.Fault{
		{Operation: "Machines_Get", Throttle: 2, RetryAfter: 5 * time.Second},
		{Operation: "*", Latency: 250 * time.Millisecond},
		{Operation: "VirtualMachineInstances_CreateOrUpdate", Transient: 1, FailAsync: 1},
		{Operation: "VirtualMachineInstances_Start", Throttle: 1},
	}
	return view.NewSimPlatformDoc([]cluster.ClusterState{west, east}, faults)
}

func TestSimPlatformGolden(t *testing.T) {
	for _, format := range []string{view.FormatText, view.FormatJSON} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := view.SimPlatform(&b, format, simPlatform()); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "sim-platform."+format+".golden"), b.Bytes())
		})
	}
}

// TestSimPlatformJSONContract: lists are [] when empty, and no key
// fingerprint reaches the document.
func TestSimPlatformJSONContract(t *testing.T) {
	var b bytes.Buffer
	if err := view.SimPlatform(&b, view.FormatJSON, view.NewSimPlatformDoc(nil, nil)); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"clusters", "arm_faults"} {
		if l, ok := m[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, m[k])
		}
	}
	b.Reset()
	if err := view.SimPlatform(&b, view.FormatJSON, simPlatform()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), strings.Repeat("f", 64)) || strings.Contains(b.String(), "fingerprint") {
		t.Errorf("the document carries a key fingerprint:\n%s", b.String())
	}
	if err := view.SimPlatform(&b, "yaml", simPlatform()); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("format yaml: %v", err)
	}
}

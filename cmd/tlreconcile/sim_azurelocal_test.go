package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

const testSub = "fd3c3665-1729-4b7b-9a38-238e83b0f98b"

func testMachineID(name string) string {
	return "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/" + name
}

// withHost runs fn on the simulated Azure Local under dir, as another
// process would: its own Host, on the same files and lock.
func withHost(t *testing.T, dir string, fn func(h *cluster.Host)) {
	t.Helper()
	h, err := cluster.Open(dir, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fn(h)
}

// placeTL creates a trusted-launch VM as ARM's create does (a key in the
// vault, a sealed vTPM) and returns its VM ID.
func placeTL(t *testing.T, dir, name string) string {
	t.Helper()
	var id string
	withHost(t, dir, func(h *cluster.Host) {
		pl, err := h.PlaceVM(context.Background(), arm.PlaceRequest{MachineID: testMachineID(name), CustomLocation: arm.DefaultCustomLocation,
			ComputerName: name, Hardware: arm.Hardware{Processors: 2, MemoryMB: 4096},
			Security: arm.Security{Type: "TrustedLaunch", TPM: true, SecureBoot: true}})
		if err != nil {
			t.Fatal(err)
		}
		id = pl.VMID
	})
	return id
}

// observed is the default cluster as its nodes show it, with identities.
func observed(t *testing.T, dir string) cluster.ClusterState {
	t.Helper()
	var st cluster.ClusterState
	withHost(t, dir, func(h *cluster.Host) {
		var err error
		if st, err = h.Observe(context.Background(), "sim-cluster", cluster.ObserveOptions{Identities: true}); err != nil {
			t.Fatal(err)
		}
	})
	return st
}

func vmNamed(t *testing.T, st cluster.ClusterState, name string) cluster.VMState {
	t.Helper()
	for _, v := range st.VMs {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("cluster %s has no VM %s", st.Name, name)
	return cluster.VMState{}
}

func nodeNamed(t *testing.T, st cluster.ClusterState, name string) cluster.NodeState {
	t.Helper()
	for _, n := range st.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("cluster %s has no node %s", st.Name, name)
	return cluster.NodeState{}
}

// platformDoc is `sim platform --format json`, decoded.
func platformDoc(t *testing.T, dir string) view.SimPlatformDoc {
	t.Helper()
	var doc view.SimPlatformDoc
	if err := json.Unmarshal([]byte(mustSimCLI(t, dir, "sim", "platform", "--format", "json")), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func platformVM(t *testing.T, doc view.SimPlatformDoc, name string) view.SimPlatformVM {
	t.Helper()
	for _, c := range doc.Clusters {
		for _, v := range c.VMs {
			if v.Name == name {
				return v
			}
		}
	}
	t.Fatalf("sim platform: no VM %s", name)
	return view.SimPlatformVM{}
}

// TestSimPlatformIncidents runs every incident command of the simulated
// Azure Local in turn and checks each change where the platform keeps it
// (cluster.Host Observe, from another Host as another process would) and in
// `sim platform`, and the one line each prints.
func TestSimPlatformIncidents(t *testing.T) {
	dir := t.TempDir()
	placeTL(t, dir, "avd-01") // node2: node1 has the resource bridge
	placeTL(t, dir, "avd-02") // node1: the tie goes to the first node
	first := observed(t, dir)
	if vmNamed(t, first, "avd-01").Node != "node2" || vmNamed(t, first, "avd-02").Node != "node1" {
		t.Fatalf("placement: %+v", first.VMs)
	}
	id0 := vmNamed(t, first, "avd-01").Identity
	steps := []struct {
		args  []string
		line  string // the line printed, up to any detail
		check func(t *testing.T, st cluster.ClusterState, doc view.SimPlatformDoc)
	}{
		{args: []string{"fail-node", "--node", "node2"},
			line: "node/node2: failed (Down); vm/avd-01 failed over to node1 (Running)",
			check: func(t *testing.T, st cluster.ClusterState, doc view.SimPlatformDoc) {
				v := vmNamed(t, st, "avd-01")
				if nodeNamed(t, st, "node2").Status != cluster.NodeDown || v.Node != "node1" || v.Identity != id0 || v.Power != cluster.PowerRunning {
					t.Errorf("after fail-node: node2 %s, avd-01 %+v; want Down, avd-01 running on node1 with its vTPM", nodeNamed(t, st, "node2").Status, v)
				}
				if doc.Clusters[0].Nodes[1].Status != "Down" {
					t.Errorf("sim platform: node2 %+v", doc.Clusters[0].Nodes[1])
				}
			}},
		{args: []string{"recover-node", "--node", "node2"}, line: "node/node2: recovered (Up)",
			check: func(t *testing.T, st cluster.ClusterState, _ view.SimPlatformDoc) {
				if nodeNamed(t, st, "node2").Status != cluster.NodeUp || vmNamed(t, st, "avd-01").Node != "node1" {
					t.Errorf("after recover-node: %+v", st)
				}
			}},
		{args: []string{"move-vm", "--vm", "avd-01", "--to-node", "node2"},
			line: "vm/avd-01: moved node1 -> node2 with its guest state key: vTPM kept (Running)",
			check: func(t *testing.T, st cluster.ClusterState, _ view.SimPlatformDoc) {
				if v := vmNamed(t, st, "avd-01"); v.Node != "node2" || v.Identity != id0 || v.Resets != 0 {
					t.Errorf("after a live migration: %+v, want node2 and identity %s", v, id0)
				}
			}},
		{args: []string{"move-vm", "--vm", "AVD-01", "--to-node", "node1", "--without-key"},
			line: "vm/avd-01: moved node2 -> node1 without its guest state key: new key, vTPM reset (Running)",
			check: func(t *testing.T, st cluster.ClusterState, doc view.SimPlatformDoc) {
				v := vmNamed(t, st, "avd-01")
				if v.Node != "node1" || v.Identity == id0 || len(v.Identity) != 64 || v.Resets != 1 || !v.KeyPresent {
					t.Errorf("after a failover without the key: %+v, want node1, a new identity, one reset, a new key", v)
				}
				if pv := platformVM(t, doc, "avd-01"); pv.VTPMIdentity != v.Identity || pv.VTPMResets != 1 {
					t.Errorf("sim platform: %+v", pv)
				}
			}},
		{args: []string{"stop-agent", "--node", "node2", "--agent", "igvmagent"}, line: "node/node2: IGVmAgent Stopped (was Running)",
			check: func(t *testing.T, st cluster.ClusterState, doc view.SimPlatformDoc) {
				if a := nodeNamed(t, st, "node2").Agents[cluster.AgentIGVm]; a != cluster.AgentStopped {
					t.Errorf("IGVmAgent on node2: %s", a)
				}
				if a := doc.Clusters[0].Nodes[1].Agents["IGVmAgent"]; a != "Stopped" {
					t.Errorf("sim platform: IGVmAgent on node2 %s", a)
				}
			}},
		{args: []string{"start-agent", "--node", "node2", "--agent", "IGVmAgent"}, line: "node/node2: IGVmAgent Running (was Stopped)"},
		{args: []string{"stop-agent", "--agent", "wssdcloudagent"}, line: "node/node1: wssdcloudagent Stopped (was Running)",
			check: func(t *testing.T, st cluster.ClusterState, _ view.SimPlatformDoc) {
				if a := nodeNamed(t, st, "node1").Agents[cluster.AgentCloud]; a != cluster.AgentStopped {
					t.Errorf("cloud agent on node1: %s", a)
				}
			}},
		{args: []string{"start-agent", "--agent", "wssdcloudagent"}, line: "node/node1: wssdcloudagent Running (was Stopped)"},
		{args: []string{"delete-key", "--vm", "avd-02"}, line: "vm/avd-02: guest state protection key deleted from AzureStackTvmKeyVault/AzureStackHostAttestation",
			check: func(t *testing.T, st cluster.ClusterState, doc view.SimPlatformDoc) {
				if v := vmNamed(t, st, "avd-02"); v.KeyPresent || v.Power != cluster.PowerRunning {
					t.Errorf("after delete-key: %+v, want running without a key", v)
				}
				if pv := platformVM(t, doc, "avd-02"); pv.KeyPresent {
					t.Errorf("sim platform: %+v", pv)
				}
			}},
		{args: []string{"local-vm", "--vm", "legacy-01", "--node", "node2"}, line: "vm/legacy-01: created with local tools on node2",
			check: func(t *testing.T, st cluster.ClusterState, doc view.SimPlatformDoc) {
				if v := vmNamed(t, st, "legacy-01"); v.Managed || v.GuestStateIsolationType == "TrustedLaunch" || v.Node != "node2" {
					t.Errorf("local VM: %+v", v)
				}
				if pv := platformVM(t, doc, "legacy-01"); pv.Role != view.RoleLocal || pv.TrustedLaunch {
					t.Errorf("sim platform: %+v", pv)
				}
				if pv := platformVM(t, doc, "sim-cluster-arcbridge"); pv.Role != view.RoleInfrastructure {
					t.Errorf("sim platform: the bridge is %+v", pv)
				}
			}},
	}
	for _, s := range steps {
		t.Run(strings.Join(s.args, " "), func(t *testing.T) {
			out := mustSimCLI(t, dir, append([]string{"sim"}, s.args...)...)
			if !strings.HasPrefix(out, s.line) || strings.Count(out, "\n") != 1 {
				t.Fatalf("printed %q, want one line starting %q", out, s.line)
			}
			if s.check != nil {
				s.check(t, observed(t, dir), platformDoc(t, dir))
			}
		})
	}
}

// TestSimPlatformRestoreOntoAnotherSystem: move-vm --to-cluster copies the
// VM to another cluster; with its key the vTPM survives, without it the
// vTPM resets.
func TestSimPlatformRestoreOntoAnotherSystem(t *testing.T) {
	dir := t.TempDir()
	h, err := cluster.Open(dir, cluster.Options{Clusters: []cluster.Spec{
		{Name: "sim-cluster", CustomLocation: arm.DefaultCustomLocation, Nodes: []string{"node1", "node2"}},
		{Name: "hci-east", CustomLocation: "/subscriptions/s/resourceGroups/sim/providers/Microsoft.ExtendedLocation/customLocations/hci-east", Nodes: []string{"n1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_ = h.Close()
	id := placeTL(t, dir, "avd-01")
	id0 := vmNamed(t, observed(t, dir), "avd-01").Identity
	vmIn := func(name string) cluster.VMState {
		var v cluster.VMState
		withHost(t, dir, func(h *cluster.Host) {
			if v, err = h.VM(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		})
		return v
	}
	out := mustSimCLI(t, dir, "sim", "move-vm", "--vm", "avd-01", "--to-cluster", "hci-east", "--to-node", "n1")
	if v := vmIn("avd-01"); v.Cluster != "hci-east" || v.Identity != id0 || !strings.Contains(out, "restored from cluster sim-cluster onto cluster hci-east node n1 with its guest state key: vTPM kept") {
		t.Errorf("restore with the key: %q, %+v", out, v)
	}
	out = mustSimCLI(t, dir, "sim", "move-vm", "--vm", id, "--to-cluster", "sim-cluster", "--to-node", "node2", "--without-key")
	if v := vmIn("avd-01"); v.Cluster != "sim-cluster" || v.Identity == id0 || v.Resets != 1 || !strings.Contains(out, "vTPM reset") {
		t.Errorf("restore without the key: %q, %+v", out, v)
	}
	if _, err := simCLI(t, dir, "sim", "fail-node", "--node", "node1"); err == nil || !strings.Contains(err.Error(), "--cluster") {
		t.Errorf("fail-node with two clusters and no --cluster: %v", err)
	}
}

// TestSimPlatformRefusesResourceBridge: no incident command touches the Arc
// resource bridge VM; each says why and prints nothing.
func TestSimPlatformRefusesResourceBridge(t *testing.T) {
	dir := t.TempDir()
	before := vmNamed(t, observed(t, dir), "sim-cluster-arcbridge")
	for _, args := range [][]string{
		{"move-vm", "--vm", "sim-cluster-arcbridge", "--to-node", "node2"},
		{"move-vm", "--vm", before.VMID, "--to-node", "node2", "--without-key"},
		{"delete-key", "--vm", "sim-cluster-arcbridge"},
		{"portal-delete", "--vm", "sim-cluster-arcbridge"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, err := simCLI(t, dir, append([]string{"sim"}, args...)...)
			if !errors.Is(err, cluster.ErrInfrastructure) || !strings.Contains(err.Error(), "resource bridge") || out != "" {
				t.Fatalf("error %v, output %q; want ErrInfrastructure naming the resource bridge and no output", err, out)
			}
		})
	}
	if after := vmNamed(t, observed(t, dir), "sim-cluster-arcbridge"); after.Node != before.Node || after.Power != before.Power {
		t.Errorf("the bridge changed: %+v -> %+v", before, after)
	}
}

// TestSimPlatformNames: a missing name lists the VMs there are, an
// ambiguous one lists the candidates with their VM IDs, and the VM ID
// picks one.
func TestSimPlatformNames(t *testing.T) {
	dir := t.TempDir()
	id := placeTL(t, dir, "avd-01")
	mustSimCLI(t, dir, "sim", "local-vm", "--vm", "avd-01", "--node", "node1")
	_, err := simCLI(t, dir, "sim", "delete-key", "--vm", "avd-01")
	if err == nil || !strings.Contains(err.Error(), "ambiguous") || !strings.Contains(err.Error(), id) {
		t.Errorf("an ambiguous name: %v", err)
	}
	if out := mustSimCLI(t, dir, "sim", "delete-key", "--vm", id); !strings.HasPrefix(out, "vm/avd-01: guest state protection key deleted") {
		t.Errorf("by VM ID: %q", out)
	}
	_, err = simCLI(t, dir, "sim", "move-vm", "--vm", "nope", "--to-node", "node2")
	if err == nil || !strings.Contains(err.Error(), "no such VM") || !strings.Contains(err.Error(), "sim-cluster-arcbridge") {
		t.Errorf("a missing name: %v", err)
	}
	_, err = simCLI(t, dir, "sim", "fail-node", "--node", "node9")
	if err == nil || !strings.Contains(err.Error(), "node1, node2") {
		t.Errorf("a missing node: %v", err)
	}
	_, err = simCLI(t, dir, "sim", "delete-key", "--vm", id)
	if err == nil || !strings.Contains(err.Error(), "nothing to delete") {
		t.Errorf("deleting a deleted key: %v", err)
	}
	_, err = simCLI(t, dir, "sim", "portal-delete", "--vm", "avd-01")
	if err == nil || !strings.Contains(err.Error(), "no Arc machines") {
		t.Errorf("portal-delete with no ARM resources: %v", err)
	}
}

// TestSimPlatformValidate: bad flags are refused before anything is opened
// (no simulated Azure Local appears in the state dir).
func TestSimPlatformValidate(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"fail-node"}, "--node NODE"},
		{[]string{"recover-node"}, "--node NODE"},
		{[]string{"move-vm", "--vm", "x"}, "--to-node NODE"},
		{[]string{"move-vm", "--to-node", "n"}, "--vm NAME"},
		{[]string{"stop-agent", "--node", "n"}, `--agent "" is unknown`},
		{[]string{"stop-agent", "--agent", "sshd", "--node", "n"}, "IGVmAgent, wssdagent or wssdcloudagent"},
		{[]string{"start-agent", "--agent", "IGVmAgent"}, "--node NODE"},
		{[]string{"delete-key"}, "--vm NAME"},
		{[]string{"local-vm", "--vm", "x"}, "--node NODE"},
		{[]string{"local-vm", "--vm", " x", "--node", "n"}, "leading or trailing"},
		{[]string{"local-vm", "--vm", "a\x1bb", "--node", "n"}, "control characters"},
		{[]string{"portal-delete"}, "--vm NAME"},
		{[]string{"platform", "--format", "yaml"}, "text or json"},
		{[]string{"arm-fault"}, "--operation OPERATION"},
		{[]string{"arm-fault", "--operation", "Machines_Get"}, "does nothing"},
		{[]string{"arm-fault", "--operation", "Machines_Reboot", "--throttle", "1"}, "not one the simulated ARM serves"},
		{[]string{"arm-fault", "--operation", "*", "--transient", "1", "--status", "429"}, "5xx"},
		{[]string{"arm-fault", "--operation", "*", "--retry-after", "1s", "--latency", "1s"}, "Retry-After needs"},
		{[]string{"arm-fault", "--list", "--clear"}, "not both"},
		{[]string{"arm-fault", "--clear", "--throttle", "1"}, "--throttle given"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := simCLI(t, dir, append([]string{"sim"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
				t.Fatalf("error %v, output %q; want an error mentioning %q and no output", err, out, tc.want)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Validate opened the state dir: %v", ents)
	}
}

// TestSimPlatformCommandsGrouped: `sim --help` lists every command under
// the one heading of the simulated Azure Local, the platform driver: sim
// runs on (the old sim driver's commands are gone with it).
func TestSimPlatformCommandsGrouped(t *testing.T) {
	root := newRootCmd(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	simCmd, _, err := root.Find([]string{"sim"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range simCmd.Commands() {
		if c.GroupID != simGroupPlatform && c.Name() != "help" && c.Name() != "completion" {
			t.Errorf("sim %s is in no help group", c.Name())
		}
	}
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"sim", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Simulated Azure Local (driver: sim, sim serve):\n  arm-fault", "  drift ", "  failover ", "  init "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("sim --help lacks %q:\n%s", want, out.String())
		}
	}
	for _, gone := range []string{"  inject ", "  create-unmanaged ", "  ipsec ", "sim driver"} {
		if strings.Contains(out.String(), gone) {
			t.Errorf("sim --help still has %q:\n%s", gone, out.String())
		}
	}
}

// armTestClient talks to a running `sim serve` with a token from its own
// identity endpoint, trusting only its CA.
type armTestClient struct {
	t      *testing.T
	base   string
	client *http.Client
	token  string
}

// serveInProcess runs `tlreconcile sim serve` on dir until the test ends.
func serveInProcess(t *testing.T, dir string) *armTestClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	root := newRoot(&rootOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &out})
	root.SetArgs([]string{"--state-dir", dir, "sim", "serve", "--listen", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("sim serve printed no endpoint:\n%s", out.String())
		}
		_, rest, ok := strings.Cut(out.String(), "ARM endpoint:")
		if ok && strings.Contains(rest, "\n") {
			base = strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])
		}
	}
	ca, err := os.ReadFile(filepath.Join(dir, "tls", arm.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c := &armTestClient{t: t, base: base, client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	resp, err := c.client.PostForm(arm.TokenURL(base, arm.DefaultTenant), url.Values{"grant_type": {"client_credentials"},
		"client_id": {"app"}, "client_secret": {"x"}, "scope": {"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	c.token = tok.AccessToken
	return c
}

// do sends one request and returns its status, headers and body.
func (c *armTestClient) do(method, path string, body any) (int, http.Header, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	target := path
	if !strings.HasPrefix(path, "https://") {
		target = c.base + path
	}
	req, _ := http.NewRequest(method, target, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, resp.Header, m
}

// lro sends a long-running request and waits for it to succeed.
func (c *armTestClient) lro(method, path string, body any) {
	c.t.Helper()
	st, h, m := c.do(method, path, body)
	if st != http.StatusCreated && st != http.StatusAccepted && st != http.StatusOK {
		c.t.Fatalf("%s %s: %d %v", method, path, st, m)
	}
	for range 500 {
		_, _, op := c.do("GET", h.Get("Azure-AsyncOperation"), nil)
		switch op["status"] {
		case "Succeeded":
			return
		case "InProgress":
			time.Sleep(10 * time.Millisecond)
		default:
			c.t.Fatalf("%s %s: operation %v", method, path, op)
		}
	}
	c.t.Fatalf("%s %s: the operation did not finish", method, path)
}

func hciID(typ, name string) string {
	return "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.AzureStackHCI/" + typ + "/" + name
}

// createVM walks what the portal and the az CLI do over HTTPS: machine,
// image, logical network, NIC, then the trusted-launch VM instance.
func (c *armTestClient) createVM(name string) {
	c.t.Helper()
	hci, hc := "?api-version="+arm.StackHCIAPIVersion, "?api-version="+arm.HybridComputeAPIVersion
	ext := map[string]any{"type": "CustomLocation", "name": arm.DefaultCustomLocation}
	if st, _, m := c.do("PUT", testMachineID(name)+hc, map[string]any{"location": "eastus", "kind": "HCI", "properties": map[string]any{}}); st != 200 {
		c.t.Fatalf("PUT machine: %d %v", st, m)
	}
	c.lro("PUT", hciID("marketplaceGalleryImages", "win11")+hci, map[string]any{"location": "eastus", "extendedLocation": ext,
		"properties": map[string]any{"osType": "Windows", "hyperVGeneration": "V2",
			"identifier": map[string]any{"publisher": "microsoftwindowsdesktop", "offer": "windows-11", "sku": "win11-22h2-avd"},
			"version":    map[string]any{"name": "22621.2428.231001"}}})
	c.lro("PUT", hciID("logicalNetworks", "lnet")+hci, map[string]any{"location": "eastus", "extendedLocation": ext,
		"properties": map[string]any{"vmSwitchName": "ConvergedSwitch"}})
	c.lro("PUT", hciID("networkInterfaces", "nic")+hci, map[string]any{"location": "eastus", "extendedLocation": ext,
		"properties": map[string]any{"ipConfigurations": []any{map[string]any{"name": "ipconfig", "properties": map[string]any{
			"subnet": map[string]any{"id": hciID("logicalNetworks", "lnet")}}}}}})
	c.lro("PUT", vmiID(name)+hci, map[string]any{"extendedLocation": ext, "properties": map[string]any{
		"hardwareProfile": map[string]any{"vmSize": "Custom", "processors": 2, "memoryMB": 4096},
		"osProfile":       map[string]any{"computerName": name, "adminUsername": "localadmin", "adminPassword": "never-returned"},
		"storageProfile":  map[string]any{"imageReference": map[string]any{"id": hciID("marketplaceGalleryImages", "win11")}},
		"networkProfile":  map[string]any{"networkInterfaces": []any{map[string]any{"id": hciID("networkInterfaces", "nic")}}},
		"securityProfile": map[string]any{"securityType": "TrustedLaunch", "enableTPM": true, "uefiSettings": map[string]any{"secureBootEnabled": true}},
	}})
}

func vmiID(machine string) string {
	return testMachineID(machine) + "/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default"
}

// TestSimPortalDeleteWhileServing: with `sim serve` running, portal-delete
// removes the VM from the cluster and its resources from ARM; the server's
// next GETs answer 404 and the NIC stays.
func TestSimPortalDeleteWhileServing(t *testing.T) {
	dir := t.TempDir()
	c := serveInProcess(t, dir)
	c.createVM("avd-01")
	hci, hc := "?api-version="+arm.StackHCIAPIVersion, "?api-version="+arm.HybridComputeAPIVersion
	_, _, vmi := c.do("GET", vmiID("avd-01")+hci, nil)
	vmID, _ := vmi["properties"].(map[string]any)["vmId"].(string)
	if v := vmNamed(t, observed(t, dir), "avd-01"); v.VMID != vmID || !v.KeyPresent {
		t.Fatalf("the VM ARM created: %+v, ARM says VM ID %q", v, vmID)
	}
	out := mustSimCLI(t, dir, "sim", "portal-delete", "--vm", "avd-01")
	if !strings.HasPrefix(out, "vm/avd-01: deleted in the portal: the VM on the cluster (VM ID "+vmID) || strings.Count(out, "\n") != 1 {
		t.Errorf("portal-delete printed %q", out)
	}
	if st, _, m := c.do("GET", testMachineID("avd-01")+hc, nil); st != http.StatusNotFound {
		t.Errorf("GET machine after portal-delete: %d %v, want 404", st, m)
	}
	if st, _, m := c.do("GET", vmiID("avd-01")+hci, nil); st != http.StatusNotFound {
		t.Errorf("GET VM instance after portal-delete: %d %v, want 404", st, m)
	}
	if st, _, _ := c.do("GET", hciID("networkInterfaces", "nic")+hci, nil); st != http.StatusOK {
		t.Errorf("GET NIC after portal-delete: %d, want 200 (the portal leaves it)", st)
	}
	for _, v := range observed(t, dir).VMs {
		if v.VMID == vmID {
			t.Errorf("the VM is still on the cluster: %+v", v)
		}
	}
	if doc := platformDoc(t, dir); len(doc.Clusters[0].VMs) != 1 {
		t.Errorf("sim platform after portal-delete: %+v, want the bridge only", doc.Clusters[0].VMs)
	}
}

// TestSimARMFaultReachesServer: a fault set by `sim arm-fault` in another
// command is applied by the running server, listed, and cleared.
func TestSimARMFaultReachesServer(t *testing.T) {
	dir := t.TempDir()
	c := serveInProcess(t, dir)
	hc := "?api-version=" + arm.HybridComputeAPIVersion
	out := mustSimCLI(t, dir, "sim", "arm-fault", "--operation", "machines_get", "--throttle", "1", "--retry-after", "2s")
	if out != "arm/Machines_Get: fault injected: throttle next 1 (429, Retry-After 2s)\n" {
		t.Errorf("arm-fault printed %q", out)
	}
	if list := mustSimCLI(t, dir, "sim", "arm-fault", "--list"); list != "Machines_Get: throttle next 1 (429, Retry-After 2s)\n" {
		t.Errorf("arm-fault --list: %q", list)
	}
	if doc := platformDoc(t, dir); len(doc.ARMFaults) != 1 || doc.ARMFaults[0].Throttle != 1 {
		t.Errorf("sim platform faults: %+v", doc.ARMFaults)
	}
	st, h, _ := c.do("GET", testMachineID("m1")+hc, nil)
	if st != http.StatusTooManyRequests || h.Get("Retry-After") != "2" {
		t.Errorf("first GET: %d Retry-After %q, want 429 and 2", st, h.Get("Retry-After"))
	}
	if st, _, _ := c.do("GET", testMachineID("m1")+hc, nil); st != http.StatusNotFound {
		t.Errorf("second GET: %d, want 404 (the throttle is used up)", st)
	}
	mustSimCLI(t, dir, "sim", "arm-fault", "--operation", "*", "--transient", "5", "--status", "500")
	if st, _, _ := c.do("GET", testMachineID("m1")+hc, nil); st != http.StatusInternalServerError {
		t.Errorf("GET with a transient fault: %d, want 500", st)
	}
	if out := mustSimCLI(t, dir, "sim", "arm-fault", "--clear"); out != "arm: 1 fault(s) cleared\n" {
		t.Errorf("arm-fault --clear printed %q", out)
	}
	if st, _, _ := c.do("GET", testMachineID("m1")+hc, nil); st != http.StatusNotFound {
		t.Errorf("GET after --clear: %d, want 404", st)
	}
	if list := mustSimCLI(t, dir, "sim", "arm-fault", "--list", "--format", "json"); strings.TrimSpace(list) != "[]" {
		t.Errorf("arm-fault --list --format json after --clear: %q", list)
	}
}

// TestSimPortalDeleteRefusesLocalVM: a VM made with local tools has no ARM
// resources; portal-delete says so.
func TestSimPortalDeleteRefusesLocalVM(t *testing.T) {
	dir := t.TempDir()
	mustSimCLI(t, dir, "sim", "local-vm", "--vm", "legacy-01", "--node", "node2")
	out, err := simCLI(t, dir, "sim", "portal-delete", "--vm", "legacy-01")
	if !errors.Is(err, cluster.ErrUnmanaged) || out != "" {
		t.Errorf("portal-delete of a local VM: %v, %q; want ErrUnmanaged and no output", err, out)
	}
}

// TestSimServeGuestsRunTheAgent: the guests `sim serve` serves run
// tlreconcile's guest agent, as driver: sim's do: a Run Command of
// `tlreconcile guest attest` answers with an attestation.
func TestSimServeGuestsRunTheAgent(t *testing.T) {
	dir := t.TempDir()
	c := serveInProcess(t, dir)
	c.createVM("avd-01")
	hc := "?api-version=" + arm.HybridComputeAPIVersion
	rc := testMachineID("avd-01") + "/runCommands/attest" + hc
	c.lro("PUT", rc, map[string]any{"location": "eastus", "properties": map[string]any{
		"source": map[string]any{"script": "tlreconcile guest attest --format json --nonce 00112233445566778899aabbccddeeff"}}})
	_, _, got := c.do("GET", rc, nil)
	view, _ := got["properties"].(map[string]any)["instanceView"].(map[string]any)
	if view == nil || view["exitCode"] != float64(0) || !strings.Contains(fmt.Sprint(view["output"]), `"format_version":1`) {
		t.Fatalf("the served guest did not attest: %v", got)
	}
}

package cluster_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/armspec"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

const (
	sub    = "fd3c3665-1729-4b7b-9a38-238e83b0f98b"
	rg     = "testrg"
	hciAPI = "?api-version=" + arm.StackHCIAPIVersion
	hcAPI  = "?api-version=" + arm.HybridComputeAPIVersion
)

// openHost opens a cluster host on dir, closed at the end of the test.
func openHost(t *testing.T, dir string, opts cluster.Options) *cluster.Host {
	t.Helper()
	h, err := cluster.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// armClient is a started simulated ARM over a cluster host, with a client
// that trusts its CA, holds a token and checks answers against the spec
// when the bundle is on this machine.
type armClient struct {
	t      *testing.T
	base   string
	client *http.Client
	token  string
}

func startARM(t *testing.T, dir string, host arm.Host) *armClient {
	t.Helper()
	srv, err := arm.New(dir, host, arm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	base, err := srv.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = srv.Close() })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}
	a := &armClient{t: t, base: base, client: &http.Client{Transport: tr}}
	a.token = a.getToken()
	if root, err := armspec.FindBundle(); err == nil {
		spec, err := armspec.Load(root)
		if err != nil {
			t.Fatal(err)
		}
		a.client = &http.Client{Transport: specCheck{t: t, spec: spec, next: tr}}
	}
	return a
}

// specCheck fails the test on a resource provider answer Microsoft's spec
// rejects.
type specCheck struct {
	t    *testing.T
	spec *armspec.Spec
	next http.RoundTripper
}

func (c specCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/subscriptions/") || strings.Contains(req.URL.Path, "/operation") {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := c.spec.ValidateResponse(req, resp.StatusCode, resp.Header, body); err != nil {
		c.t.Errorf("%s %s: the response breaks the spec: %v", req.Method, req.URL.Path, err)
	}
	return resp, nil
}

func (a *armClient) getToken() string {
	a.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s3cret"},
		"scope": {"https://management.azure.com/.default"}}
	resp, err := a.client.PostForm(arm.TokenURL(a.base, arm.DefaultTenant), form)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		a.t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) prop(path string) any {
	var v any = r.body
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (a *armClient) do(want int, method, path string, body any) reply {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	target := path
	if !strings.HasPrefix(path, "https://") {
		target = a.base + path
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	if want != 0 && r.status != want {
		a.t.Fatalf("%s %s: got %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

// lro sends a long-running request and waits for its operation; it returns
// the operation's final status.
func (a *armClient) lro(want int, method, path string, body any) string {
	a.t.Helper()
	r := a.do(want, method, path, body)
	u := r.header.Get("Azure-AsyncOperation")
	if u == "" {
		a.t.Fatalf("%s %s: no Azure-AsyncOperation header: %s", method, path, r.raw)
	}
	for range 500 {
		op := a.do(200, "GET", u, nil)
		if st, _ := op.prop("status").(string); st != "InProgress" {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.t.Fatal("operation did not finish")
	return ""
}

func (a *armClient) mustLRO(want int, method, path string, body any) {
	a.t.Helper()
	if st := a.lro(want, method, path, body); st != "Succeeded" {
		a.t.Fatalf("%s %s: operation %s", method, path, st)
	}
}

func group() string { return "/subscriptions/" + sub + "/resourceGroups/" + rg }

func hciPath(typ, name string) string {
	return group() + "/providers/Microsoft.AzureStackHCI/" + typ + "/" + name
}

func machinePath(name string) string {
	return group() + "/providers/Microsoft.HybridCompute/machines/" + name
}

func vmiPath(machine string) string {
	return machinePath(machine) + "/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default"
}

func extLoc() map[string]any {
	return map[string]any{"type": "CustomLocation", "name": arm.DefaultCustomLocation}
}

// createVM walks what the portal and the az CLI do: machine, image, logical
// network, NIC, then the trusted-launch VM instance.
func (a *armClient) createVM(name string) {
	a.t.Helper()
	a.do(200, "PUT", machinePath(name)+hcAPI, map[string]any{"location": "eastus", "kind": "HCI", "properties": map[string]any{}})
	a.mustLRO(201, "PUT", hciPath("marketplaceGalleryImages", "win11")+hciAPI, map[string]any{"location": "eastus", "extendedLocation": extLoc(),
		"properties": map[string]any{"osType": "Windows", "hyperVGeneration": "V2",
			"identifier": map[string]any{"publisher": "microsoftwindowsdesktop", "offer": "windows-11", "sku": "win11-22h2-avd"},
			"version":    map[string]any{"name": "22621.2428.231001"}}})
	a.mustLRO(201, "PUT", hciPath("logicalNetworks", "lnet")+hciAPI, map[string]any{"location": "eastus", "extendedLocation": extLoc(),
		"properties": map[string]any{"vmSwitchName": "ConvergedSwitch"}})
	a.mustLRO(201, "PUT", hciPath("networkInterfaces", "nic")+hciAPI, map[string]any{"location": "eastus", "extendedLocation": extLoc(),
		"properties": map[string]any{"ipConfigurations": []any{map[string]any{"name": "ipconfig", "properties": map[string]any{
			"subnet": map[string]any{"id": hciPath("logicalNetworks", "lnet")}}}}}})
	a.mustLRO(201, "PUT", vmiPath(name)+hciAPI, map[string]any{"extendedLocation": extLoc(), "properties": map[string]any{
		"hardwareProfile": map[string]any{"vmSize": "Custom", "processors": 2, "memoryMB": 4096},
		"osProfile":       map[string]any{"computerName": name, "adminUsername": "localadmin", "adminPassword": "never-returned"},
		"storageProfile":  map[string]any{"imageReference": map[string]any{"id": hciPath("marketplaceGalleryImages", "win11")}},
		"networkProfile":  map[string]any{"networkInterfaces": []any{map[string]any{"id": hciPath("networkInterfaces", "nic")}}},
		"securityProfile": map[string]any{"securityType": "TrustedLaunch", "enableTPM": true, "uefiSettings": map[string]any{"secureBootEnabled": true}},
	}})
}

// vmByName finds a VM in the observed cluster.
func vmByName(t *testing.T, st cluster.ClusterState, name string) cluster.VMState {
	t.Helper()
	for _, vm := range st.VMs {
		if vm.Name == name {
			return vm
		}
	}
	t.Fatalf("cluster %s has no VM %s: %+v", st.Name, name, st.VMs)
	return cluster.VMState{}
}

// bridge returns the cluster's Arc resource bridge VM.
func bridge(t *testing.T, st cluster.ClusterState) cluster.VMState {
	t.Helper()
	var found []cluster.VMState
	for _, vm := range st.VMs {
		if vm.Infrastructure {
			found = append(found, vm)
		}
	}
	if len(found) != 1 {
		t.Fatalf("cluster %s: want one resource bridge VM, got %+v", st.Name, found)
	}
	return found[0]
}

func observe(t *testing.T, h *cluster.Host, name string) cluster.ClusterState {
	t.Helper()
	st, err := h.Observe(context.Background(), name, cluster.ObserveOptions{Identities: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

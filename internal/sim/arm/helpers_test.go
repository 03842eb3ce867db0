package arm_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/armspec"
)

const (
	sub    = "fd3c3665-1729-4b7b-9a38-238e83b0f98b"
	rg     = "testrg"
	tenant = "00000000-1111-2222-3333-444444444444"
	hciAPI = "?api-version=" + arm.StackHCIAPIVersion
	hcAPI  = "?api-version=" + arm.HybridComputeAPIVersion
)

// sim is one started Server with a client that trusts its CA and a token.
type sim struct {
	t      *testing.T
	srv    *arm.Server
	host   *arm.MemoryHost
	dir    string
	base   string
	client *http.Client
	token  string
}

func startSim(t *testing.T, dir string, opts arm.Options) *sim {
	t.Helper()
	host := &arm.MemoryHost{}
	s := startSimOn(t, dir, host, opts)
	s.host = host
	return s
}

// startSimOn is startSim over another Host (s.host stays nil).
func startSimOn(t *testing.T, dir string, host arm.Host, opts arm.Options) *sim {
	t.Helper()
	srv, err := arm.New(dir, host, opts)
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
	s := &sim{t: t, srv: srv, dir: dir, base: base, client: &http.Client{Transport: tr}}
	s.token = s.getToken()
	// Every ARM answer the sim gives in these tests is held against
	// Microsoft's specification (the token endpoint is not ARM: s.client
	// stays unchecked for it).
	s.client = &http.Client{Transport: conformance{t: t, spec: specForTests(t), next: tr}}
	return s
}

// specForTests loads Microsoft's spec bundle once for the package's tests
// (about 200 ms a load). Without the bundle the sim's tests still run,
// unchecked, except in CI, where a missing bundle fails them.
var specForTests = func() func(testing.TB) *armspec.Spec {
	var once sync.Once
	var spec *armspec.Spec
	var err error
	return func(tb testing.TB) *armspec.Spec {
		tb.Helper()
		once.Do(func() {
			var root string
			if root, err = armspec.FindBundle(); err == nil {
				spec, err = armspec.Load(root)
			}
		})
		if err != nil && os.Getenv("CI") != "" {
			tb.Fatalf("conformance: %v (required when CI is set)", err)
		}
		return spec
	}
}()

// conformance validates what passes through it against the spec: every
// response, and every request the sim accepted (2xx; one it accepts that
// the spec rejects means the sim is too lenient). A request the tests send
// on purpose outside the spec (a wrong path, a wrong api-version) is
// refused by the sim and only its error response is checked, when the spec
// has the operation at all; operation-status polls are ARM's generic
// protocol, outside the resource providers' specs, and so are the identity
// endpoints.
type conformance struct {
	t    testing.TB
	spec *armspec.Spec
	next http.RoundTripper
}

func (c conformance) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil || c.spec == nil || !isResourceCall(req.URL.Path) {
		return resp, err
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	checked := req.Clone(req.Context())
	checked.Body = io.NopCloser(bytes.NewReader(reqBody))
	if resp.StatusCode < 300 {
		if err := c.spec.ValidateRequest(checked, reqBody); err != nil {
			c.t.Errorf("the sim accepted a request the spec rejects: %v", err)
		}
	}
	if err := c.spec.ValidateResponse(checked, resp.StatusCode, resp.Header, respBody); err != nil && !(resp.StatusCode >= 400 && errors.Is(err, armspec.ErrNoOperation)) {
		c.t.Errorf("the sim's response breaks the spec: %v", err)
	}
	return resp, nil
}

// isResourceCall: an ARM call to a resource provider, not the identity
// endpoints (Entra ID's protocol, not ARM) and not an operation-status poll.
func isResourceCall(path string) bool {
	return strings.HasPrefix(path, "/subscriptions/") &&
		!strings.Contains(path, "/operationStatuses/") && !strings.Contains(path, "/operationResults/")
}

func newSim(t *testing.T) *sim { t.Helper(); return startSim(t, t.TempDir(), arm.Options{}) }

func (s *sim) getToken() string {
	s.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s3cret"},
		"scope": {"https://management.azure.com/.default"}}
	resp, err := s.client.PostForm(arm.TokenURL(s.base, tenant), form)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		s.t.Fatalf("token: %d %+v %v", resp.StatusCode, tok, err)
	}
	return tok.AccessToken
}

// reply is an answer: status, headers and the decoded JSON body.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// prop reads a dotted path in the body, e.g. "properties.status.powerState".
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

func (s *sim) do(method, path string, body any) reply {
	s.t.Helper()
	return s.doAuth(method, path, body, "Bearer "+s.token)
}

func (s *sim) doAuth(method, path string, body any, auth string) reply {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	target := path
	if !strings.HasPrefix(path, "https://") {
		target = s.base + path
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// must is do that fails the test unless the status is want.
func (s *sim) must(want int, method, path string, body any) reply {
	s.t.Helper()
	r := s.do(method, path, body)
	if r.status != want {
		s.t.Fatalf("%s %s: got %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

// wait polls an Azure-AsyncOperation URL until the operation ends and
// returns its status.
func (s *sim) wait(r reply) string {
	s.t.Helper()
	u := r.header.Get("Azure-AsyncOperation")
	if u == "" {
		s.t.Fatalf("no Azure-AsyncOperation header in %d %s", r.status, r.raw)
	}
	for range 200 {
		op := s.must(200, "GET", u, nil)
		if st := op.prop("status"); st != "InProgress" {
			return st.(string)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatal("operation did not finish")
	return ""
}

// lro sends a long-running request, checks its first status and waits for
// it to succeed.
func (s *sim) lro(want int, method, path string, body any) reply {
	s.t.Helper()
	r := s.must(want, method, path, body)
	if st := s.wait(r); st != "Succeeded" {
		s.t.Fatalf("%s %s: operation %s", method, path, st)
	}
	return r
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

func machineBody(kind string) map[string]any {
	return map[string]any{"location": "eastus", "kind": kind, "tags": map[string]string{"managed-by": "tlreconcile"}, "properties": map[string]any{}}
}

func imageBody(sku string) map[string]any {
	return map[string]any{"location": "eastus", "extendedLocation": extLoc(), "properties": map[string]any{
		"osType": "Windows", "hyperVGeneration": "V2",
		"identifier": map[string]any{"publisher": "microsoftwindowsdesktop", "offer": "windows-11", "sku": sku},
		"version":    map[string]any{"name": "22621.2428.231001"},
	}}
}

func lnetBody() map[string]any {
	return map[string]any{"location": "eastus", "extendedLocation": extLoc(), "properties": map[string]any{"vmSwitchName": "ConvergedSwitch"}}
}

func nicBody() map[string]any {
	return map[string]any{"location": "eastus", "extendedLocation": extLoc(), "properties": map[string]any{
		"ipConfigurations": []any{map[string]any{"name": "ipconfig", "properties": map[string]any{
			"subnet": map[string]any{"id": hciPath("logicalNetworks", "lnet")}}}},
	}}
}

func vmiBody(image string, tpm, secureBoot bool) map[string]any {
	return map[string]any{"extendedLocation": extLoc(), "properties": map[string]any{
		"hardwareProfile": map[string]any{"vmSize": "Custom", "processors": 2, "memoryMB": 4096},
		"osProfile":       map[string]any{"computerName": "avd-01", "adminUsername": "localadmin", "adminPassword": "never-returned"},
		"storageProfile":  map[string]any{"imageReference": map[string]any{"id": hciPath("marketplaceGalleryImages", image)}},
		"networkProfile":  map[string]any{"networkInterfaces": []any{map[string]any{"id": hciPath("networkInterfaces", "nic")}}},
		"securityProfile": map[string]any{"securityType": "TrustedLaunch", "enableTPM": tpm, "uefiSettings": map[string]any{"secureBootEnabled": secureBoot}},
	}}
}

// infra creates what a VM instance needs, in the order the portal and the
// az CLI follow: image, logical network, NIC.
func (s *sim) infra() {
	s.t.Helper()
	s.lro(201, "PUT", hciPath("marketplaceGalleryImages", "win11")+hciAPI, imageBody("win11-22h2-avd"))
	s.lro(201, "PUT", hciPath("logicalNetworks", "lnet")+hciAPI, lnetBody())
	s.lro(201, "PUT", hciPath("networkInterfaces", "nic")+hciAPI, nicBody())
}

// vm creates an HCI machine and its trusted-launch instance.
func (s *sim) vm(name string) reply {
	s.t.Helper()
	s.must(200, "PUT", machinePath(name)+hcAPI, machineBody("HCI"))
	return s.lro(201, "PUT", vmiPath(name)+hciAPI, vmiBody("win11", true, true))
}

// failures records what the conformance check reports, instead of failing.
type failures struct {
	testing.TB
	got []string
}

func (f *failures) Errorf(format string, args ...any) {
	f.got = append(f.got, fmt.Sprintf(format, args...))
}

// TestConformanceCheckCanFail: the check every sim test runs through
// reports a response the spec rejects (so a sim test that passes has had
// its answers checked).
func TestConformanceCheckCanFail(t *testing.T) {
	spec := specForTests(t)
	if spec == nil {
		t.Skip("no spec bundle")
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"properties":{"securityProfile":{"securityType":"Bogus"}}}`)
	}))
	defer bad.Close()
	f := &failures{TB: t}
	client := &http.Client{Transport: conformance{t: f, spec: spec, next: http.DefaultTransport}}
	resp, err := client.Get(bad.URL + vmiPath("m1") + hciAPI)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(f.got) == 0 || !strings.Contains(strings.Join(f.got, "\n"), "Bogus") {
		t.Fatalf("the conformance check reported %q for a VM instance with securityType Bogus", f.got)
	}
}

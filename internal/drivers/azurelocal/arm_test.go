package azurelocal

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/armspec"
)

// simARM is the simulated ARM on loopback with the driver's ARM client on
// it: the real azidentity credential against the sim's token endpoint, the
// SDK's ARM pipeline, and every request and response checked against
// Microsoft's specification on the way (a violation fails the test).
type simARM struct {
	t      *testing.T
	srv    *arm.Server
	host   *arm.MemoryHost
	client *armClient
}

var (
	specOnce sync.Once
	specVal  *armspec.Spec
	specErr  error
)

func loadSpec(t *testing.T) *armspec.Spec {
	t.Helper()
	root := armspec.BundleRoot(t)
	specOnce.Do(func() { specVal, specErr = armspec.Load(root) })
	if specErr != nil {
		t.Fatal(specErr)
	}
	return specVal
}

func newSimARM(t *testing.T) *simARM {
	t.Helper()
	spec := loadSpec(t)
	dir := t.TempDir()
	host := &arm.MemoryHost{}
	srv, err := arm.New(dir, host, arm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	base, err := srv.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = srv.Close() })
	hc, err := simTransport(filepath.Join(dir, "tls", arm.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	checked := &http.Client{Transport: specChecked{spec: spec, t: t, next: hc.Transport}}
	c := simCloud(base)
	cred, err := simCredential(c, arm.DefaultTenant, hc)
	if err != nil {
		t.Fatal(err)
	}
	client, err := newARMClient(armConfig{
		Cloud: c, Credential: cred, Transport: checked,
		Subscription: "00000000-0000-0000-0000-000000000000", ResourceGroup: "sim",
		Location: arm.DefaultLocation, CustomLocation: arm.DefaultCustomLocation,
		Retry:         policy.RetryOptions{MaxRetries: 3, RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 1500 * time.Millisecond},
		PollFrequency: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &simARM{t: t, srv: srv, host: host, client: client}
}

// specChecked validates every ARM resource call against the spec; the
// identity endpoints (Entra ID's protocol) and the operation-status polls
// (ARM's, not the resource provider's) are not in the RP specs.
type specChecked struct {
	spec *armspec.Spec
	t    *testing.T
	next http.RoundTripper
}

func (c specChecked) RoundTrip(req *http.Request) (*http.Response, error) {
	p := req.URL.Path
	if !strings.HasPrefix(p, "/subscriptions/") || strings.Contains(p, "/operationStatuses/") || strings.Contains(p, "/operationResults/") {
		return c.next.RoundTrip(req)
	}
	return c.spec.Transport(c.next, func(err error) { c.t.Errorf("spec: %v", err) }).RoundTrip(req)
}

// infra creates the gallery image and NIC a VM needs.
func (s *simARM) infra(ctx context.Context) (image, nic string) {
	s.t.Helper()
	g, err := s.client.putImage(ctx, "win11", galleryImage{Properties: galleryImageProperties{
		OSType: osTypeWindows, HyperVGeneration: hyperVGenV2,
		Identifier: &imageIdentifier{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", SKU: "win11-22h2-avd"},
		Version:    &imageVersion{Name: "22621.2428.231001"},
	}})
	if err != nil {
		s.t.Fatalf("gallery image: %v", err)
	}
	if err := s.client.ensureLogicalNetwork(ctx, "lnet"); err != nil {
		s.t.Fatalf("logical network: %v", err)
	}
	n, err := s.client.putNIC(ctx, "vm1-nic", networkInterface{Properties: nicProperties{IPConfigurations: []ipConfiguration{{
		Name: "ipconfig", Properties: ipConfigurationProperties{Subnet: &resourceRef{ID: s.client.hciPath("logicalNetworks", "lnet")}},
	}}}})
	if err != nil {
		s.t.Fatalf("NIC: %v", err)
	}
	return g.ID, n.ID
}

func trustedLaunchVM(image, nic string, password string) vmInstance {
	t := true
	return vmInstance{Properties: vmProperties{
		HardwareProfile: &hardwareProfile{VMSize: vmSizeCustom, Processors: 2, MemoryMB: 4096},
		NetworkProfile:  &networkProfile{NetworkInterfaces: []resourceRef{{ID: nic}}},
		OSProfile:       &osProfile{AdminUsername: "azureuser", AdminPassword: password, ComputerName: "vm1", WindowsConfiguration: &windowsConfiguration{ProvisionVMAgent: &t, ProvisionVMConfigAgent: &t}},
		SecurityProfile: &securityProfile{EnableTPM: &t, UefiSettings: &uefiSettings{SecureBootEnabled: &t}, SecurityType: securityTypeTL},
		StorageProfile:  &storageProfile{ImageReference: &resourceRef{ID: image}},
	}}
}

// TestARMClientLifecycle walks a trusted-launch VM's life through the
// client: create (machine, then VM instance), read, list, tags, hardware,
// power, delete; every exchange validated against the spec.
func TestARMClientLifecycle(t *testing.T) {
	s := newSimARM(t)
	ctx := context.Background()
	image, nic := s.infra(ctx)
	m, err := s.client.putMachine(ctx, "vm1", map[string]string{"managed-by": "tlreconcile"})
	if err != nil || m.Kind != kindHCI || m.Tags["managed-by"] != "tlreconcile" {
		t.Fatalf("machine: %+v %v", m, err)
	}
	v, err := s.client.putVM(ctx, "vm1", trustedLaunchVM(image, nic, "Pa55-w0rd!"))
	if err != nil {
		t.Fatalf("create VM instance: %v", err)
	}
	if v.Properties.ProvisioningState != provSucceeded || v.Properties.SecurityProfile == nil || v.Properties.SecurityProfile.SecurityType != securityTypeTL {
		t.Fatalf("created VM instance: %+v", v.Properties)
	}
	if v.Properties.OSProfile != nil && v.Properties.OSProfile.AdminPassword != "" {
		t.Fatal("ARM returned the admin password")
	}
	if s.host.Len() != 1 {
		t.Fatalf("the cluster holds %d VMs, want 1", s.host.Len())
	}
	got, err := s.client.getVM(ctx, "vm1")
	if err != nil || got.Properties.Status == nil || got.Properties.Status.PowerState != powerRunning {
		t.Fatalf("get VM instance: %+v %v", got.Properties.Status, err)
	}
	var names []string
	pages, err := s.client.listMachines(ctx, func(m machine) error { names = append(names, m.Name); return nil })
	if err != nil || pages < 1 || strings.Join(names, ",") != "vm1" {
		t.Fatalf("list machines: %v pages=%d %v", names, pages, err)
	}
	if m, err = s.client.setMachineTags(ctx, "vm1", map[string]string{"managed-by": "tlreconcile", "tlreconcile-protect": "true"}); err != nil || m.Tags["tlreconcile-protect"] != "true" {
		t.Fatalf("tags: %+v %v", m.Tags, err)
	}
	if _, err := s.client.power(ctx, "vm1", actionStop); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if v, err = s.client.setHardware(ctx, "vm1", hardwareProfile{VMSize: vmSizeCustom, Processors: 4, MemoryMB: 8192}); err != nil || v.Properties.HardwareProfile.Processors != 4 {
		t.Fatalf("set hardware: %+v %v", v.Properties.HardwareProfile, err)
	}
	if v, err = s.client.power(ctx, "vm1", actionStart); err != nil || v.Properties.Status.PowerState != powerRunning {
		t.Fatalf("start: %+v %v", v.Properties.Status, err)
	}
	if err := s.client.deleteVM(ctx, "vm1"); err != nil {
		t.Fatalf("delete VM instance: %v", err)
	}
	if err := s.client.deleteMachine(ctx, "vm1"); err != nil {
		t.Fatalf("delete machine: %v", err)
	}
	if _, err := s.client.getMachine(ctx, "vm1"); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("machine after delete: %v, want ErrNotFound", err)
	}
	if s.host.Len() != 0 {
		t.Fatalf("the cluster still holds %d VMs", s.host.Len())
	}
	if n, err := s.client.getNIC(ctx, "vm1-nic"); err != nil || n.ID != nic {
		t.Fatalf("NIC: %+v %v", n, err)
	}
	if err := s.client.deleteNIC(ctx, "vm1-nic"); err != nil {
		t.Fatalf("delete NIC: %v", err)
	}
	if _, err := s.client.getNIC(ctx, "vm1-nic"); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("NIC after delete: %v, want ErrNotFound", err)
	}
}

// TestARMClientImages: the gallery image the infra step created is listed
// and read back with its identifier, downloaded (Succeeded).
func TestARMClientImages(t *testing.T) {
	s := newSimARM(t)
	ctx := context.Background()
	image, _ := s.infra(ctx)
	var ids []string
	if _, err := s.client.listImages(ctx, func(g galleryImage) error { ids = append(ids, g.ID); return nil }); err != nil || strings.Join(ids, ",") != image {
		t.Fatalf("list images: %v %v", ids, err)
	}
	g, err := s.client.getImage(ctx, "win11")
	if err != nil || g.Properties.ProvisioningState != provSucceeded || g.Properties.Identifier == nil || g.Properties.Identifier.SKU != "win11-22h2-avd" {
		t.Fatalf("get image: %+v %v", g.Properties, err)
	}
}

func TestCloudByName(t *testing.T) {
	for _, tc := range []struct {
		name, authority string
		ok              bool
	}{
		{"", "https://login.microsoftonline.com/", true},
		{"AzurePublic", "https://login.microsoftonline.com/", true},
		{"AzureGovernment", "https://login.microsoftonline.us/", true},
		{"AzureChina", "https://login.chinacloudapi.cn/", true},
		{"azurepublic", "", false},
		{"Mars", "", false},
	} {
		c, err := cloudByName(tc.name)
		if (err == nil) != tc.ok || (tc.ok && c.ActiveDirectoryAuthorityHost != tc.authority) {
			t.Errorf("cloudByName(%q) = %q, %v", tc.name, c.ActiveDirectoryAuthorityHost, err)
		}
		if tc.ok {
			if _, err := defaultCredential(c); err != nil {
				t.Errorf("defaultCredential(%q): %v", tc.name, err)
			}
		}
	}
}

// TestARMClientErrors: ARM's answers become driver sentinels with ARM's code
// and message; throttling and transient errors are ridden out by the SDK's
// retries; what outlasts them is Transient; a failed operation says so.
func TestARMClientErrors(t *testing.T) {
	s := newSimARM(t)
	ctx := context.Background()
	image, nic := s.infra(ctx)

	_, err := s.client.getVM(ctx, "absent")
	var ae *armError
	if !errors.Is(err, drivers.ErrNotFound) || !errors.As(err, &ae) || ae.Code == "" || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("missing VM: %v", err)
	}

	inject(t, s, arm.Fault{Operation: "Machines_Get", Throttle: 2, RetryAfter: 10 * time.Millisecond})
	inject(t, s, arm.Fault{Operation: "Machines_Get", Transient: 1})
	if _, err := s.client.getMachine(ctx, "absent"); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("after throttling and a 503 the answer is the real one: %v", err)
	}

	inject(t, s, arm.Fault{Operation: "Machines_Get", Transient: 10})
	if _, err := s.client.getMachine(ctx, "absent"); !drivers.IsTransient(err) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("5xx beyond the retries: %v, want a transient 503", err)
	}
	clearFaults(t, s)

	if _, err := s.client.putMachine(ctx, "vm2", nil); err != nil {
		t.Fatal(err)
	}
	inject(t, s, arm.Fault{Operation: "VirtualMachineInstances_CreateOrUpdate", FailAsync: 1})
	_, err = s.client.putVM(ctx, "vm2", trustedLaunchVM(image, nic, "x"))
	if err == nil || !errors.As(err, &ae) || !strings.Contains(err.Error(), "ended Failed: InjectedFailure") {
		t.Fatalf("failed operation: %v, want an ARM error", err)
	}

	bad := trustedLaunchVM(image, nic, "x")
	bad.Properties.SecurityProfile.EnableTPM = new(bool)
	_, err = s.client.putVM(ctx, "vm2", bad)
	if !errors.Is(err, drivers.ErrInvalidArgument) {
		t.Fatalf("TrustedLaunch without a vTPM: %v, want ErrInvalidArgument", err)
	}
}

func inject(t *testing.T, s *simARM, f arm.Fault) {
	t.Helper()
	if err := s.srv.Inject(f); err != nil {
		t.Fatal(err)
	}
}

func clearFaults(t *testing.T, s *simARM) {
	t.Helper()
	if err := s.srv.ClearFaults(); err != nil {
		t.Fatal(err)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0}, {"3", 3 * time.Second}, {" 1 ", time.Second}, {"0", 0}, {"-4", 0},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0}, {"100000", 600 * time.Second},
	}
	for _, tt := range tests {
		resp := &http.Response{Header: http.Header{}}
		if tt.header != "" {
			resp.Header.Set("Retry-After", tt.header)
		}
		if got := retryAfter(resp); got != tt.want {
			t.Errorf("Retry-After %q: %v, want %v", tt.header, got, tt.want)
		}
	}
	if retryAfter(nil) != 0 {
		t.Error("no response: want 0")
	}
}

// TestAlreadyTrustsTheOwnerNode: start and stop are "already so" by the
// owner node's State when it answers (ARM's powerState lags a VM stopped on
// the node), by ARM's status only when no node has the VM.
func TestAlreadyTrustsTheOwnerNode(t *testing.T) {
	running, stopped := &vmStatus{PowerState: powerRunning}, &vmStatus{PowerState: powerStopped}
	tests := []struct {
		name   string
		action string
		arm    *vmStatus
		node   string // "" : no node answers
		want   bool
	}{
		{"ARM stale Running, node Off: start runs", actionStart, running, "Off", false},
		{"ARM stale Stopped, node Running: start is done", actionStart, stopped, "Running", true},
		{"node Off: stop is done", actionStop, running, "Off", true},
		{"node Saved: stop runs", actionStop, stopped, "Saved", false},
		{"no node: ARM Running", actionStart, running, "", true},
		{"no node: ARM deallocated", actionStop, &vmStatus{PowerState: powerDeallocated}, "", true},
		{"no node, no status", actionStart, nil, "", false},
	}
	for _, tt := range tests {
		if got := already(tt.action, tt.arm, ownerView{state: tt.node}, tt.node != ""); got != tt.want {
			t.Errorf("%s: already = %v, want %v", tt.name, got, tt.want)
		}
	}
}

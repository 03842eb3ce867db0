package arm_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

// TestVMLifecycle walks a trusted-launch VM through ARM as the portal and az
// CLI do: machine, image, network, NIC, instance; then GET, list, PATCH
// hardware, stop/start, run command, delete.
func TestVMLifecycle(t *testing.T) {
	s := newSim(t)
	s.infra()
	m := s.must(200, "PUT", machinePath("avd-01")+hcAPI, machineBody("HCI"))
	if m.prop("kind") != "HCI" || m.prop("type") != "Microsoft.HybridCompute/machines" || m.prop("tags.managed-by") != "tlreconcile" {
		t.Fatalf("machine: %s", m.raw)
	}
	put := s.must(201, "PUT", vmiPath("avd-01")+hciAPI, vmiBody("win11", true, true))
	if put.prop("properties.provisioningState") != "Accepted" {
		t.Errorf("PUT provisioningState = %v, want Accepted", put.prop("properties.provisioningState"))
	}
	if st := s.wait(put); st != "Succeeded" {
		t.Fatalf("create: %s", st)
	}
	get := s.must(200, "GET", vmiPath("avd-01")+hciAPI, nil)
	for path, want := range map[string]any{
		"id": strings.TrimSuffix(vmiPath("avd-01"), ""), "name": "default", "type": "Microsoft.AzureStackHCI/virtualMachineInstances",
		"properties.provisioningState": "Succeeded", "properties.status.powerState": "Running",
		"properties.securityProfile.securityType": "TrustedLaunch", "extendedLocation.name": arm.DefaultCustomLocation,
		"properties.osProfile.adminPassword": nil, "systemData.createdBy": "app",
	} {
		if got := get.prop(path); got != want {
			t.Errorf("GET %s = %v, want %v", path, got, want)
		}
	}
	vmID, _ := get.prop("properties.vmId").(string)
	if vm, ok := s.host.VM(vmID); !ok || vm.Request.Image.SKU != "win11-22h2-avd" || !vm.Request.Security.TPM {
		t.Fatalf("host VM %q: %+v %v", vmID, vm, ok)
	}
	list := s.must(200, "GET", machinePath("avd-01")+"/providers/Microsoft.AzureStackHCI/virtualMachineInstances"+hciAPI, nil)
	if v, _ := list.prop("value").([]any); len(v) != 1 {
		t.Errorf("list: %s", list.raw)
	}

	s.lro(200, "PATCH", vmiPath("avd-01")+hciAPI, map[string]any{"properties": map[string]any{"hardwareProfile": map[string]any{"processors": 4, "memoryMB": 8192}}})
	if vm, _ := s.host.VM(vmID); vm.Request.Hardware.Processors != 4 || vm.Request.Hardware.MemoryMB != 8192 {
		t.Errorf("after PATCH the host has %+v", vm.Request.Hardware)
	}

	for _, step := range []struct{ action, power string }{{"stop", "Stopped"}, {"start", "Running"}, {"restart", "Running"}} {
		r := s.must(202, "POST", vmiPath("avd-01")+"/"+step.action+hciAPI, nil)
		if r.header.Get("Location") == "" {
			t.Fatalf("%s: no Location header", step.action)
		}
		if st := s.wait(r); st != "Succeeded" {
			t.Fatalf("%s: %s", step.action, st)
		}
		res := s.must(200, "GET", r.header.Get("Location"), nil)
		if got := res.prop("properties.status.powerState"); got != step.power {
			t.Errorf("after %s powerState = %v, want %s", step.action, got, step.power)
		}
	}

	rc := s.lro(201, "PUT", machinePath("avd-01")+"/runCommands/attest"+hcAPI, map[string]any{"location": "eastus",
		"properties": map[string]any{"source": map[string]any{"script": "tlreconcile guest attest"}, "runAsPassword": "x"}})
	if rc.prop("properties.runAsPassword") != nil {
		t.Error("runAsPassword returned")
	}
	got := s.must(200, "GET", machinePath("avd-01")+"/runCommands/attest"+hcAPI, nil)
	if got.prop("properties.instanceView.executionState") != "Succeeded" || got.prop("properties.instanceView.output") != "tlreconcile guest attest" {
		t.Errorf("run command: %s", got.raw)
	}

	s.must(409, "DELETE", machinePath("avd-01")+hcAPI, nil)
	del := s.must(202, "DELETE", vmiPath("avd-01")+hciAPI, nil)
	if del.header.Get("Location") == "" || s.wait(del) != "Succeeded" {
		t.Fatalf("delete: %v", del.header)
	}
	s.must(404, "GET", vmiPath("avd-01")+hciAPI, nil)
	if s.host.Len() != 0 {
		t.Errorf("the host still has %d VMs", s.host.Len())
	}
	s.must(202, "DELETE", machinePath("avd-01")+hcAPI, nil)
	s.must(204, "DELETE", machinePath("avd-01")+hcAPI, nil)
	s.must(404, "GET", machinePath("avd-01")+hcAPI, nil)
}

// TestPlatformRules: what Azure Local refuses for a trusted-launch VM.
func TestPlatformRules(t *testing.T) {
	s := newSim(t)
	s.infra()
	s.vm("existing")
	s.lro(201, "PUT", hciPath("marketplaceGalleryImages", "ubuntu")+hciAPI, map[string]any{"location": "eastus", "extendedLocation": extLoc(),
		"properties": map[string]any{"osType": "Linux", "identifier": map[string]any{"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"}}})
	if err := s.srv.Inject(arm.Fault{Operation: "MarketplaceGalleryImages_CreateOrUpdate", FailAsync: 1}); err != nil {
		t.Fatal(err)
	}
	r := s.must(201, "PUT", hciPath("marketplaceGalleryImages", "broken")+hciAPI, imageBody("win11-21h2-avd"))
	if st := s.wait(r); st != "Failed" {
		t.Fatalf("the injected download failure: %s", st)
	}
	s.must(200, "PUT", machinePath("vmware")+hcAPI, machineBody("VMware"))
	s.must(200, "PUT", machinePath("new")+hcAPI, machineBody("HCI"))

	otherLoc := vmiBody("win11", true, true)
	otherLoc["extendedLocation"] = map[string]any{"type": "CustomLocation", "name": "/subscriptions/x/resourceGroups/y/providers/Microsoft.ExtendedLocation/customLocations/elsewhere"}
	changed := vmiBody("win11", true, true)
	changed["properties"].(map[string]any)["securityProfile"] = map[string]any{"enableTPM": false, "uefiSettings": map[string]any{"secureBootEnabled": false}}
	badNIC := vmiBody("win11", true, true)
	badNIC["properties"].(map[string]any)["networkProfile"] = map[string]any{"networkInterfaces": []any{map[string]any{"id": "missing-nic"}}}

	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"TrustedLaunch without vTPM", "PUT", vmiPath("new"), vmiBody("win11", false, true), 400, "InvalidSecurityProfile"},
		{"TrustedLaunch without Secure Boot", "PUT", vmiPath("new"), vmiBody("win11", true, false), 400, "InvalidSecurityProfile"},
		{"PUT changing the security profile", "PUT", vmiPath("existing"), changed, 400, "PropertyChangeNotAllowed"},
		{"PATCH with a security profile", "PATCH", vmiPath("existing"), map[string]any{"properties": map[string]any{"securityProfile": map[string]any{"enableTPM": false}}}, 400, "PropertyChangeNotAllowed"},
		{"image not in the catalog", "PUT", vmiPath("new"), vmiBody("ubuntu", true, true), 400, "UnsupportedImage"},
		{"image not downloaded", "PUT", vmiPath("new"), vmiBody("broken", true, true), 400, "ImageNotDownloaded"},
		{"image missing", "PUT", vmiPath("new"), vmiBody("nope", true, true), 400, "LinkedResourceNotFound"},
		{"network interface missing", "PUT", vmiPath("new"), badNIC, 400, "LinkedResourceNotFound"},
		{"another cluster's custom location", "PUT", vmiPath("new"), otherLoc, 400, "InvalidExtendedLocation"},
		{"parent machine of another kind", "PUT", vmiPath("vmware"), vmiBody("win11", true, true), 400, "InvalidParentResourceKind"},
		{"parent machine missing", "PUT", vmiPath("ghost"), vmiBody("win11", true, true), 404, "ParentResourceNotFound"},
		{"GET under a missing machine", "GET", vmiPath("ghost"), nil, 404, "ParentResourceNotFound"},
		{"GET a missing instance", "GET", vmiPath("vmware"), nil, 404, "ResourceNotFound"},
		{"GET a missing network", "GET", hciPath("logicalNetworks", "none"), nil, 404, "ResourceNotFound"},
		{"POST to a missing instance", "POST", vmiPath("vmware") + "/start", nil, 404, "ResourceNotFound"},
		{"machine kind change", "PATCH", machinePath("existing"), map[string]any{"kind": "VMware"}, 400, "PropertyChangeNotAllowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := hciAPI
			if strings.HasSuffix(tc.path, "/existing") {
				api = hcAPI
			}
			r := s.do(tc.method, tc.path+api, tc.body)
			if r.status != tc.status || r.errCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s: %s", r.status, r.errCode(), tc.status, tc.code, r.raw)
			}
			if msg := r.prop("error.message"); msg == "" || msg == nil {
				t.Errorf("no error message: %s", r.raw)
			}
		})
	}
	ok := s.must(200, "PUT", vmiPath("existing")+hciAPI, vmiBody("win11", true, true))
	if s.wait(ok) != "Succeeded" {
		t.Error("a PUT that keeps the security profile failed")
	}
}

// TestProtocol: api-version, authentication, unknown paths, conflicts.
func TestProtocol(t *testing.T) {
	s := startSim(t, t.TempDir(), arm.Options{OperationDelay: time.Hour})
	s.must(200, "PUT", machinePath("m")+hcAPI, machineBody("HCI"))
	s.must(201, "PUT", hciPath("logicalNetworks", "slow")+hciAPI, lnetBody())
	for _, tc := range []struct {
		name, method, path, auth string
		status                   int
		code                     string
	}{
		{"missing api-version", "GET", machinePath("m"), "", 400, "MissingApiVersionParameter"},
		{"unknown api-version", "GET", machinePath("m") + "?api-version=2022-12-27", "", 400, "InvalidApiVersionParameter"},
		{"the other provider's api-version", "GET", hciPath("logicalNetworks", "slow") + hcAPI, "", 400, "InvalidApiVersionParameter"},
		{"no token", "GET", machinePath("m") + hcAPI, "-", 401, "AuthenticationFailed"},
		{"a token the sim did not issue", "GET", machinePath("m") + hcAPI, "Bearer eyJ0eXAiOiJKV1QifQ.e30.sig", 401, "InvalidAuthenticationToken"},
		{"unknown resource type", "GET", group() + "/providers/Microsoft.AzureStackHCI/clusters/c" + hciAPI, "", 404, "InvalidResourceType"},
		{"unknown provider", "GET", group() + "/providers/Microsoft.Compute/virtualMachines/v" + hciAPI, "", 400, "NoRegisteredProviderFound"},
		{"missing machine", "GET", machinePath("none") + hcAPI, "", 404, "ResourceNotFound"},
		{"operation in progress", "PUT", hciPath("logicalNetworks", "slow") + hciAPI, "", 409, "Conflict"},
		{"delete during an operation", "DELETE", hciPath("logicalNetworks", "slow") + hciAPI, "", 409, "Conflict"},
		{"a bad name", "GET", machinePath("..") + hcAPI, "", 400, "InvalidResourceName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := "Bearer " + s.token
			switch tc.auth {
			case "-":
				auth = ""
			case "":
			default:
				auth = tc.auth
			}
			r := s.doAuth(tc.method, tc.path, lnetBody(), auth)
			if r.status != tc.status || r.errCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s: %s", r.status, r.errCode(), tc.status, tc.code, r.raw)
			}
			if r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer authorization_uri=") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	put := s.must(201, "PUT", hciPath("logicalNetworks", "slow2")+hciAPI, lnetBody())
	if op := s.must(200, "GET", put.header.Get("Azure-AsyncOperation"), nil); op.prop("status") != "InProgress" {
		t.Errorf("with an hour's delay the operation is %v", op.prop("status"))
	}
	if got := s.must(200, "GET", hciPath("logicalNetworks", "slow2")+hciAPI, nil); got.prop("properties.provisioningState") != "Accepted" {
		t.Errorf("provisioningState during the operation = %v", got.prop("properties.provisioningState"))
	}
}

// TestFaults: throttling, transient errors and latency, injected per operation.
func TestFaults(t *testing.T) {
	s := newSim(t)
	s.must(200, "PUT", machinePath("m")+hcAPI, machineBody("HCI"))
	if err := s.srv.Inject(arm.Fault{Operation: "Machines_Get", Throttle: 1, RetryAfter: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := s.srv.Inject(arm.Fault{Operation: "Machines_Get", Transient: 2}); err != nil {
		t.Fatal(err)
	}
	r := s.do("GET", machinePath("m")+hcAPI, nil)
	if r.status != 429 || r.header.Get("Retry-After") != "3" || r.errCode() != "TooManyRequests" {
		t.Fatalf("throttled: %d %v %s", r.status, r.header, r.raw)
	}
	for i := range 2 {
		if r := s.do("GET", machinePath("m")+hcAPI, nil); r.status != 503 {
			t.Fatalf("transient %d: %d %s", i, r.status, r.raw)
		}
	}
	s.must(200, "GET", machinePath("m")+hcAPI, nil)
	if f, err := s.srv.Faults(); err != nil || len(f) != 0 {
		t.Errorf("spent faults remain: %+v %v", f, err)
	}
	if err := s.srv.Inject(arm.Fault{Operation: "*", Latency: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.must(200, "GET", machinePath("m")+hcAPI, nil)
	if time.Since(start) < 50*time.Millisecond {
		t.Error("latency not applied")
	}
	if err := s.srv.ClearFaults(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentCreates: many VMs at once, through one server, under -race.
func TestConcurrentCreates(t *testing.T) {
	s := newSim(t)
	s.infra()
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { s.vm(fmt.Sprintf("vm-%02d", i)) })
	}
	wg.Wait()
	list := s.must(200, "GET", group()+"/providers/Microsoft.HybridCompute/machines"+hcAPI, nil)
	if v, _ := list.prop("value").([]any); len(v) != n {
		t.Fatalf("%d machines, want %d", len(v), n)
	}
	if s.host.Len() != n {
		t.Fatalf("%d VMs on the host, want %d", s.host.Len(), n)
	}
}

// TestSharedStateDir: a second Server on the same state dir (another
// process, in production) sees the resources, accepts the first one's
// tokens, serves the same CA and sees its faults.
func TestSharedStateDir(t *testing.T) {
	dir := t.TempDir()
	a := startSim(t, dir, arm.Options{})
	a.infra()
	a.vm("shared")
	b := startSim(t, dir, arm.Options{})
	if string(a.srv.CACertPEM()) != string(b.srv.CACertPEM()) {
		t.Fatal("two servers on one state dir have different CAs")
	}
	b.token = a.token
	get := b.must(200, "GET", vmiPath("shared")+hciAPI, nil)
	if get.prop("properties.provisioningState") != "Succeeded" {
		t.Fatalf("second server: %s", get.raw)
	}
	if err := a.srv.Inject(arm.Fault{Operation: "LogicalNetworks_Get", Throttle: 1}); err != nil {
		t.Fatal(err)
	}
	if r := b.do("GET", hciPath("logicalNetworks", "lnet")+hciAPI, nil); r.status != 429 {
		t.Fatalf("the fault injected through one server is not seen by the other: %d", r.status)
	}
	b.lro(202, "DELETE", vmiPath("shared")+hciAPI, nil)
	a.must(404, "GET", vmiPath("shared")+hciAPI, nil)
}

package arm_test

import (
	"encoding/json"
	"io"
	"maps"
	"mime"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/armspec"
)

// Where Microsoft's examples keep what they refer to. The examples name two
// subscriptions and four resource groups; the sim serves any, so the
// fixtures are created at the examples' own IDs.
const (
	exDogfood = "/subscriptions/a95612cb-f1fa-4daa-a4fd-272844fa512c/resourceGroups/dogfoodarc/providers/Microsoft.AzureStackHCI"
	exTestRG  = "/subscriptions/" + sub + "/resourceGroups/test-rg/providers/Microsoft.AzureStackHCI"
	// exOtherRG is a second group of the examples' subscription, for the
	// subscription-wide lists (exDogfood, of another subscription, must
	// stay out of them).
	exOtherRG  = "/subscriptions/" + sub + "/resourceGroups/other-rg/providers/Microsoft.AzureStackHCI"
	exLocation = "/subscriptions/a95612cb-f1fa-4daa-a4fd-272844fa512c/resourceGroups/dogfoodarc/providers/Microsoft.ExtendedLocation/customLocations/dogfood-location"
	// exDemoVM is the Arc machine the virtual machine instance examples
	// name (in group(): testrg), exMyMachine the one of the HybridCompute
	// examples (subscription "{subscriptionId}", mapped to sub).
	exDemoVM    = "/subscriptions/" + sub + "/resourceGroups/testrg/providers/Microsoft.HybridCompute/machines/DemoVM"
	exMyMachine = "/subscriptions/" + sub + "/resourceGroups/myResourceGroup/providers/Microsoft.HybridCompute/machines/myMachine"
)

// exampleWorld creates, through the sim's ARM API, the resources Microsoft's
// examples name, in their custom location.
type exampleWorld struct{ *sim }

func (w exampleWorld) loc() map[string]any {
	return map[string]any{"type": "CustomLocation", "name": exLocation}
}

func (w exampleWorld) lnet(id string) {
	w.t.Helper()
	w.lro(201, "PUT", id+hciAPI, map[string]any{"location": "eastus", "extendedLocation": w.loc(), "properties": map[string]any{"vmSwitchName": "ConvergedSwitch"}})
}

func (w exampleWorld) nic(id string) {
	w.t.Helper()
	lnet := id[:strings.LastIndex(id, "/networkInterfaces/")] + "/logicalNetworks/test-lnet"
	w.lnet(lnet)
	w.lro(201, "PUT", id+hciAPI, map[string]any{"location": "eastus", "extendedLocation": w.loc(), "properties": map[string]any{
		"ipConfigurations": []any{map[string]any{"name": "ipconfig", "properties": map[string]any{"subnet": map[string]any{"id": lnet}}}}}})
}

func (w exampleWorld) container(id string) {
	w.t.Helper()
	w.lro(201, "PUT", id+hciAPI, map[string]any{"location": "eastus", "extendedLocation": w.loc(), "properties": map[string]any{"path": `C:\ClusterStorage\Volume1`}})
}

// image is a marketplace gallery image of the built-in catalog (the
// examples' own identifier, myPublisherName/myOfferName/mySkuName, is not
// one a trusted-launch VM may use).
func (w exampleWorld) image(id string) {
	w.t.Helper()
	body := imageBody("win11-22h2-avd")
	body["extendedLocation"] = w.loc()
	w.lro(201, "PUT", id+hciAPI, body)
}

func (w exampleWorld) machine(id string) {
	w.t.Helper()
	w.must(200, "PUT", id+hcAPI, machineBody("HCI"))
}

// vmDeps is what PutVirtualMachineInstanceWithMarketplaceGalleryImage
// names: its Arc machine, the image and storage container in dogfoodarc,
// and the network interface test-nic it names by name alone, which the sim
// resolves in the machine's resource group.
func (w exampleWorld) vmDeps(machineID string) {
	w.t.Helper()
	w.machine(machineID)
	w.image(exDogfood + "/marketplaceGalleryImages/test-marketplace-gallery-image")
	w.container(exDogfood + "/storageContainers/test-container")
	w.nic(machineID[:strings.Index(machineID, "/providers/")] + "/providers/Microsoft.AzureStackHCI/networkInterfaces/test-nic")
}

// vm is a trusted-launch VM instance on machineID, created and running.
func (w exampleWorld) vm(machineID string) {
	w.t.Helper()
	w.vmDeps(machineID)
	w.lro(201, "PUT", machineID+"/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default"+hciAPI, map[string]any{
		"extendedLocation": w.loc(), "properties": map[string]any{
			"hardwareProfile": map[string]any{"vmSize": "Default"},
			"osProfile":       map[string]any{"computerName": "demo", "adminUsername": "localadmin", "adminPassword": "never-returned"},
			"storageProfile":  map[string]any{"imageReference": map[string]any{"id": exDogfood + "/marketplaceGalleryImages/test-marketplace-gallery-image"}},
			"networkProfile":  map[string]any{"networkInterfaces": []any{map[string]any{"id": "test-nic"}}},
			"securityProfile": map[string]any{"securityType": "TrustedLaunch", "enableTPM": true, "uefiSettings": map[string]any{"secureBootEnabled": true}},
		}})
}

func (w exampleWorld) runCommand(machineID, name string) {
	w.t.Helper()
	w.vm(machineID)
	w.lro(201, "PUT", machineID+"/runCommands/"+name+hcAPI, map[string]any{"location": "eastus",
		"properties": map[string]any{"source": map[string]any{"script": "Write-Host Hello World!"}}})
}

// exampleCase is how one of Microsoft's example files meets the sim.
type exampleCase struct {
	// setup creates what the example's IDs name.
	setup func(w exampleWorld)
	// rewrite maps a reference of the example that names nothing the sim
	// (or ARM) could resolve to the resource it means; each says why.
	rewrite func(params map[string]any)
	// notServed says why the example cannot apply to the sim; code is
	// the ARM error the sim answers it with. Empty for an example the sim
	// must accept.
	notServed, code string
	// check, when set, holds the accepted example's answer (after its
	// operation ended) to what the setup makes it mean.
	check func(t *testing.T, s *sim, r reply)
}

// wantListed: the list holds exactly the resources ids, in any order.
func wantListed(ids ...string) func(*testing.T, *sim, reply) {
	return func(t *testing.T, _ *sim, r reply) {
		t.Helper()
		var got []string
		for _, v := range r.prop("value").([]any) {
			got = append(got, strings.ToLower(v.(map[string]any)["id"].(string)))
		}
		var want []string
		for _, id := range ids {
			want = append(want, strings.ToLower(id))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("listed %v, want %v", got, want)
		}
	}
}

// wantTag: the resource the example updated has the tag, read back with a
// GET after the operation.
func wantTag(key, value string) func(*testing.T, *sim, reply) {
	return func(t *testing.T, s *sim, r reply) {
		t.Helper()
		id, _ := r.prop("id").(string)
		got := s.must(200, "GET", id+hciAPI, nil)
		if got.prop("tags."+key) != value || got.prop("properties.provisioningState") != "Succeeded" {
			t.Fatalf("after the update: %s, want tag %s=%s and Succeeded", got.raw, key, value)
		}
	}
}

// exampleCases holds every example file of the bundle, by name: a file
// missing here fails TestMicrosoftExamples, so a new example is placed on
// purpose, accepted or explained.
var exampleCases = map[string]exampleCase{
	// Accepted: sent as Microsoft wrote them, after the parameter mapping of
	// mapExampleParams, to a sim holding what they name.
	"DeleteNetworkInterface.json":                     {setup: func(w exampleWorld) { w.nic(exTestRG + "/networkInterfaces/test-nic") }},
	"DeleteStorageContainer.json":                     {setup: func(w exampleWorld) { w.container(exTestRG + "/storageContainers/Default_Container") }},
	"GetLogicalNetwork.json":                          {setup: func(w exampleWorld) { w.lnet(exTestRG + "/logicalNetworks/test-lnet") }},
	"GetNetworkInterface.json":                        {setup: func(w exampleWorld) { w.nic(exTestRG + "/networkInterfaces/test-nic") }},
	"ListLogicalNetworkByResourceGroup.json":          {setup: func(w exampleWorld) { w.lnet(exTestRG + "/logicalNetworks/test-lnet") }},
	"ListMarketplaceGalleryImageByResourceGroup.json": {setup: func(w exampleWorld) { w.image(exTestRG + "/marketplaceGalleryImages/win11") }},
	"ListStorageContainerByResourceGroup.json":        {setup: func(w exampleWorld) { w.container(exTestRG + "/storageContainers/Default_Container") }},
	"PutLogicalNetwork.json":                          {setup: func(exampleWorld) {}},
	"PutMarketplaceGalleryImage.json":                 {setup: func(exampleWorld) {}},
	"PutNetworkInterface.json": {
		setup: func(w exampleWorld) { w.lnet(exTestRG + "/logicalNetworks/test-lnet") },
		// The example's subnet is "test-lnet", a bare name where the spec
		// asks for "the ARM resource id in the form of /subscriptions/...".
		rewrite: func(p map[string]any) {
			ipc := p["networkInterfaces"].(map[string]any)["properties"].(map[string]any)["ipConfigurations"].([]any)[0].(map[string]any)
			ipc["properties"].(map[string]any)["subnet"].(map[string]any)["id"] = exTestRG + "/logicalNetworks/test-lnet"
		},
	},
	"PutVirtualMachineInstanceWithMarketplaceGalleryImage.json": {setup: func(w exampleWorld) { w.vmDeps(exDemoVM) }},
	"GetVirtualMachineInstance.json":                            {setup: func(w exampleWorld) { w.vm(exDemoVM) }},
	"RestartVirtualMachineInstance.json":                        {setup: func(w exampleWorld) { w.vm(exDemoVM) }},
	"Machines_CreateOrUpdate.json":                              {setup: func(exampleWorld) {}},
	"Machines_Get.json":                                         {setup: func(w exampleWorld) { w.machine(exMyMachine) }},
	"RunCommands_CreateOrUpdate.json":                           {setup: func(w exampleWorld) { w.vm(exMyMachine) }},
	"RunCommands_Get.json":                                      {setup: func(w exampleWorld) { w.runCommand(exMyMachine, "myRunCommand") }},

	// Cannot apply: the sim answers each with an ARM error. The VM-scoped
	// ones run against a sim that has the VM, so the refusal is the type's.
	"PutGalleryImage.json":                    {notServed: "galleryImages (images uploaded from a path) are not served: trusted launch takes marketplace images only", code: "InvalidResourceType"},
	"ListGalleryImageByResourceGroup.json":    {notServed: "galleryImages are not served", code: "InvalidResourceType"},
	"ListGalleryImageBySubscription.json":     {notServed: "galleryImages are not served", code: "InvalidResourceType"},
	"ListVirtualHardDiskByResourceGroup.json": {notServed: "virtualHardDisks are not served", code: "InvalidResourceType"},
	"GetGuestAgent.json":                      {setup: func(w exampleWorld) { w.vm(exDemoVM) }, notServed: "guestAgents are not served", code: "InvalidResourceType"},
	"GuestAgent_List.json":                    {setup: func(w exampleWorld) { w.vm(exDemoVM) }, notServed: "guestAgents are not served", code: "InvalidResourceType"},
	"DeleteGuestAgent.json":                   {setup: func(w exampleWorld) { w.vm(exDemoVM) }, notServed: "guestAgents are not served", code: "InvalidResourceType"},
	"GetHybridIdentityMetadata.json":          {setup: func(w exampleWorld) { w.vm(exDemoVM) }, notServed: "hybridIdentityMetadata is not served", code: "InvalidResourceType"},
	"HybridIdentityMetadata_List.json":        {setup: func(w exampleWorld) { w.vm(exDemoVM) }, notServed: "hybridIdentityMetadata is not served", code: "InvalidResourceType"},
	// Subscription-wide lists, with a second resource group of the
	// subscription (listed) and one of another subscription (not), and
	// tags-only updates.
	"ListLogicalNetworkBySubscription.json": {
		setup: func(w exampleWorld) {
			w.lnet(exTestRG + "/logicalNetworks/test-lnet")
			w.lnet(exOtherRG + "/logicalNetworks/other-lnet")
			w.lnet(exDogfood + "/logicalNetworks/elsewhere")
		},
		check: wantListed(exTestRG+"/logicalNetworks/test-lnet", exOtherRG+"/logicalNetworks/other-lnet"),
	},
	"ListMarketplaceGalleryImageBySubscription.json": {
		setup: func(w exampleWorld) {
			w.image(exTestRG + "/marketplaceGalleryImages/win11")
			w.image(exOtherRG + "/marketplaceGalleryImages/other")
			w.image(exDogfood + "/marketplaceGalleryImages/elsewhere")
		},
		check: wantListed(exTestRG+"/marketplaceGalleryImages/win11", exOtherRG+"/marketplaceGalleryImages/other"),
	},
	"ListNetworkInterfaceBySubscription.json": {
		setup: func(w exampleWorld) {
			w.nic(exTestRG + "/networkInterfaces/test-nic")
			w.nic(exOtherRG + "/networkInterfaces/other-nic")
			w.nic(exDogfood + "/networkInterfaces/elsewhere")
		},
		check: wantListed(exTestRG+"/networkInterfaces/test-nic", exOtherRG+"/networkInterfaces/other-nic"),
	},
	"UpdateMarketplaceGalleryImage.json": {
		setup: func(w exampleWorld) { w.image(exTestRG + "/marketplaceGalleryImages/test-marketplce-gallery-image") },
		check: wantTag("additionalProperties", "sample"),
	},
	"UpdateStorageContainer.json": {
		setup: func(w exampleWorld) { w.container(exTestRG + "/storageContainers/Default_Container") },
		check: wantTag("additionalProperties", "sample"),
	},
}

// machineRef finds the Arc machine in a {resourceUri} of the examples,
// which write it without the providers segment
// (subscriptions/S/resourceGroups/G/Microsoft.HybridCompute/machines/M) and,
// in RestartVirtualMachineInstance, as the instance itself.
var machineRef = regexp.MustCompile(`^/?subscriptions/([^/]+)/resourceGroups/([^/]+)/(?:providers/)?Microsoft\.HybridCompute/machines/([^/]+)`)

// mapExampleParams maps what the examples name to IDs ARM resolves: the
// placeholder subscription "{subscriptionId}" to sub, and {resourceUri} to
// the Arc machine's resource ID.
func mapExampleParams(t *testing.T, params map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if s, _ := p["subscriptionId"].(string); strings.Contains(s, "{") {
		p["subscriptionId"] = sub
	}
	if uri, ok := p["resourceUri"].(string); ok {
		m := machineRef.FindStringSubmatch(uri)
		if m == nil {
			t.Fatalf("resourceUri %q names no Arc machine", uri)
		}
		p["resourceUri"] = "/subscriptions/" + m[1] + "/resourceGroups/" + m[2] + "/providers/Microsoft.HybridCompute/machines/" + m[3]
	}
	return p
}

// exampleLocations are the custom locations the examples name, so that the
// sim serves each as one of its clusters.
func exampleLocations(examples []armspec.Example) []string {
	set := map[string]bool{exLocation: true}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if el, ok := v["extendedLocation"].(map[string]any); ok {
				if n, ok := el["name"].(string); ok {
					set[n] = true
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for _, ex := range examples {
		walk(ex.Parameters)
	}
	return slices.Sorted(maps.Keys(set))
}

// TestMicrosoftExamples sends every one of Microsoft's x-ms-examples in the
// bundle to a sim set up with what it names (issue 10 deliver 2): an
// example the sim serves must get one of the statuses the example lists
// and, when it starts an operation, succeed; one it cannot serve must get
// a proper ARM error. Every request and response goes through the
// conformance check of startSim, so each answer also validates against
// Microsoft's spec.
func TestMicrosoftExamples(t *testing.T) {
	spec := specForTests(t)
	if spec == nil {
		t.Skip("no spec bundle")
	}
	examples, err := spec.Examples()
	if err != nil {
		t.Fatal(err)
	}
	if len(examples) == 0 {
		t.Fatal("the spec bundle has no examples on disk")
	}
	opts := arm.Options{CustomLocations: exampleLocations(examples)}
	seen := map[string]bool{}
	for _, ex := range examples {
		file := path.Base(ex.File)
		seen[file] = true
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			t.Parallel()
			tc, ok := exampleCases[file]
			if !ok {
				t.Fatalf("%s (%s) is in no table of exampleCases: say how it meets the sim", ex.File, ex.OperationID)
			}
			s := startSim(t, t.TempDir(), opts)
			if tc.setup != nil {
				tc.setup(exampleWorld{s})
			}
			ex.Parameters = mapExampleParams(t, ex.Parameters)
			if tc.rewrite != nil {
				tc.rewrite(ex.Parameters)
			}
			r := s.sendExample(ex)
			if tc.notServed != "" {
				checkNotServed(t, ex, tc, r)
				return
			}
			if !slices.Contains(ex.Statuses(), r.status) {
				t.Fatalf("%s %s: got %d, the example lists %v: %s", ex.Method, ex.OperationID, r.status, ex.Statuses(), r.raw)
			}
			if r.header.Get("Azure-AsyncOperation") != "" {
				if st := s.wait(r); st != "Succeeded" {
					t.Fatalf("%s: the operation ended %s", ex.OperationID, st)
				}
			}
			if tc.check != nil {
				tc.check(t, s, r)
			}
		})
	}
	for file := range exampleCases {
		if !seen[file] {
			t.Errorf("exampleCases names %s, which is not in the bundle", file)
		}
	}
}

// sendExample sends ex through the sim's checked client with the sim's token.
func (s *sim) sendExample(ex armspec.Example) reply {
	s.t.Helper()
	req, err := ex.Request(s.t.Context(), s.base)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// checkNotServed: a proper ARM refusal, a 4xx with a JSON error body, never
// a crash (5xx) or a body a client cannot decode.
func checkNotServed(t *testing.T, ex armspec.Example, tc exampleCase, r reply) {
	t.Helper()
	if r.status < 300 {
		t.Fatalf("the sim now serves %s (%d): move %s to the accepted examples", ex.OperationID, r.status, path.Base(ex.File))
	}
	if r.status >= 500 {
		t.Fatalf("%s: %d, a server failure, not an ARM refusal: %s", ex.OperationID, r.status, r.raw)
	}
	if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", ex.OperationID, r.header.Get("Content-Type"))
	}
	if msg, _ := r.prop("error.message").(string); r.errCode() != tc.code || msg == "" {
		t.Errorf("%s (%s): got %d %s, want an ARM error %s with a message: %s", ex.OperationID, tc.notServed, r.status, r.errCode(), tc.code, r.raw)
	}
}

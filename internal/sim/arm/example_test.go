package arm_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

const specExamples = "../../../../shared/testdata/azure-rest-api-specs/specification/azurestackhci/resource-manager/Microsoft.AzureStackHCI/StackHCIVM/stable/2024-01-01/examples"

// TestMicrosoftExamplePutVM sends Microsoft's own example PUT of a VM
// instance with a marketplace image to a sim set up with the resources it
// names (the example's custom location is the simulated cluster's).
func TestMicrosoftExamplePutVM(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(specExamples, "PutVirtualMachineInstanceWithMarketplaceGalleryImage.json"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("the spec bundle is not at ../shared/testdata/azure-rest-api-specs")
	}
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		Parameters struct {
			VMI struct {
				ExtendedLocation struct {
					Name string `json:"name"`
				} `json:"extendedLocation"`
				Properties struct {
					StorageProfile struct {
						ImageReference struct {
							ID string `json:"id"`
						} `json:"imageReference"`
						VMConfigStoragePathID string `json:"vmConfigStoragePathId"`
					} `json:"storageProfile"`
				} `json:"properties"`
			} `json:"virtualMachineInstance"`
		} `json:"parameters"`
	}
	var raw struct {
		Parameters struct {
			VMI map[string]any `json:"virtualMachineInstance"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	p := ex.Parameters.VMI
	cl := p.ExtendedLocation.Name
	s := startSim(t, t.TempDir(), arm.Options{CustomLocations: []string{cl}})
	loc := map[string]any{"type": "CustomLocation", "name": cl}
	img := imageBody("win11-22h2-avd")
	img["extendedLocation"] = loc
	s.lro(201, "PUT", p.Properties.StorageProfile.ImageReference.ID+hciAPI, img)
	s.lro(201, "PUT", p.Properties.StorageProfile.VMConfigStoragePathID+hciAPI, map[string]any{"location": "eastus", "extendedLocation": loc,
		"properties": map[string]any{"path": "C:\\ClusterStorage\\Volume1"}})
	lnet, nic := lnetBody(), map[string]any{"location": "eastus", "extendedLocation": loc, "properties": map[string]any{}}
	lnet["extendedLocation"] = loc
	s.lro(201, "PUT", hciPath("logicalNetworks", "lnet")+hciAPI, lnet)
	s.lro(201, "PUT", hciPath("networkInterfaces", "test-nic")+hciAPI, nic)
	s.must(200, "PUT", machinePath("DemoVM")+hcAPI, machineBody("HCI"))

	put := s.lro(201, "PUT", vmiPath("DemoVM")+hciAPI, raw.Parameters.VMI)
	if put.prop("properties.osProfile.adminPassword") != nil || put.prop("properties.securityProfile.enableTPM") != true {
		t.Errorf("example PUT answer: %s", put.raw)
	}
	got := s.must(200, "GET", vmiPath("DemoVM")+hciAPI, nil)
	if got.prop("properties.provisioningState") != "Succeeded" || got.prop("properties.status.powerState") != "Running" {
		t.Errorf("example VM: %s", got.raw)
	}
}

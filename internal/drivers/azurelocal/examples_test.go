package azurelocal

import (
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The operations whose responses the driver reads into its model, and what
// each answers with.
var exampleOps = map[string]string{
	"Machines_Get":                           "machine",
	"Machines_CreateOrUpdate":                "machine",
	"Machines_ListByResourceGroup":           "machines",
	"VirtualMachineInstances_Get":            "instance",
	"VirtualMachineInstances_CreateOrUpdate": "instance",
	"VirtualMachineInstances_Restart":        "instance",
	"VirtualMachineInstances_Start":          "instance",
	"VirtualMachineInstances_Stop":           "instance",
}

// pinned is what the driver must make of particular examples, written out
// by hand from the example files (so a change of the conversion that the
// generic oracle would share still shows).
var pinned = map[string]drivers.VM{
	"Machines_Get.json 200": {Name: "myMachine", Generation: 2, SecurityType: drivers.SecurityStandard,
		Power: drivers.PowerOther, FileAccess: drivers.FileAccessUnknown},
	"GetVirtualMachineInstance.json 200": {Name: "DemoVM", Generation: 2, SecurityType: drivers.SecurityStandard,
		Power: drivers.PowerOther, FileAccess: drivers.FileAccessUnknown},
	// TPM and Secure Boot on, but no securityType: not a trusted-launch VM.
	"PutVirtualMachineInstanceWithMarketplaceGalleryImage.json 200": {Name: "DemoVM", Generation: 2, SecurityType: drivers.SecurityStandard,
		TPMEnabled: true, SecureBoot: true, Power: drivers.PowerOther, FileAccess: drivers.FileAccessUnknown},
}

// TestMicrosoftExamplesParse feeds Microsoft's example responses for the
// Arc machine and VM instance operations the driver reads (spec bundle
// x-ms-examples) into the driver's ARM types and through its VM conversion
// with no node facts (a VM whose node is down): name, VM ID, hardware,
// security profile, power and tags must come out as the example's JSON says
// (read independently, by JSON pointer), the power state must be one the
// planner accepts, and Microsoft's example machine (kind null: an
// Arc-enabled server) is not an Azure Local VM. The bundle's examples are
// sparse (no vmId, powerState or tags in the VM instance examples), so each
// machine example also runs with tlreconcile's tags added.
func TestMicrosoftExamplesParse(t *testing.T) {
	spec := loadSpec(t)
	examples, err := spec.Examples()
	if err != nil {
		t.Fatal(err)
	}
	seen, used := map[string]int{}, map[string]bool{}
	for _, ex := range examples {
		kind, ok := exampleOps[ex.OperationID]
		if !ok {
			continue
		}
		for _, status := range ex.Statuses() {
			body := ex.Responses[status].Body
			if body == nil {
				continue
			}
			seen[ex.OperationID]++
			key := fmt.Sprintf("%s %d", path.Base(ex.File), status)
			used[key] = true
			t.Run(ex.OperationID+"/"+ex.Name+"/"+fmt.Sprint(status), func(t *testing.T) {
				for _, got := range convertExample(t, kind, body) {
					checkAgainstJSON(t, got)
					if want, ok := pinned[key]; ok && got.tags == nil && !vmEqual(got.vm, want) {
						t.Errorf("%s: observed %+v, want %+v", key, got.vm, want)
					}
				}
			})
		}
	}
	for _, op := range []string{"Machines_Get", "VirtualMachineInstances_Get"} {
		if seen[op] == 0 {
			t.Errorf("the bundle has no example response of %s: the driver's model is not checked against Microsoft's", op)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(exampleOps)) {
		if seen[op] == 0 {
			t.Logf("no example response of %s in the bundle (checked when one is added)", op)
		}
	}
	for key := range pinned {
		if !used[key] {
			t.Errorf("pinned example %s is not in the bundle any more", key)
		}
	}
}

// example is one converted example: the observed VM, the raw JSON of the
// machine and the instance it came from, and the tags added to the machine
// (nil: the example as Microsoft wrote it).
type example struct {
	vm                  drivers.VM
	machine, instance   map[string]any
	tags                map[string]string
	isAzureLocalMachine bool
}

// convertExample decodes body as kind answers it and converts each VM.
func convertExample(t *testing.T, kind string, body []byte) []example {
	t.Helper()
	c := &conn{infra: map[string]bool{}}
	var out []example
	add := func(m machine, v vmInstance, rawM, rawV map[string]any, tags map[string]string) {
		out = append(out, example{vm: c.observedVM(armVM{m: m, v: v}, nodeVM{}), machine: rawM, instance: rawV, tags: tags,
			isAzureLocalMachine: strings.EqualFold(m.Kind, kindHCI)})
	}
	machines := func(raw []byte) {
		var m machine
		var rawM map[string]any
		mustUnmarshal(t, raw, &m)
		mustUnmarshal(t, raw, &rawM)
		add(m, vmInstance{}, rawM, map[string]any{}, nil)
		tags := map[string]string{tagManagedBy: drivers.ManagedBy, tagSpecHash: "ab12", tagProtect: "true", "costCenter": "42"}
		m.Tags = tags
		add(m, vmInstance{}, rawM, map[string]any{}, tags)
	}
	switch kind {
	case "machine":
		machines(body)
	case "machines":
		var p page[json.RawMessage]
		mustUnmarshal(t, body, &p)
		for _, raw := range p.Value {
			machines(raw)
		}
	case "instance":
		var v vmInstance
		var rawV map[string]any
		mustUnmarshal(t, body, &v)
		mustUnmarshal(t, body, &rawV)
		name := machineOf(v.ID)
		if name == "" {
			t.Fatalf("VM instance id %q names no machine", v.ID)
		}
		add(machine{Name: name}, v, map[string]any{"name": name}, rawV, nil)
	}
	return out
}

// checkAgainstJSON: every field the driver reads is what the JSON says.
func checkAgainstJSON(t *testing.T, e example) {
	t.Helper()
	vm := e.vm
	str := func(raw map[string]any, ptr string) string { s, _ := pointer(raw, ptr).(string); return s }
	num := func(raw map[string]any, ptr string) int64 { f, _ := pointer(raw, ptr).(float64); return int64(f) }
	flag := func(ptr string) bool { b, _ := pointer(e.instance, ptr).(bool); return b }
	power := map[string]drivers.PowerState{"Running": drivers.PowerRunning, "Stopped": drivers.PowerOff, "Deallocated": drivers.PowerOff}[str(e.instance, "/properties/status/powerState")]
	if power == "" {
		power = drivers.PowerOther
	}
	security := drivers.SecurityStandard
	if str(e.instance, "/properties/securityProfile/securityType") == "TrustedLaunch" {
		security = drivers.SecurityTrustedLaunch
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"name", vm.Name, str(e.machine, "/name")},
		{"vmId", vm.ID, str(e.instance, "/properties/vmId")},
		{"hardwareProfile.processors", int64(vm.Processors), num(e.instance, "/properties/hardwareProfile/processors")},
		{"hardwareProfile.memoryMB", vm.MemoryMB, num(e.instance, "/properties/hardwareProfile/memoryMB")},
		{"securityProfile.enableTPM", vm.TPMEnabled, flag("/properties/securityProfile/enableTPM")},
		{"securityProfile.uefiSettings.secureBootEnabled", vm.SecureBoot, flag("/properties/securityProfile/uefiSettings/secureBootEnabled")},
		{"securityProfile.securityType", vm.SecurityType, security},
		{"status.powerState", vm.Power, power},
		{"node (no node facts)", vm.Node, ""},
		{"file access (no node facts)", vm.FileAccess, drivers.FileAccessUnknown},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: observed %v, the example says %v", c.field, c.got, c.want)
		}
	}
	if !slices.Contains([]drivers.PowerState{drivers.PowerRunning, drivers.PowerOff, drivers.PowerSaved, drivers.PowerPaused, drivers.PowerOther}, vm.Power) {
		t.Errorf("power state %q is none the planner accepts", vm.Power)
	}
	if e.machine["kind"] == nil && e.isAzureLocalMachine {
		t.Error("a machine of kind null (an Arc-enabled server) is taken for an Azure Local VM")
	}
	switch {
	case e.tags == nil && pointer(e.machine, "/tags") == nil && vm.Annotations != nil:
		t.Errorf("a machine without tags is observed as managed: %+v", vm.Annotations)
	case e.tags != nil && (vm.Annotations == nil || *vm.Annotations != drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "ab12", Protect: true}):
		t.Errorf("tags %v are observed as annotations %+v", e.tags, vm.Annotations)
	}
}

// pointer is the value at a JSON pointer of slash-separated object keys
// (nil when absent).
func pointer(v any, ptr string) any {
	for _, k := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// machineOf is the machine name in a VM instance's resource ID.
func machineOf(id string) string {
	_, rest, ok := strings.Cut(id, "/Microsoft.HybridCompute/machines/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

func mustUnmarshal(t *testing.T, b []byte, out any) {
	t.Helper()
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("Microsoft's example does not decode into the driver's model: %v", err)
	}
}

func vmEqual(a, b drivers.VM) bool {
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	return string(aj) == string(bj)
}

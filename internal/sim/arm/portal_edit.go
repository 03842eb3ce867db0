package arm

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PortalEdited is what PortalSetHardware changed.
type PortalEdited struct {
	MachineID     string
	VMID          string
	Before, After Hardware
}

// portalEditor is who a portal edit's systemData names.
const portalEditor = "portal-user@contoso.com"

// PortalSetHardware changes the processors and memory of an Arc machine's VM
// as an edit of its size in the Azure portal does, behind the back of any
// client: the cluster changes the VM first (host.SetHardware, which refuses
// what the platform refuses, such as the processor count of a running VM),
// then the virtual machine instance's hardwareProfile in ARM says the same,
// so ARM and the cluster agree and the next reader sees the edit. A zero
// value keeps that setting. It holds the resource group's lock, as every ARM
// write does; when the cluster refuses, ARM is not changed either.
func (a *Admin) PortalSetHardware(ctx context.Context, host Host, machineID string, processors int, memoryMB int64) (PortalEdited, error) {
	out := PortalEdited{MachineID: machineID}
	segs := strings.Split(strings.Trim(machineID, "/"), "/")
	if !isMachineID(segs) {
		return out, fmt.Errorf("portal edit: %q is not an Arc machine ID (/subscriptions/SUB/resourceGroups/RG/providers/%s/machines/NAME)", machineID, nsCompute)
	}
	if processors < 0 || memoryMB < 0 || (processors == 0 && memoryMB == 0) {
		return out, fmt.Errorf("portal edit: give a positive processor count or memory size")
	}
	s := a.srv.store
	unlock, err := s.lockGroup(segs[1], segs[3])
	if err != nil {
		return out, err
	}
	defer unlock()
	vmi, err := s.get(vmiOf(machineID))
	if err != nil {
		return out, err
	}
	if vmi == nil {
		return out, fmt.Errorf("portal edit: %s has no virtual machine instance: %w", machineID, ErrNoMachine)
	}
	var p vmiProps
	if aerr := decodeProps(vmi.Resource.Properties, &p); aerr != nil {
		return out, aerr
	}
	if p.VMID == "" {
		return out, fmt.Errorf("portal edit: %s: its VM was never placed on the cluster", machineID)
	}
	out.VMID, out.Before = p.VMID, p.hardware()
	out.After = out.Before
	if processors > 0 {
		out.After.Processors = processors
	}
	if memoryMB > 0 {
		out.After.MemoryMB = memoryMB
	}
	if err := host.SetHardware(ctx, p.VMID, out.After); err != nil {
		return out, fmt.Errorf("portal edit: the cluster refused: %w", err)
	}
	hw, _ := vmi.Resource.Properties["hardwareProfile"].(map[string]any)
	if hw == nil {
		hw = map[string]any{}
	}
	hw["processors"], hw["memoryMB"] = out.After.Processors, out.After.MemoryMB
	vmi.Resource.Properties["hardwareProfile"] = hw
	vmi.Resource.SystemData.LastModifiedBy, vmi.Resource.SystemData.LastModifiedAt = portalEditor, time.Now().UTC()
	return out, s.put(vmi)
}

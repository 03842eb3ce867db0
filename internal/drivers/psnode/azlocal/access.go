package azlocal

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// Well-known principals a guest state file may be held by.
const (
	SIDAdministrators  = "S-1-5-32-544"
	SIDSystem          = "S-1-5-18"
	SIDAllVMs          = "S-1-5-83-0" // NT VIRTUAL MACHINE\Virtual Machines: every VM, not allowed
	NameAdministrators = `BUILTIN\Administrators`
	NameSystem         = `NT AUTHORITY\SYSTEM`
	NameAllVMs         = `NT VIRTUAL MACHINE\Virtual Machines`
)

// VMAccountName is the VM's own virtual account, the only VM that may open its state file.
func VMAccountName(vmID string) string { return `NT VIRTUAL MACHINE\` + strings.ToUpper(vmID) }

// VMAccountSID is the SID of NT VIRTUAL MACHINE\<vmID>: S-1-5-83-1 followed by the VM ID's
// 16 bytes in Windows GUID layout read as four little-endian 32-bit numbers.
func VMAccountSID(vmID string) (string, error) {
	h := strings.ReplaceAll(strings.Trim(vmID, "{}"), "-", "")
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 16 || strings.Count(strings.Trim(vmID, "{}"), "-") != 4 {
		return "", fmt.Errorf("vm id %q is not a GUID", vmID)
	}
	// Windows stores the first three fields little-endian.
	b := make([]byte, 16)
	b[0], b[1], b[2], b[3] = raw[3], raw[2], raw[1], raw[0]
	b[4], b[5], b[6], b[7] = raw[5], raw[4], raw[7], raw[6]
	copy(b[8:], raw[8:])
	var parts [4]uint32
	for i := range parts {
		parts[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return fmt.Sprintf("S-1-5-83-1-%d-%d-%d-%d", parts[0], parts[1], parts[2], parts[3]), nil
}

// Verdicts of StateFileAccess.
const (
	AccessRestricted = "restricted" // owner and every Allow rule are Administrators, SYSTEM or the VM itself
	AccessViolation  = "violation"
	AccessUnknown    = "unknown" // no guest state file was found
)

// StateFileAccess judges a VM's guest state file (DESIGN §1.1): its owner must be
// Administrators or SYSTEM, and no Allow rule may name anyone but Administrators, SYSTEM and
// the VM's own virtual account (not the all-VMs group, not another VM, not a user). It
// returns the verdict and, for a violation, the principals that should not be there.
func StateFileAccess(vm *VMReport) (string, []string) {
	if vm.StateFile == nil {
		return AccessUnknown, nil
	}
	self, _ := VMAccountSID(vm.VMID)
	allowed := func(name, sid string, owner bool) bool {
		switch {
		case sid == SIDAdministrators || sid == SIDSystem:
			return true
		case sid == "" && (strings.EqualFold(name, NameAdministrators) || strings.EqualFold(name, NameSystem)):
			return true
		case owner:
			return false
		case sid != "" && sid == self:
			return true
		}
		return strings.EqualFold(name, VMAccountName(vm.VMID))
	}
	var bad []string
	o := vm.StateFile.Owner
	if !allowed(o.Name, o.Sid, true) {
		bad = append(bad, "owner "+principalText(o.Name, o.Sid))
	}
	for _, r := range vm.StateFile.Access {
		if !strings.EqualFold(r.Type, "Allow") || allowed(r.Name, r.Sid, false) {
			continue
		}
		bad = append(bad, principalText(r.Name, r.Sid))
	}
	if len(bad) > 0 {
		return AccessViolation, bad
	}
	return AccessRestricted, nil
}

func principalText(name, sid string) string {
	switch {
	case name != "" && sid != "":
		return name + " (" + sid + ")"
	case name != "":
		return name
	}
	return sid
}

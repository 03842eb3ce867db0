package attest

import (
	"strings"

	ga "github.com/google/go-attestation/attest"
)

// extractWindows reads the Windows boot state: go-attestation's
// ParseWinEvents for what it knows, the SIPA events themselves for VBS and
// the boot applications.
func extractWindows(events []ga.Event) (*Windows, error) {
	we, err := ga.ParseWinEvents(events)
	if err != nil {
		return nil, err
	}
	w := &Windows{
		CodeIntegrity:    ternary(we.CodeIntegrityEnabled),
		DEP:              ternary(we.DEPEnabled),
		TestSigning:      we.TestSigningEnabled,
		BootDebugging:    we.BootDebuggingEnabled,
		KernelDebugging:  we.KernelDebugEnabled,
		BitLockerUnlocks: [][]string{},
		ELAM:             sortedMapKeys(we.ELAM),
		BootApps:         []string{},
		LoadedModules:    len(we.LoadedModules),
		ColdBoot:         we.ColdBoot,
		BootCount:        we.BootCount,
		VBS:              VBS{Required: []string{}},
	}
	for _, s := range we.BitlockerUnlocks {
		w.BitLockerUnlocks = append(w.BitLockerUnlocks, bitlocker(s))
	}
	views := make([]eventView, 0, len(events))
	for i, e := range events {
		views = append(views, eventView{Seq: i, Index: e.Index, Type: uint32(e.Type), Data: e.Data})
	}
	items, err := sipaEvents(views)
	if err != nil {
		return nil, err
	}
	readSIPA(w, items)
	return w, nil
}

var vbsRequirements = map[uint32]string{
	sipaVBSVSMRequired:  "vsm",
	sipaVBSSecureBoot:   "secure-boot",
	sipaVBSIOMMU:        "iommu",
	sipaVBSNX:           "mmio-nx",
	sipaVBSMSRFiltering: "msr-filtering",
	sipaVBSMandatory:    "mandatory",
	sipaVBSMSBootChain:  "microsoft-boot-chain",
}

// readSIPA fills VBS and the Windows boot applications. A launch type is
// measured once per boot phase; any phase that launched counts.
func readSIPA(w *Windows, items []sipaItem) {
	seenApp := map[string]bool{}
	required := map[string]bool{}
	for _, it := range items {
		v, intErr := leUint(it.Data)
		switch it.Type {
		case sipaHypervisorLaunch:
			w.VBS.HypervisorLaunched = w.VBS.HypervisorLaunched || (intErr == nil && v != 0)
		case sipaVSMLaunchType:
			w.VBS.VSMLaunched = w.VBS.VSMLaunched || (intErr == nil && v != 0)
		case sipaHypervisorDebug:
			w.VBS.HypervisorDebug = w.VBS.HypervisorDebug || (intErr == nil && v != 0)
		case sipaVBSHVCIPolicy:
			if intErr == nil {
				w.VBS.HVCIPolicy = v
			}
		case sipaFilePath:
			p, err := utf16String(it.Data)
			if err == nil && strings.HasSuffix(strings.ToLower(p), ".efi") && !seenApp[p] {
				seenApp[p] = true
				w.BootApps = append(w.BootApps, p)
			}
		default:
			if name, ok := vbsRequirements[it.Type]; ok && intErr == nil && v != 0 {
				required[name] = true
			}
		}
	}
	w.VBS.Required = sortedMapKeys(required)
	w.VBS.Running = w.VBS.HypervisorLaunched && w.VBS.VSMLaunched
}

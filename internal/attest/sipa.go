package attest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// SIPA (System Integrity Platform Attestation) event types Windows measures
// into PCRs 12-14 inside EV_EVENT_TAG events; Microsoft's wbcl.h names them.
// go-attestation's ParseWinEvents reads the boot state; these are the VBS and
// hypervisor ones it skips.
const (
	sipaTypeMask         = 0x000f0000
	sipaContainer        = 0x00010000
	sipaHypervisorLaunch = 0x0005000A // SIPAEVENT_HYPERVISOR_LAUNCH_TYPE
	sipaHypervisorPath   = 0x0005000B // SIPAEVENT_HYPERVISOR_PATH
	sipaHypervisorIOMMU  = 0x0005000C // SIPAEVENT_HYPERVISOR_IOMMU_POLICY
	sipaHypervisorDebug  = 0x0005000D // SIPAEVENT_HYPERVISOR_DEBUG
	sipaVSMLaunchType    = 0x00050012 // SIPAEVENT_VSM_LAUNCH_TYPE
	sipaFilePath         = 0x00070001 // SIPAEVENT_FILEPATH
	sipaVBSVSMRequired   = 0x000A0001 // SIPAEVENT_VBS_VSM_REQUIRED
	sipaVBSSecureBoot    = 0x000A0002 // SIPAEVENT_VBS_SECUREBOOT_REQUIRED
	sipaVBSIOMMU         = 0x000A0003 // SIPAEVENT_VBS_IOMMU_REQUIRED
	sipaVBSNX            = 0x000A0004 // SIPAEVENT_VBS_MMIO_NX_REQUIRED
	sipaVBSMSRFiltering  = 0x000A0005 // SIPAEVENT_VBS_MSR_FILTERING_REQUIRED
	sipaVBSMandatory     = 0x000A0006 // SIPAEVENT_VBS_MANDATORY_ENFORCEMENT
	sipaVBSHVCIPolicy    = 0x000A0007 // SIPAEVENT_VBS_HVCI_POLICY
	sipaVBSMSBootChain   = 0x000A0008 // SIPAEVENT_VBS_MICROSOFT_BOOT_CHAIN_REQUIRED
	evEventTag           = 0x00000006 // EV_EVENT_TAG
	evSeparator          = 0x00000004 // EV_SEPARATOR
	sipaMaxDepth         = 8
)

// sipaItem is one SIPA event: its type and payload.
type sipaItem struct {
	Type uint32
	Data []byte
}

// walkSIPA calls fn for every SIPA event in b (a sequence of
// type/size/payload records), descending into containers and aggregations.
func walkSIPA(b []byte, depth int, fn func(sipaItem)) error {
	if depth > sipaMaxDepth {
		return fmt.Errorf("SIPA containers nested deeper than %d", sipaMaxDepth)
	}
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("SIPA event header of %d bytes: want 8", len(b))
		}
		typ, size := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
		if uint64(size) > uint64(len(b)-8) {
			return fmt.Errorf("SIPA event %#08x claims %d bytes but %d remain", typ, size, len(b)-8)
		}
		data := b[8 : 8+size]
		b = b[8+size:]
		if typ&sipaTypeMask == sipaContainer {
			if err := walkSIPA(data, depth+1, fn); err != nil {
				return err
			}
			continue
		}
		fn(sipaItem{Type: typ, Data: data})
	}
	return nil
}

// sipaEvents returns the SIPA events of the (verified) tagged events in PCRs
// 12 and 13 that come before each PCR's WBCL separator, as ParseWinEvents reads
// them.
func sipaEvents(events []eventView) ([]sipaItem, error) {
	var out []sipaItem
	separated := map[int]bool{}
	for _, e := range events {
		if e.Index < 12 || e.Index > 13 || separated[e.Index] {
			continue
		}
		switch e.Type {
		case evSeparator:
			separated[e.Index] = true
		case evEventTag:
			if len(e.Data) < 8 {
				return nil, fmt.Errorf("PCR %d event %d: tagged event of %d bytes", e.Index, e.Seq, len(e.Data))
			}
			id, size := binary.LittleEndian.Uint32(e.Data), binary.LittleEndian.Uint32(e.Data[4:])
			if id&sipaTypeMask != sipaContainer {
				return nil, fmt.Errorf("PCR %d event %d: tagged event %#08x is not a SIPA container", e.Index, e.Seq, id)
			}
			if uint64(size) > uint64(len(e.Data)-8) {
				return nil, fmt.Errorf("PCR %d event %d: tagged event claims %d bytes but %d follow", e.Index, e.Seq, size, len(e.Data)-8)
			}
			err := walkSIPA(e.Data[8:8+size], 0, func(it sipaItem) { out = append(out, it) })
			if err != nil {
				return nil, fmt.Errorf("PCR %d event %d: %w", e.Index, e.Seq, err)
			}
		}
	}
	return out, nil
}

// eventView is the part of an event the extractors read.
type eventView struct {
	Seq   int
	Index int
	Type  uint32
	Data  []byte
}

// leUint reads a little-endian unsigned integer of 1-8 bytes.
func leUint(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 8 {
		return 0, fmt.Errorf("integer of %d bytes", len(b))
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// utf16String decodes a NUL-terminated little-endian UTF-16 string.
func utf16String(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", errors.New("UTF-16 string of an odd number of bytes")
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u)), nil
}

package vtpm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Persistent handles where the TCG EK Credential Profile (section 2.2.1.5)
// places the endorsement keys when a platform provisions them.
const (
	EKHandleRSA tpm2.TPMHandle = 0x81010001 // RSA-2048 EK
	EKHandleECC tpm2.TPMHandle = 0x81010002 // ECC NIST P-256 EK
)

// PCRCount is how many PCRs (0..PCRCount-1, the firmware and boot PCRs) an
// Identity holds.
const PCRCount = 8

// Identity is what makes one TPM recognisable: its endorsement keys, which
// survive everything except a reset of the endorsement hierarchy, plus the boot
// measurements and NV indices, which describe its current state.
type Identity struct {
	// EKECC is the hex sha256 of the marshalled TPMT_PUBLIC of the ECC P-256 EK.
	EKECC string `json:"ek_ecc"`
	// EKRSA is the same for the RSA-2048 EK; "" unless ReadOptions.RSA was set.
	EKRSA string `json:"ek_rsa,omitempty"`
	// PCRs are the sha256 bank's PCRs 0-7, hex.
	PCRs [PCRCount]string `json:"pcrs"`
	// NVIndices are the defined NV index handles, ascending.
	NVIndices []uint32 `json:"nv_indices"`
}

// ReadOptions select the optional, slower parts of ReadIdentity.
type ReadOptions struct {
	// RSA also reads the RSA-2048 EK. Generating it costs tens of milliseconds
	// on the reference simulator (against ~1 ms for ECC), so it is opt-in.
	RSA bool
}

// EKAlg selects one of the two standard endorsement keys.
type EKAlg int

// The EK algorithms of the TCG EK Credential Profile's low-range templates.
const (
	ECC EKAlg = iota
	RSA
)

// String names the algorithm the way errors and tpm2-tools (-G) do.
func (a EKAlg) String() string {
	switch a {
	case ECC:
		return "ecc"
	case RSA:
		return "rsa"
	default:
		return fmt.Sprintf("EKAlg(%d)", int(a))
	}
}

// ReadIdentity reads the ECC EK fingerprint (and the RSA one when opts.RSA),
// the sha256 PCRs 0-7 and the NV index list. It changes nothing on the TPM
// except a transient EK that it flushes again.
func ReadIdentity(tr transport.TPM, opts ReadOptions) (*Identity, error) {
	if tr == nil {
		return nil, errors.New("tpm: read identity: no transport: open a TPM first")
	}
	id := &Identity{}
	var err error
	if id.EKECC, err = EKFingerprint(tr, ECC); err != nil {
		return nil, err
	}
	if opts.RSA {
		if id.EKRSA, err = EKFingerprint(tr, RSA); err != nil {
			return nil, err
		}
	}
	if id.PCRs, err = ReadPCRs(tr); err != nil {
		return nil, err
	}
	if id.NVIndices, err = NVIndices(tr); err != nil {
		return nil, err
	}
	return id, nil
}

// Fingerprint is the identity tlreconcile records for a public area: the hex
// sha256 of the marshalled TPMT_PUBLIC (without the TPM2B size prefix), the
// same bytes `tpm2_readpublic -f tss` writes after its 2-byte size.
func Fingerprint(pub tpm2.TPMTPublic) string {
	return FingerprintBytes(tpm2.Marshal(pub))
}

// FingerprintBytes hashes an already marshalled TPMT_PUBLIC.
func FingerprintBytes(tpmtPublic []byte) string {
	sum := sha256.Sum256(tpmtPublic)
	return hex.EncodeToString(sum[:])
}

// EKFingerprint returns the fingerprint of the EK of the given algorithm. A
// provisioned persistent EK (0x81010001 RSA, 0x81010002 ECC) wins, because it
// is the key the platform vouches for; otherwise the EK is derived from the
// endorsement seed with the standard template (deterministic for a given
// seed) and flushed again.
func EKFingerprint(tr transport.TPM, alg EKAlg) (string, error) {
	handle, template, err := ekParams(alg)
	if err != nil {
		return "", err
	}
	present, err := handlePresent(tr, handle)
	if err != nil {
		return "", fmt.Errorf("tpm: %s ek: look up persistent handle %#x: %w", alg, uint32(handle), err)
	}
	if present {
		rsp, err := tpm2.ReadPublic{ObjectHandle: handle}.Execute(tr)
		if err != nil {
			return "", fmt.Errorf("tpm: %s ek: read persistent handle %#x: %w", alg, uint32(handle), err)
		}
		pub, err := rsp.OutPublic.Contents()
		if err != nil {
			return "", fmt.Errorf("tpm: %s ek: decode public area of %#x: %w", alg, uint32(handle), err)
		}
		if pub.Type != template.Type {
			return "", fmt.Errorf("tpm: %s ek: persistent handle %#x holds a key of type %#x, not the %s EK: evict it or provision the EK there", alg, uint32(handle), uint16(pub.Type), alg)
		}
		return FingerprintBytes(rsp.OutPublic.Bytes()), nil
	}
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHEndorsement,
		InPublic:      tpm2.New2B(template),
	}.Execute(tr)
	if err != nil {
		return "", fmt.Errorf("tpm: %s ek: create primary from the standard template: %w", alg, err)
	}
	fp := FingerprintBytes(rsp.OutPublic.Bytes())
	if _, err := (tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}).Execute(tr); err != nil {
		return "", fmt.Errorf("tpm: %s ek: flush transient handle %#x: %w", alg, uint32(rsp.ObjectHandle), err)
	}
	return fp, nil
}

// EKTemplate returns the standard EK template for alg.
func EKTemplate(alg EKAlg) (tpm2.TPMTPublic, error) {
	_, t, err := ekParams(alg)
	return t, err
}

// EKHandle returns the persistent handle the TCG assigns to the EK of alg.
func EKHandle(alg EKAlg) (tpm2.TPMHandle, error) {
	h, _, err := ekParams(alg)
	return h, err
}

func ekParams(alg EKAlg) (tpm2.TPMHandle, tpm2.TPMTPublic, error) {
	switch alg {
	case ECC:
		return EKHandleECC, tpm2.ECCEKTemplate, nil
	case RSA:
		return EKHandleRSA, tpm2.RSAEKTemplate, nil
	default:
		return 0, tpm2.TPMTPublic{}, fmt.Errorf("tpm: ek: unknown algorithm %v: use vtpm.ECC or vtpm.RSA", alg)
	}
}

// handlePresent asks the TPM whether handle exists, without provoking an
// error response for a missing one.
func handlePresent(tr transport.TPM, handle tpm2.TPMHandle) (bool, error) {
	hs, _, err := listHandles(tr, uint32(handle), 1)
	if err != nil {
		return false, err
	}
	return len(hs) == 1 && hs[0] == uint32(handle), nil
}

// listHandles returns up to count handles starting at first (same handle type).
func listHandles(tr transport.TPM, first, count uint32) ([]uint32, bool, error) {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapHandles,
		Property:      first,
		PropertyCount: count,
	}.Execute(tr)
	if err != nil {
		return nil, false, err
	}
	hl, err := rsp.CapabilityData.Data.Handles()
	if err != nil {
		return nil, false, err
	}
	out := make([]uint32, 0, len(hl.Handle))
	for _, h := range hl.Handle {
		// The TPM may continue into the next handle type; stop at the boundary.
		if uint32(h)>>24 != first>>24 {
			return out, false, nil
		}
		out = append(out, uint32(h))
	}
	return out, bool(rsp.MoreData), nil
}

// nvPageSize is how many handles one GetCapability asks for; TPMs cap the
// answer anyway (MAX_CAP_HANDLES), so NVIndices pages either way.
const nvPageSize = 16

// NVIndices lists every defined NV index handle, ascending.
func NVIndices(tr transport.TPM) ([]uint32, error) {
	first := uint32(tpm2.TPMHTNVIndex) << 24
	out := []uint32{}
	for {
		hs, more, err := listHandles(tr, first, nvPageSize)
		if err != nil {
			return nil, fmt.Errorf("tpm: list nv indices: %w", err)
		}
		out = append(out, hs...)
		if !more || len(hs) == 0 {
			return out, nil
		}
		next := hs[len(hs)-1] + 1
		if next>>24 != first>>24 {
			return out, nil
		}
		first = next
	}
}

// ReadPCRs reads the sha256 bank's PCRs 0-7. A TPM may answer a PCR_Read
// with fewer PCRs than asked (at most eight digests per response), so it asks
// again for whatever is still missing.
func ReadPCRs(tr transport.TPM) ([PCRCount]string, error) {
	var out [PCRCount]string
	var want uint8 = 0xff // PCRs 0-7
	for attempt := 0; want != 0; attempt++ {
		if attempt == PCRCount {
			return out, fmt.Errorf("tpm: read sha256 pcrs 0-%d: the tpm keeps returning no digests for mask %#02x: is the sha256 bank allocated?", PCRCount-1, want)
		}
		rsp, err := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{
			PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA256, PCRSelect: []byte{want, 0, 0}}},
		}}.Execute(tr)
		if err != nil {
			return out, fmt.Errorf("tpm: read sha256 pcrs 0-%d: %w", PCRCount-1, err)
		}
		var got uint8
		for _, sel := range rsp.PCRSelectionOut.PCRSelections {
			if sel.Hash == tpm2.TPMAlgSHA256 && len(sel.PCRSelect) > 0 {
				got |= sel.PCRSelect[0]
			}
		}
		digests := rsp.PCRValues.Digests
		i := 0
		for pcr := 0; pcr < PCRCount; pcr++ {
			if got&(1<<pcr) == 0 {
				continue
			}
			if i >= len(digests) {
				return out, fmt.Errorf("tpm: read sha256 pcrs: response selects more pcrs than it holds digests")
			}
			out[pcr] = hex.EncodeToString(digests[i].Buffer)
			i++
		}
		want &^= got
	}
	return out, nil
}

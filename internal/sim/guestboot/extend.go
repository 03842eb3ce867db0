package guestboot

import (
	"crypto"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// tpmAlgs maps the hashes of event log banks to TPM algorithm IDs.
var tpmAlgs = map[crypto.Hash]tpm2.TPMAlgID{
	crypto.SHA1: tpm2.TPMAlgSHA1, crypto.SHA256: tpm2.TPMAlgSHA256,
	crypto.SHA384: tpm2.TPMAlgSHA384, crypto.SHA512: tpm2.TPMAlgSHA512,
}

// Extend extends each measurement of b into the PCR banks tr has
// allocated, one TPM2_PCR_Extend per event carrying every such bank's
// digest: what the firmware and boot loaders of a booting guest do. tr
// must be a TPM just powered on (every PCR at its reset value) for the
// PCRs to replay against b.Log.
func (b *Boot) Extend(tr transport.TPM) error {
	banks, err := allocatedBanks(tr)
	if err != nil {
		return err
	}
	for i, m := range b.Measurements {
		var ds []tpm2.TPMTHA
		for _, h := range b.Algs {
			alg, ok := tpmAlgs[h]
			if d, has := m.Digests[h]; ok && has && banks[alg] {
				ds = append(ds, tpm2.TPMTHA{HashAlg: alg, Digest: d})
			}
		}
		if len(ds) == 0 {
			continue
		}
		if m.PCR < 0 || m.PCR > 23 {
			return fmt.Errorf("event %d of log measures PCR %d, which a TPM does not have", i, m.PCR)
		}
		cmd := tpm2.PCRExtend{PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(m.PCR), Auth: tpm2.PasswordAuth(nil)},
			Digests: tpm2.TPMLDigestValues{Digests: ds}}
		if _, err := cmd.Execute(tr); err != nil {
			return fmt.Errorf("extend event %d into PCR %d: %w", i, m.PCR, err)
		}
	}
	return nil
}

// allocatedBanks lists the TPM's PCR banks that have PCRs allocated.
func allocatedBanks(tr transport.TPM) (map[tpm2.TPMAlgID]bool, error) {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapPCRs, PropertyCount: 16}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("read the TPM's PCR banks: %w", err)
	}
	sel, err := rsp.CapabilityData.Data.AssignedPCR()
	if err != nil {
		return nil, fmt.Errorf("read the TPM's PCR banks: %w", err)
	}
	out := map[tpm2.TPMAlgID]bool{}
	for _, s := range sel.PCRSelections {
		for _, b := range s.PCRSelect {
			if b != 0 {
				out[s.Hash] = true
			}
		}
	}
	return out, nil
}

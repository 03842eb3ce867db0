package guestagent_test

import (
	"context"
	"crypto"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/guestagent"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// A simulated guest runs the agent against its vTPM: the firmware's
// measurements are in the PCRs, its log travels with the transport, and the
// AK lives with the guest. The host verifies what comes back.
func Example() {
	ref := vtpm.NewReference()
	defer ref.Close()
	boot, _ := guestboot.New(guestboot.LogLinuxSecureBoot, nil)
	nonce := []byte("fresh-from-the-verifier")
	keys := &guestagent.MemoryStore{}
	var ev attest.Evidence
	err := ref.Boot(42, func(tr transport.TPM) error {
		for _, m := range boot.Measurements { // what the firmware did
			if d, ok := m.Digests[crypto.SHA256]; ok {
				_, _ = tpm2.PCRExtend{
					PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(m.PCR), Auth: tpm2.PasswordAuth(nil)},
					Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d}}},
				}.Execute(tr)
			}
		}
		var err error
		ev, _, err = guestagent.Attest(context.Background(), guestagent.FromTransport(tr, boot.Log), nonce, guestagent.Options{Keys: keys})
		return err
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := attest.Verify(ev, attest.VerifyOptions{Nonce: nonce})
	fmt.Println("verified:", err == nil, "secure boot:", res.SecureBoot.Enabled, "quoted PCRs:", len(res.QuotedPCRs))
	// Output: verified: true secure boot: true quoted PCRs: 16
}

package vtpm_test

import (
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// A vTPM whose state is the seed 1 has the same EK in every process, so the
// identity recorded for a VM can be checked after a restart or a move.
func ExampleReference() {
	ref := vtpm.NewReference() // one per process, shared
	defer ref.Close()
	err := ref.Do(1, func(tr transport.TPM) error {
		id, err := vtpm.ReadIdentity(tr, vtpm.ReadOptions{})
		if err != nil {
			return err
		}
		fmt.Println("EK:", id.EKECC[:16])
		fmt.Println("PCR0:", id.PCRs[0][:16])
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// EK: d6e1cd1f22bbf745
	// PCR0: 0000000000000000
}

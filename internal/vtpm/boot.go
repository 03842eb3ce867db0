package vtpm

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"
)

// Boot runs fn on the reference TPM seeded from seed right after a TPM reset,
// as the firmware of a machine that has just been powered on finds it:
// TPM2_Shutdown(CLEAR) then TPM2_Startup(CLEAR), so every PCR holds its reset
// value and no transient object, session, NV index or persistent object is
// left, while the hierarchy seeds (and so the EKs) stay the seed's. A guest's boot measurements are extended
// from there. Calls are serialised with Do; fn must not keep tr.
func (r *Reference) Boot(seed int64, fn func(tr transport.TPM) error) error {
	if fn == nil {
		return errors.New("reference tpm: Boot needs a function to run")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// The simulator's own reset (_TPM_Init) reloads the hierarchy seeds it
	// was manufactured with, not the fixed ones, so a reset here is a fresh
	// instance of seed: the same EK, everything else at power-on values.
	if r.sim != nil && !r.closed {
		err := r.sim.Close()
		r.sim = nil
		if err != nil {
			return fmt.Errorf("reference tpm: power off instance of seed %d: %w", r.seed, err)
		}
	}
	if err := r.open(seed); err != nil {
		return err
	}
	defer r.done()
	return fn(transport.FromReadWriter(r.sim))
}

package vtpm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2/transport"
)

// Reference is the in-process Microsoft reference TPM 2.0
// (github.com/google/go-tpm-tools/simulator, cgo). The C simulator is global
// state, so a process can have only one instance at a time; Reference is the
// one documented mutex-guarded type that owns it. Create one Reference per
// process and share it: a second Reference blocks in Do until the first one is
// closed.
//
// The instance is seeded: its hierarchy seeds (and hence its EKs) are derived
// from the seed passed to Do, so a VM whose vTPM state is a seed gets the same
// EK every time. Everything else the TPM holds (PCRs, NV indices, persistent
// and transient objects) lives only while consecutive calls use the same
// seed: a call with another seed starts a freshly manufactured TPM.
type Reference struct {
	mu      sync.Mutex
	sim     *simulator.Simulator
	seed    int64
	closed  bool
	release bool // give the simulator back after every call
}

// NewReference returns a Reference; the simulator starts on the first Do.
func NewReference() *Reference { return &Reference{} }

// NewReleasingReference returns a Reference that gives the simulator back
// after every Do and Boot, so that other References in the process (another
// simulated cluster, the sim driver) are not blocked while it is idle; each
// call then starts a freshly manufactured instance of its seed (about 0.4 ms
// more), which is what a caller that keeps its state in the seed wants.
func NewReleasingReference() *Reference { return &Reference{release: true} }

// done gives the simulator back when r releases after every call. The
// caller holds mu.
func (r *Reference) done() {
	if r.release && r.sim != nil {
		_ = r.sim.Close()
		r.sim = nil
	}
}

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("reference tpm: closed")

// Do runs fn on the reference TPM seeded from seed, reusing the open instance
// when the previous call used the same seed. Calls are serialised; fn must
// not keep tr after it returns.
func (r *Reference) Do(seed int64, fn func(tr transport.TPM) error) error {
	if fn == nil {
		return errors.New("reference tpm: Do needs a function to run")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.open(seed); err != nil {
		return err
	}
	defer r.done()
	return fn(transport.FromReadWriter(r.sim))
}

// open makes the open instance the one of seed, manufacturing it when
// needed. The caller holds mu.
func (r *Reference) open(seed int64) error {
	if r.closed {
		return ErrClosed
	}
	if r.sim != nil && r.seed != seed {
		err := r.sim.Close()
		r.sim = nil
		if err != nil {
			return fmt.Errorf("reference tpm: close instance of seed %d: %w", r.seed, err)
		}
	}
	if r.sim != nil {
		return nil
	}
	if err := referenceAvailable(); err != nil {
		return err
	}
	sim, err := simulator.GetWithFixedSeedInsecure(seed)
	if err != nil {
		return fmt.Errorf("reference tpm: start with seed %d: %w", seed, err)
	}
	r.sim, r.seed = sim, seed
	return nil
}

// Close stops the simulator, freeing it for another Reference in this process.
// Closing twice is harmless.
func (r *Reference) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.sim == nil {
		return nil
	}
	err := r.sim.Close()
	r.sim = nil
	if err != nil {
		return fmt.Errorf("reference tpm: close: %w", err)
	}
	return nil
}

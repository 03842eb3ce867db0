package hvmodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/guestattest"
	"github.com/tlreconcile/tlreconcile/internal/guestagent"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// The guest of a running VM, as a command run inside it (PowerShell Direct, on the host
// that models it) sees it: its vTPM is the reference TPM of the seed sealed in its guest
// state, powered on afresh for each entry, with the guest's boot measured into it first: a
// real TCG event log chosen by the image's OS and the Secure Boot setting
// (internal/sim/guestboot), plus the boot components TamperBoot planted before the running
// boot began. So a quote over the PCRs always replays against the log the guest hands out.

// ErrGuestNotRunning: the VM is not running, so nothing runs inside it.
var ErrGuestNotRunning = errors.New("the VM is not running")

// ErrNoVTPM: the VM has no vTPM (or it was never initialised).
var ErrNoVTPM = errors.New("the VM has no vTPM")

// Guest is a running guest as a command inside it sees it; valid during the InGuest call.
type Guest struct {
	OS  guestboot.OS  // by the VM's image (Windows when it has none)
	TPM transport.TPM // its vTPM, its boot measured
	Log []byte        // the TCG event log the guest reads
}

// InGuest runs fn inside the running guest of vm. fn must not keep the Guest.
func (d *Driver) InGuest(ctx context.Context, cluster, vm string, fn func(g Guest) error) error {
	c, err := d.loadCluster(cluster)
	if err != nil {
		return err
	}
	if c.file.Backend != BackendReference {
		return fmt.Errorf("vm/%s: guest commands run on the %s vTPM backend only: %w", vm, BackendReference, drivers.ErrNotSupported)
	}
	rec, unlock, err := c.lockVM(vm)
	if err != nil {
		return err
	}
	st, os, boot, err := c.guestBoot(rec)
	unlock() // the TPM work runs without the VM's lock
	if err != nil {
		return fmt.Errorf("vm/%s: %w", vm, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ref := vtpm.NewReference()
	defer ref.Close()
	return ref.Boot(st.Seed, func(tr transport.TPM) error {
		if err := boot.Extend(tr); err != nil {
			return fmt.Errorf("vm/%s: measure the boot: %w", vm, err)
		}
		return fn(Guest{OS: os, TPM: tr, Log: boot.Log})
	})
}

// guestBoot opens a running VM's guest state (its vTPM was unlocked when it started, so the
// key is the vault's whatever the node's IgvmAgent does now) and the boot it measured.
func (c *cluster) guestBoot(rec *vmRecord) (guestState, guestboot.OS, *guestboot.Boot, error) {
	if rec.Power != drivers.PowerRunning {
		return guestState{}, "", nil, fmt.Errorf("it is %s: %w", rec.Power, ErrGuestNotRunning)
	}
	if !rec.TPMEnabled || !rec.VTPMInitialized {
		return guestState{}, "", nil, ErrNoVTPM
	}
	key, err := c.rawVaultKey(rec.ID)
	if err != nil {
		return guestState{}, "", nil, err
	}
	st, err := c.unsealGuestFile(rec, key)
	if err != nil {
		return guestState{}, "", nil, err
	}
	os := guestboot.Windows
	if rec.Image != nil {
		os = guestboot.OSOf(rec.Image.Publisher, rec.Image.Offer, rec.Image.Sku)
	}
	b, err := guestboot.New(guestboot.Choose(os, rec.SecureBoot).Log, rec.BootExtra)
	return st, os, b, err
}

// TamperBoot makes every later boot of vm measure one more boot component, as malware
// planted in its EFI system partition would (guestboot.AppendComponent). The running boot
// is not changed: restart the VM to measure it.
func (d *Driver) TamperBoot(cluster, vm, component string) error {
	if err := guestboot.CheckComponent(component); err != nil {
		return fmt.Errorf("vm/%s: tamper boot: %w: %w", vm, err, drivers.ErrInvalidArgument)
	}
	c, err := d.loadCluster(cluster)
	if err != nil {
		return err
	}
	_, err = d.withVM(c, vm, func(r *vmRecord) (drivers.Result, error) {
		if !r.TPMEnabled {
			return drivers.Result{}, fmt.Errorf("vm/%s: tamper boot: the VM has no vTPM, so nothing would measure the component: %w", vm, drivers.ErrPrecondition)
		}
		r.BootTamper = append(slices.Clone(r.BootTamper), component)
		return drivers.Result{Changed: true}, nil
	})
	return err
}

// attest is the attest op: tlreconcile's agent (internal/guestagent, what `tlreconcile guest`
// runs) in the VM's guest, verified by internal/drivers/guestattest; the outcome is kept on
// the VM's record.
func (d *Driver) attest(ctx context.Context, c *cluster, vm string) (drivers.Result, error) {
	rec, unlock, err := c.lockVM(vm)
	if err != nil {
		return drivers.Result{}, err
	}
	prev, prevAK, node := rec.Attestation, rec.AttestationAK, rec.Node
	unlock()
	run := func(ctx context.Context, args []string) (*guestattest.Output, error) {
		var out guestattest.Output
		err := d.InGuest(ctx, c.file.Name, vm, func(g Guest) error {
			s, err := guestagent.NewSession(guestagent.OverTransport(g.TPM, g.Log))
			if err != nil {
				return err
			}
			defer s.Close()
			out.Stdout, out.ExitCode, out.Stderr = guestagent.Command(s, args)
			return nil
		})
		switch {
		case errors.Is(err, ErrGuestNotRunning):
			return nil, &guestattest.Unavailable{Code: "vm-not-running", Err: err}
		case errors.Is(err, ErrNoVTPM):
			return &guestattest.Output{ExitCode: 1, Stderr: "tlreconcile guest: this VM has no TPM"}, nil
		}
		return &out, err
	}
	pin := guestattest.Pin{AK: prevAK}
	if prev != nil {
		pin.EK = prev.EK // resetVTPM releases it
	}
	a, err := guestattest.Attest(ctx, run, pin)
	if err != nil {
		return drivers.Result{}, fmt.Errorf("attest: the guest channel failed, nothing recorded: %w", err)
	}
	a.Conclude(prev, pin, node, time.Now())
	return d.withVM(c, vm, func(r *vmRecord) (drivers.Result, error) {
		r.Attestation, r.AttestationAK = &a.Attested, a.AK
		return changed(guestattest.Summary(a))
	})
}

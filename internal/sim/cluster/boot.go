package cluster

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
)

// Guest boot.
//
// Starting a VM boots its guest: its vTPM is powered on (TPM2_Startup(CLEAR),
// every PCR at its reset value) and each event of a real TCG event log,
// chosen by the guest's OS and Secure Boot state (internal/sim/guestboot), is
// extended into every PCR bank the log has that the TPM has, followed by the
// extra boot components an incident planted (TamperBoot). The record keeps
// which log and components the running boot measured, so the log bytes the
// guest reads are rebuilt exactly. The process has one reference TPM for all
// vTPMs and it keeps nothing but the seed across calls, so each later entry
// into the guest (a Run Command, InGuest) powers the vTPM on and replays that
// same boot before the command runs: the guest always finds the PCRs its boot
// left, and a quote over them replays against its log.

// bootRecord is how a VM's guest boots and what its running boot measured.
type bootRecord struct {
	// OS is derived from the marketplace image at the first boot.
	OS guestboot.OS `json:"os,omitempty"`
	// SecureBoot: whether the running (or last) boot had Secure Boot on; the
	// firmware setting is vmRecord.SecureBootOff, which the next boot reads.
	SecureBoot bool `json:"secure_boot,omitempty"`
	// Tamper lists the extra boot components every later boot measures.
	Tamper []string `json:"tamper,omitempty"`
	// Boots counts the guest's boots.
	Boots int `json:"boots"`
	// Log, Note and Extra are what the running (or last) boot measured.
	Log   string   `json:"log,omitempty"`
	Note  string   `json:"note,omitempty"`
	Extra []string `json:"extra,omitempty"`
}

// measureBoot boots rec's guest on the vTPM of seed and records what it
// measured in rec (the caller writes rec).
func (h *Host) measureBoot(rec *vmRecord, seed int64) error {
	if rec.Boot.OS == "" {
		rec.Boot.OS = guestboot.OSOf(rec.Image.Publisher, rec.Image.Offer, rec.Image.SKU)
	}
	rec.Boot.SecureBoot = !rec.SecureBootOff
	choice := guestboot.Choose(rec.Boot.OS, rec.Boot.SecureBoot)
	b, err := h.parsedBoot(choice.Log, rec.Boot.Tamper)
	if err != nil {
		return err
	}
	if err := h.tpm.Boot(seed, func(tr transport.TPM) error { return b.Extend(tr) }); err != nil {
		return err
	}
	rec.Boot.Boots++
	rec.Boot.Log, rec.Boot.Note, rec.Boot.Extra = choice.Log, choice.Note, slices.Clone(rec.Boot.Tamper)
	return nil
}

// measured is the boot rec's running guest measured.
func (h *Host) measured(rec *vmRecord) (*guestboot.Boot, error) {
	if rec.Boot.Log == "" {
		return nil, fmt.Errorf("vm %s: the guest has not booted with a vTPM since it was created: restart it", rec.Name)
	}
	return h.parsedBoot(rec.Boot.Log, rec.Boot.Extra)
}

// TamperBoot makes every later boot of a VM measure one more boot
// component, as malware planted in its EFI system partition would: an
// EV_EFI_BOOT_SERVICES_APPLICATION event for component (a file path)
// appended to the guest's event log and extended into PCR 4. The running
// boot is not changed; restart the VM to measure it.
func (h *Host) TamperBoot(_ context.Context, vmID, component string) error {
	if err := guestboot.CheckComponent(component); err != nil {
		return fmt.Errorf("vm %s: tamper boot: %w", vmID, err)
	}
	return h.locked(func() error {
		rec, _, err := h.mutable(vmID, false)
		if err != nil {
			return err
		}
		if rec.Isolation != isolationTL {
			return fmt.Errorf("vm %s: tamper boot: the VM has no vTPM, so nothing would measure the component: %w", rec.Name, ErrInvalidState)
		}
		rec.Boot.Tamper = append(rec.Boot.Tamper, component)
		return h.writeRecord(rec)
	})
}

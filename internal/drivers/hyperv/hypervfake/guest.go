package hypervfake

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
	"github.com/tlreconcile/tlreconcile/internal/guestagent"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
)

// attest is attest.ps1: PowerShell Direct into a running guest on this node, signed in with
// the request's credential, running tlreconcile's agent there. The guests are hvmodel's: their
// vTPM and boot log are the VM's (hvmodel.InGuest), and the agent is internal/guestagent, the
// code `tlreconcile guest` runs in a real guest. What the real script answers for a guest it
// cannot reach is modelled on what PowerShell Direct says: a wrong password ("The credential
// is invalid."), a Linux guest (PowerShell Direct reaches Windows guests only).
func (h *Host) attest(ctx context.Context, node string, p *hyperv.Payload) (any, *psnode.ScriptError) {
	v, err := h.sim.ObserveVM(ctx, h.ref, p.VM)
	if err != nil || v.Node != node {
		return nil, &psnode.ScriptError{Category: psnode.CategoryNotFound, Message: fmt.Sprintf("vm/%s: no such VM on this node", p.VM)}
	}
	if v.Power != drivers.PowerRunning {
		return hyperv.GuestRun{Problem: hyperv.ProblemVMNotRunning, Error: fmt.Sprintf("vm/%s is %s: PowerShell Direct reaches running VMs only", p.VM, v.Power)}, nil
	}
	if !h.guestAccepts(p.GuestUser, string(p.GuestPassword)) {
		return hyperv.GuestRun{Problem: hyperv.ProblemPowerShellDirect, Error: "The credential is invalid."}, nil
	}
	h.mu.Lock()
	removed := h.noAgent[p.VM]
	h.mu.Unlock()
	var run hyperv.GuestRun
	err = h.sim.InGuest(ctx, h.ref.Name, p.VM, func(g hvmodel.Guest) error {
		if g.OS != guestboot.Windows {
			run = hyperv.GuestRun{Problem: hyperv.ProblemPowerShellDirect, Error: "An error has occurred which Windows PowerShell cannot handle. A remote session might have ended."}
			return nil
		}
		run.Ran = true
		if removed || p.AgentPath == "" {
			run.ExitCode, run.Error = 127, p.AgentPath+": not found (install tlreconcile in the image)"
			return nil
		}
		s, err := guestagent.NewSession(guestagent.OverTransport(g.TPM, g.Log))
		if err != nil {
			return err
		}
		defer s.Close()
		run.Output, run.ExitCode, run.Error = guestagent.Command(s, p.AgentArgs)
		run.Output = strings.TrimRight(run.Output, "\r\n") // PowerShell hands out lines
		return nil
	})
	switch {
	case errors.Is(err, hvmodel.ErrNoVTPM):
		return hyperv.GuestRun{Ran: true, ExitCode: 1, Error: "tlreconcile guest: this VM has no TPM"}, nil
	case err != nil:
		return nil, scriptError(err)
	}
	return run, nil
}

// guestAccepts reports whether the guests accept the credential: the one Options named, or
// any account with a password when none was.
func (h *Host) guestAccepts(user, password string) bool {
	if h.guestUser == "" {
		return user != "" && password != ""
	}
	return strings.EqualFold(user, h.guestUser) && password == h.guestPassword
}

// RemoveGuestAgent uninstalls tlreconcile's agent from a VM's guest (install again with
// InstallGuestAgent).
func (h *Host) RemoveGuestAgent(vm string) { h.setAgent(vm, true) }

// InstallGuestAgent puts tlreconcile's agent back into a VM's guest.
func (h *Host) InstallGuestAgent(vm string) { h.setAgent(vm, false) }

func (h *Host) setAgent(vm string, removed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if removed {
		h.noAgent[vm] = true
	} else {
		delete(h.noAgent, vm)
	}
}

package hyperv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/guestattest"
)

// The attest op on classic Hyper-V (DESIGN §8). The channel into the guest is PowerShell
// Direct from the node that runs the VM (attest.ps1: Invoke-Command -VMId -Credential),
// which needs no network path into the guest and no remoting configured in it, but a Windows
// guest and a guest account: options.guestCredential, a user and a reference to its password.
// internal/drivers/guestattest runs the agent, binds its AK and verifies; the outcome is kept in
// the VM's Notes block beside the annotations (set-annotations keeps it), written with the same
// compare-and-swap, so an administrator's concurrent edit of the Notes is never lost.

// ScriptAttest (the op's name) runs the guest agent in a VM through PowerShell Direct.
const ScriptAttest = string(drivers.OpAttest)

// Problem codes of the PowerShell Direct channel (the record's Problem).
const (
	ProblemNoGuestCredential = "no-guest-credential"
	ProblemGuestCredential   = "guest-credential-unreadable"
	ProblemPowerShellDirect  = "powershell-direct-failed"
	ProblemVMNotRunning      = "vm-not-running"
)

func (d *Driver) attest(ctx context.Context, c *cluster, op drivers.Op) (drivers.Result, error) {
	if op.VM == "" {
		return drivers.Result{}, fmt.Errorf("attest names no VM: set op.vm: %w", drivers.ErrInvalidArgument)
	}
	notes, err := d.currentNotes(ctx, c, op.VM)
	if err != nil {
		return drivers.Result{}, err
	}
	if _, _, managed := ParseNotes(notes); !managed {
		return drivers.Result{}, fmt.Errorf("vm/%s: its Notes have no tlreconcile block, so it is not a VM tlreconcile manages: %w", op.VM, drivers.ErrPrecondition)
	}
	prev, prevAK := NotesAttestation(notes)
	// The EK of the last attestation is pinned until the VM's vTPM identity
	// (the key protector's hash) changes: MergeNotes releases it then.
	pin := guestattest.Pin{AK: prevAK}
	if prev != nil {
		pin.EK = prev.EK
	}
	var node string
	rec, err := guestattest.Attest(ctx, d.guestRunner(c, op.VM, &node), pin)
	if err != nil {
		return drivers.Result{}, fmt.Errorf("attest: the guest channel failed, nothing recorded: %w", err)
	}
	if node == "" && op.Params != nil {
		node = op.Params.TargetNode // the guest was not reached: where the plan expects the VM
	}
	rec.Conclude(prev, pin, node, time.Now())
	_, err = d.writeNotes(ctx, c, op.VM, notes, func(current string) (*Payload, error) {
		next, err := WithAttestation(current, rec)
		if err != nil {
			return nil, fmt.Errorf("vm/%s: %w", op.VM, err)
		}
		return notesPayload(op.VM, current, next), nil
	})
	if err != nil {
		return drivers.Result{}, fmt.Errorf("attest: record the outcome in the VM's Notes: %w", err)
	}
	c.mu.Lock()
	if vm, ok := c.vms[op.VM]; ok {
		vm.Attestation = &rec.Attested
		c.vms[op.VM] = vm
	}
	c.mu.Unlock()
	return drivers.Result{Changed: true, Message: guestattest.Summary(rec)}, nil
}

// currentNotes are the VM's Notes as last observed, read now when this instance has not seen
// the VM (an apply of a saved plan).
func (d *Driver) currentNotes(ctx context.Context, c *cluster, vm string) (string, error) {
	if _, notes, ok := c.cached(vm); ok {
		return notes, nil
	}
	if _, err := d.ObserveVM(ctx, c.ref, vm); err != nil {
		return "", err
	}
	_, notes, _ := c.cached(vm)
	return notes, nil
}

// guestRunner runs the agent's commands through attest.ps1 on the VM's owner node, which
// it stores in node when the guest was reached.
func (d *Driver) guestRunner(c *cluster, vm string, node *string) guestattest.Runner {
	return func(ctx context.Context, args []string) (*guestattest.Output, error) {
		g := c.opts.GuestCredential
		if g == nil {
			return nil, &guestattest.Unavailable{Code: ProblemNoGuestCredential}
		}
		password, err := c.opts.guestPassword()
		if err != nil {
			return nil, &guestattest.Unavailable{Code: ProblemGuestCredential, Err: err}
		}
		p := AttestRequest(c.opts, vm, password, args)
		var r GuestRun
		n, err := d.onOwnerInto(ctx, c, vm, ScriptAttest, p, func() any { r = GuestRun{}; return &r })
		if err != nil {
			return nil, err
		}
		if !r.Ran {
			code := r.Problem
			if code != ProblemVMNotRunning {
				code = ProblemPowerShellDirect
			}
			return nil, &guestattest.Unavailable{Code: code, Err: errors.New(r.Error)}
		}
		*node = n
		return &guestattest.Output{ExitCode: r.ExitCode, Stdout: r.Output, Stderr: r.Error}, nil
	}
}

// AttestRequest is attest.ps1's payload: the guest account of o, its password (resolved for
// this one request), the agent's path in the guest and its arguments (after "guest").
func AttestRequest(o *Options, vm, password string, args []string) *Payload {
	p := &Payload{VM: vm, GuestPassword: Secret(password), AgentPath: o.GuestAgentPath, AgentArgs: args, sendsSecret: true}
	if o.GuestCredential != nil {
		p.GuestUser = o.GuestCredential.User
	}
	return p
}

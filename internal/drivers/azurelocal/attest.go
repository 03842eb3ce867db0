package azurelocal

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/guestattest"
)

// The attest op (DESIGN §8): tlreconcile's agent in the guest, reached by
// the Arc machine's Run Command, quotes the vTPM's PCRs with a fresh nonce
// and returns the TCG event log; internal/drivers/guestattest verifies it
// (binding the AK by credential activation on first contact, a second run
// command) and the outcome is recorded as tags on the machine
// (attesttags.go).

// attestRunName is the run command the agent's commands run as.
const attestRunName = "tlreconcile-attest"

func (c *conn) attest(ctx context.Context, op drivers.Op) (drivers.Result, error) {
	m, _, err := c.managedVM(ctx, op.VM)
	if err != nil {
		return drivers.Result{}, err
	}
	prev, prevAK := attestationOf(m.Tags)
	// The EK is the vTPM identity on Azure Local: the one recorded (accepted)
	// is the one the guest must present; --accept-vtpm-identity moves it.
	pin := guestattest.Pin{AK: prevAK}
	if id := m.Tags[tagVTPMIdentity]; identityHex.MatchString(id) {
		pin.EK = id
	}
	rec, err := guestattest.Attest(ctx, c.guestRunner(op.VM), pin)
	if err != nil {
		return drivers.Result{}, fmt.Errorf("attest: the guest channel failed, nothing recorded: %w", err)
	}
	// The node is the one the plan expects the VM on (Params.TargetNode),
	// not looked up here: that would be an observe-node of every node, per
	// VM. A move between plan and apply makes the next plan attest again.
	node := ""
	if op.Params != nil {
		node = op.Params.TargetNode
	}
	rec.Conclude(prev, pin, node, time.Now())
	tags := make(map[string]string, len(m.Tags)+2)
	for k, val := range m.Tags {
		tags[k] = val
	}
	tags[tagAttestation] = guestattest.Format(rec)
	tags[tagAttestationBoot] = bootTag(rec.Components)
	if _, err := c.arm.setMachineTags(ctx, op.VM, tags); err != nil {
		return drivers.Result{}, fmt.Errorf("attest: record the outcome on the machine: %w", err)
	}
	return drivers.Result{Changed: true, Message: guestattest.Summary(rec)}, nil
}

// guestRunner runs the agent's commands as the machine's run command.
func (c *conn) guestRunner(machine string) guestattest.Runner {
	return func(ctx context.Context, args []string) (*guestattest.Output, error) {
		view, err := c.arm.runGuest(ctx, machine, attestRunName, "tlreconcile guest "+strings.Join(args, " "))
		if err != nil {
			return nil, &guestattest.Unavailable{Code: "run-command-failed", Err: err}
		}
		if view == nil {
			return nil, nil
		}
		return &guestattest.Output{ExitCode: view.ExitCode, Stdout: view.Output, Stderr: view.Error}, nil
	}
}

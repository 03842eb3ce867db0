package azurelocal

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The vTPM's identity is read from inside the guest (DESIGN §4, §8): the
// host cannot see the EK of a trusted-launch vTPM, so the driver asks the
// guest through the Arc machine's Run Command, the channel into a guest that
// needs no network path to it. The command is the guest agent's; a guest
// without it answers "command not found", and its identity is unknown ("",
// never "lost").

// identityCommand is the guest agent command that prints the hex sha256 of
// the vTPM's EK public area.
const identityCommand = "tpm-ek"

// runCommandName is the run command the driver creates, and deletes after.
const runCommandName = "tlreconcile-vtpm-identity"

// identityConcurrency bounds the run commands of one observation.
const identityConcurrency = 8

var identityHex = regexp.MustCompile(`^[0-9a-f]{64}$`)

type runCommand struct {
	Location   string               `json:"location"`
	Properties runCommandProperties `json:"properties"`
}

type runCommandProperties struct {
	Source           *runCommandSource `json:"source,omitempty"`
	TimeoutInSeconds int               `json:"timeoutInSeconds,omitempty"`
	InstanceView     *runCommandView   `json:"instanceView,omitempty"`
}

type runCommandSource struct {
	Script string `json:"script"`
}

type runCommandView struct {
	ExecutionState string `json:"executionState"`
	ExitCode       int    `json:"exitCode"`
	Output         string `json:"output"`
	Error          string `json:"error"`
}

func (c *armClient) runCommandPath(machine, name string) string {
	return c.machinePath(machine) + "/runCommands/" + name
}

// runGuest runs script in the guest of machine as the run command name and
// returns its instance view (nil when the command did not run to an end:
// no agent, no guest); the run command is deleted after.
func (c *armClient) runGuest(ctx context.Context, machine, name, script string) (*runCommandView, error) {
	body := runCommand{Location: c.cfg.Location, Properties: runCommandProperties{
		Source: &runCommandSource{Script: script}, TimeoutInSeconds: 60}}
	resp, err := c.do(ctx, http.MethodPut, c.runCommandPath(machine, name), body, http.StatusOK, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	rc, err := wait[runCommand](ctx, c, resp, runtime.FinalStateViaAzureAsyncOp)
	defer c.deleteRunCommand(context.WithoutCancel(ctx), machine, name)
	if err != nil {
		return nil, nil // the command failed in the guest (no agent, no TPM)
	}
	return rc.Properties.InstanceView, nil
}

// guestIdentity runs the identity command in the guest of machine and
// returns the identity it printed; "" when the guest has no agent that
// knows the command (not an error: attestation is unavailable there).
func (c *armClient) guestIdentity(ctx context.Context, machine string) (string, error) {
	v, err := c.runGuest(ctx, machine, runCommandName, identityCommand)
	if err != nil || v == nil || v.ExitCode != 0 {
		return "", err
	}
	id := strings.TrimSpace(v.Output)
	if !identityHex.MatchString(id) {
		return "", fmt.Errorf("vm/%s: the guest answered %q for its vTPM identity, not a sha256", machine, truncate(id, 80))
	}
	return id, nil
}

func (c *armClient) deleteRunCommand(ctx context.Context, machine, name string) {
	resp, err := c.do(ctx, http.MethodDelete, c.runCommandPath(machine, name), nil, http.StatusOK, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		return
	}
	if resp.StatusCode == http.StatusNoContent {
		_ = decode(resp, nil)
		return
	}
	_, _ = wait[struct{}](ctx, c, resp, runtime.FinalStateViaLocation)
}

// readIdentities fills VTPMIdentity of every running managed VM with a
// vTPM (when the endpoint's guests run the agent): the one known where it
// cannot have changed (identitycache.go), else read from the guest,
// identityConcurrency guests at a time. keys are the node-side stateKeys.
func (c *conn) readIdentities(ctx context.Context, vms []drivers.VM, keys map[string]stateKey) error {
	if !c.ep.GuestIdentity {
		return nil
	}
	sem := make(chan struct{}, identityConcurrency)
	errs := make([]error, len(vms))
	var mu sync.Mutex
	next := map[string]identityRecord{}
	var wg sync.WaitGroup
	for i := range vms {
		v := &vms[i]
		if v.Annotations == nil || v.Infrastructure || !v.TPMEnabled || v.Power != drivers.PowerRunning {
			continue
		}
		key := keys[strings.ToLower(v.ID)]
		key.Power = v.Power
		last, readBefore := c.perf.lookup(v.ID)
		if id, ok := knownIdentity(v, key, last, readBefore, c.ep.TrustRecordedIdentities); ok {
			v.VTPMIdentity = id
			v.VTPMInitialized = v.VTPMInitialized || id != ""
			mu.Lock()
			next[strings.ToLower(v.ID)] = identityRecord{key: key, identity: id}
			mu.Unlock()
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			id, err := c.arm.guestIdentity(ctx, v.Name)
			v.VTPMIdentity, errs[i] = id, err
			v.VTPMInitialized = v.VTPMInitialized || id != ""
			if err == nil {
				mu.Lock()
				next[strings.ToLower(v.ID)] = identityRecord{key: key, identity: id}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	c.perf.setIdentities(next)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

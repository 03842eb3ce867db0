package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// GuestAgent runs a Run Command inside a running guest: what the guest
// agent of the machine's OS does on the platform. Options.GuestAgent plugs
// one in (the attestation agent registers from outside internal/sim); nil is
// DefaultAgent. Run's error means the guest could not run the command at all
// (its TPM failed); a command that ran and failed is a RunResult with a
// non-zero exit code.
type GuestAgent interface {
	Run(ctx context.Context, g *Guest, req RunRequest) (RunResult, error)
}

// RunRequest is a Run Command as the guest receives it. Parameters travel as
// data, never spliced into the script.
type RunRequest struct {
	Name       string
	Script     string
	CommandID  string
	Parameters map[string]string
}

// RunResult is what the command reported.
type RunResult struct {
	ExitCode int
	Stdout   string
	Stderr   string
}

// MaxKept is how many bytes a guest may keep bound to its vTPM (Guest.Keep).
const MaxKept = 64 << 10

// Guest is a running guest as a command inside it sees it: its identity, its
// vTPM (valid only during the call the Guest is passed to) and the TCG event
// log its firmware left. Not safe for use after that call returns.
type Guest struct {
	VMID         string
	Name         string
	ComputerName string
	OS           string // "Windows" or "Linux"
	SecureBoot   bool

	tr    transport.TPM
	log   []byte
	kept  map[string][]byte
	dirty bool
}

// TPM is the guest's vTPM as a go-tpm transport; nil when the VM has none.
func (g *Guest) TPM() transport.TPM { return g.tr }

// EventLog returns a copy of the TCG event log the guest reads (as
// /sys/kernel/security/tpm0/binary_bios_measurements or TBS hand it out);
// nil when the VM has no vTPM.
func (g *Guest) EventLog() []byte { return bytes.Clone(g.log) }

// Channel is the vTPM as a raw command stream: each Write is one TPM command,
// the next Read returns its response. It also offers MeasurementLog, so it
// satisfies go-attestation's CommandChannelTPM20. nil when the VM has no vTPM.
func (g *Guest) Channel() io.ReadWriteCloser {
	if g.tr == nil {
		return nil
	}
	return &tpmChannel{g: g}
}

// Kept returns a copy of what an earlier command kept under name.
func (g *Guest) Kept(name string) ([]byte, bool) {
	b, ok := g.kept[name]
	return bytes.Clone(b), ok
}

// Keep stores data bound to this vTPM under name (nil deletes it), sealed
// with the vTPM's state when the command ends, as a guest keeps key blobs
// only its TPM can load. A vTPM reset loses it, as such blobs become useless.
func (g *Guest) Keep(name string, data []byte) error {
	next := maps.Clone(g.kept)
	if next == nil {
		next = map[string][]byte{}
	}
	if data == nil {
		delete(next, name)
	} else {
		next[name] = bytes.Clone(data)
	}
	size := 0
	for k, v := range next {
		size += len(k) + len(v)
	}
	if size > MaxKept {
		return fmt.Errorf("guest %s: keep %q: the guest would keep %d bytes bound to its vTPM, more than %d: delete what it no longer needs", g.Name, name, size, MaxKept)
	}
	g.kept, g.dirty = next, true
	return nil
}

// tpmChannel adapts the guest's transport to a command stream.
type tpmChannel struct {
	g    *Guest
	resp bytes.Buffer
}

func (c *tpmChannel) Write(cmd []byte) (int, error) {
	if c.g.tr == nil {
		return 0, errors.New("guest tpm channel: the command has ended: the vTPM is gone")
	}
	rsp, err := c.g.tr.Send(cmd)
	if err != nil {
		return 0, err
	}
	c.resp.Reset()
	c.resp.Write(rsp)
	return len(cmd), nil
}

func (c *tpmChannel) Read(p []byte) (int, error) { return c.resp.Read(p) }

// Close leaves the vTPM to the guest: it lives as long as the command does.
func (c *tpmChannel) Close() error { return nil }

// MeasurementLog is the guest's TCG event log (go-attestation's
// CommandChannelTPM20).
func (c *tpmChannel) MeasurementLog() ([]byte, error) { return c.g.EventLog(), nil }

// RunCommand runs a Run Command in a running guest through the guest agent.
// What the command keeps bound to the vTPM is sealed back with its state.
func (h *Host) RunCommand(ctx context.Context, req arm.RunCommandRequest) (arm.RunCommandResult, error) {
	agent := h.agent
	if agent == nil {
		agent = DefaultAgent{}
	}
	var res RunResult
	err := h.inGuest(ctx, req.VMID, true, "run command "+req.Name, func(g *Guest) error {
		var err error
		res, err = agent.Run(ctx, g, RunRequest{Name: req.Name, Script: req.Script, CommandID: req.CommandID, Parameters: maps.Clone(req.Parameters)})
		return err
	})
	return arm.RunCommandResult{ExitCode: res.ExitCode, Output: res.Stdout, Error: res.Stderr}, err
}

// InGuest runs fn inside a running guest, as a command of its guest agent
// would run (Run Commands take this path): the vTPM is powered on and its
// boot replayed first, and what fn keeps is sealed back. It refuses the Arc
// resource bridge VM.
func (h *Host) InGuest(ctx context.Context, vmID string, fn func(*Guest) error) error {
	return h.inGuest(ctx, vmID, false, "in guest", fn)
}

// guestEntry is what entering a guest read under the lock.
type guestEntry struct {
	rec    *vmRecord
	key    []byte
	st     guestState
	hasTPM bool
}

func (h *Host) inGuest(ctx context.Context, vmID string, viaARM bool, what string, fn func(*Guest) error) error {
	var e guestEntry
	err := h.locked(func() error {
		rec, _, err := h.mutable(vmID, viaARM)
		if err != nil {
			return err
		}
		if rec.Power != PowerRunning {
			return fmt.Errorf("vm %s: %s: the VM is not running: start it first: %w", rec.Name, what, ErrInvalidState)
		}
		e.rec = rec
		if rec.StateGen == 0 {
			return nil
		}
		var ok bool
		if e.st, e.key, ok, err = h.openState(rec); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("vm %s: %s: the guest's vTPM state cannot be opened (its guest state protection key is not in the vault): restart the VM: %w", rec.Name, what, ErrInvalidState)
		}
		e.hasTPM = true
		return nil
	})
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	g := &Guest{VMID: e.rec.VMID, Name: e.rec.Name, ComputerName: e.rec.ComputerName, OS: string(e.rec.Boot.OS),
		SecureBoot: e.hasTPM && e.rec.Boot.SecureBoot, kept: e.st.Kept}
	if !e.hasTPM {
		return fn(g)
	}
	if err := h.runInVTPM(e, g, fn); err != nil {
		return fmt.Errorf("vm %s: %s: %w", e.rec.Name, what, err)
	}
	if !g.dirty {
		return nil
	}
	return h.locked(func() error { return h.sealBack(e, g.kept) })
}

// runInVTPM powers the guest's vTPM on, replays its boot and runs fn.
func (h *Host) runInVTPM(e guestEntry, g *Guest, fn func(*Guest) error) error {
	b, err := h.measured(e.rec)
	if err != nil {
		return err
	}
	g.log = b.Log
	return h.tpm.Boot(e.st.Seed, func(tr transport.TPM) error {
		if err := b.Extend(tr); err != nil {
			return fmt.Errorf("resume the guest's vTPM: %w", err)
		}
		g.tr = tr
		defer func() { g.tr = nil }()
		return fn(g)
	})
}

// sealBack seals the vTPM state with kept as its Kept, under the next
// generation's name, in the order newVTPM writes (state, record, old state
// goes). It refuses when the VM rebooted or its vTPM changed meanwhile.
func (h *Host) sealBack(e guestEntry, kept map[string][]byte) error {
	rec, err := h.readRecord(e.rec.VMID)
	if err != nil {
		return err
	}
	if rec.StateGen != e.rec.StateGen || rec.KeyFingerprint != e.rec.KeyFingerprint || rec.Boot.Boots != e.rec.Boot.Boots || rec.Cluster != e.rec.Cluster {
		return fmt.Errorf("vm %s: the VM restarted or its vTPM changed while the command ran, so what the command kept is discarded: run it again: %w", rec.Name, ErrInvalidState)
	}
	st := e.st
	st.Kept = kept
	data, err := seal(rec.VMID, e.key, st)
	if err != nil {
		return err
	}
	old := rec.StateGen
	rec.StateGen++
	if err := simfs.WriteFileAtomic(h.statePath(rec.Cluster, rec.VMID, rec.StateGen), data, 0o600); err != nil {
		return fmt.Errorf("vm %s: write guest state: %w", rec.Name, err)
	}
	if err := h.step("state"); err != nil {
		return err
	}
	if err := h.writeRecord(rec); err != nil {
		return err
	}
	if err := h.step("record"); err != nil {
		return err
	}
	return removeFile(h.statePath(rec.Cluster, rec.VMID, old))
}

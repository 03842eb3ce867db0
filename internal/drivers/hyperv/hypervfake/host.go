package hypervfake

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// Host is a simulated Hyper-V cluster behind the host protocol (psnode), backed by a sim
// cluster of the same name and nodes.
type Host struct {
	sim    *hvmodel.Driver
	ref    drivers.ClusterRef // the sim cluster's ref
	noise  bool
	starts atomic.Int64
	trips  atomic.Int64

	noIsolation bool

	mu        sync.Mutex
	notes     map[string]string // the VM's Notes as last written, by VM name
	perScript map[string]int64
	facts     facts
	auth      map[string]string // node: main-mode auth of its tlreconcile IPsec rules
	vmgs      map[string]bool   // VM name: its .vmgs holds data (its vTPM has run; a key-protector reset keeps it, delete-vm removes it)
	noAgent   map[string]bool   // VM name: tlreconcile's agent is not installed in its guest

	guestUser, guestPassword string // the account the guests accept (Options)
}

// Options configure a Host.
type Options struct {
	Noise bool // stray host output around every answer
	// NoIsolation is a host before Windows Server 2025, whose New-VM has no
	// -GuestStateIsolationType: it cannot create trusted-launch VMs.
	NoIsolation bool
	// GuestUser and GuestPassword are the account every guest accepts for PowerShell
	// Direct; when GuestUser is "", any account with a password is accepted.
	GuestUser, GuestPassword string
}

// New creates the sim cluster for ref (its name and nodes) under stateDir.
func New(stateDir string, ref drivers.ClusterRef, o Options) (*Host, error) {
	d, err := hvmodel.New(drivers.Config{StateDir: stateDir})
	if err != nil {
		return nil, err
	}
	sref := drivers.ClusterRef{Name: ref.Name, Driver: hvmodel.Name, Nodes: append([]string(nil), ref.Nodes...), Options: map[string]any{"vtpmBackend": hvmodel.BackendReference}}
	if _, err := d.Init(sref); err != nil {
		return nil, err
	}
	return &Host{sim: d, ref: sref, noise: o.Noise, noIsolation: o.NoIsolation, notes: map[string]string{}, perScript: map[string]int64{},
		facts: newFacts(), auth: map[string]string{}, vmgs: map[string]bool{}, noAgent: map[string]bool{},
		guestUser: o.GuestUser, guestPassword: o.GuestPassword}, nil
}

// Sim is the sim driver behind the host, for its controls (SetAgent, Failover, ...).
func (h *Host) Sim() *hvmodel.Driver { return h.sim }

// Counts is what the host has served.
type Counts struct {
	Starts     int64
	RoundTrips int64
	PerScript  map[string]int64
}

// Counts returns process starts and round trips so far.
func (h *Host) Counts() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	per := make(map[string]int64, len(h.perScript))
	for k, v := range h.perScript {
		per[k] = v
	}
	return Counts{Starts: h.starts.Load(), RoundTrips: h.trips.Load(), PerScript: per}
}

// SetNotes overwrites a VM's whole Notes the way an administrator would in Hyper-V Manager:
// a block they delete or damage is gone, and the VM is then unmanaged.
func (h *Host) SetNotes(ctx context.Context, vm, notes string) error {
	a, _, _ := hyperv.ParseNotes(notes)
	if _, err := h.sim.Apply(ctx, h.ref, drivers.Op{Kind: drivers.OpSetAnnotations, Cluster: h.ref.Name, VM: vm, Params: &drivers.Params{Annotations: a}}); err != nil {
		return err
	}
	h.mu.Lock()
	h.notes[vm] = notes
	h.mu.Unlock()
	return nil
}

// Notes returns a VM's whole Notes.
func (h *Host) Notes(ctx context.Context, vm string) (string, error) {
	v, err := h.sim.ObserveVM(ctx, h.ref, vm)
	if err != nil {
		return "", err
	}
	return h.notesFor(*v), nil
}

// notesFor is the VM's Notes: the text last written when its block still matches the sim's
// annotations, otherwise that text's admin part with the sim's annotations.
func (h *Host) notesFor(vm drivers.VM) string {
	h.mu.Lock()
	text := h.notes[vm.Name]
	h.mu.Unlock()
	a, admin, _ := hyperv.ParseNotes(text)
	if sameAnnotations(a, vm.Annotations) {
		return text
	}
	return hyperv.RenderNotes(admin, vm.Annotations)
}

func sameAnnotations(a, b *drivers.Annotations) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// Transport is a psnode.Transport whose processes are goroutines serving this host.
func (h *Host) Transport() *Transport {
	return NewTransport(h.ref.Nodes, h.handler, ServeOptions{Noise: h.noise, OnRequest: h.count}, func() { h.starts.Add(1) })
}

func (h *Host) count(req psnode.Request) {
	h.trips.Add(1)
	name, _ := hyperv.Scripts().Identify(req.Script)
	h.mu.Lock()
	h.perScript[name]++
	h.mu.Unlock()
}

// handler answers the requests a node's PowerShell host receives.
func (h *Host) handler(node string) Handler {
	return func(ctx context.Context, script string, p *hyperv.Payload) (any, *psnode.ScriptError) {
		switch script {
		case hyperv.ScriptObserve:
			return h.observe(ctx, node, p.VM)
		case hyperv.ScriptNodeStatus:
			obs, err := h.sim.Observe(ctx, h.ref)
			if err != nil {
				return nil, scriptError(err)
			}
			st := hyperv.NodeStatus{ComputerName: strings.ToUpper(node)}
			for _, n := range obs.Nodes {
				if n.Name == node {
					st.IgvmAgent = agentStatus(n.IgvmAgent)
				}
			}
			return st, nil
		case hyperv.ScriptFindVM:
			v, err := h.sim.ObserveVM(ctx, h.ref, p.VM)
			if errors.Is(err, drivers.ErrNotFound) {
				return hyperv.FindResult{}, nil
			}
			if err != nil {
				return nil, scriptError(err)
			}
			owner := strings.ToUpper(v.Node)
			return hyperv.FindResult{OwnerNode: &owner, Local: v.Node == node}, nil
		case string(drivers.OpStartIgvmAgent):
			return h.apply(ctx, drivers.Op{Kind: drivers.OpKind(script), Cluster: h.ref.Name, Node: node})
		case string(drivers.OpEnableMigrationIPsec):
			return h.enableIPsec(ctx, node, p)
		case hyperv.ScriptDisableMigrationIPsec:
			return h.disableIPsec(node)
		case string(drivers.OpCreateVM):
			return h.create(ctx, node, p)
		case hyperv.ScriptAttest:
			return h.attest(ctx, node, p)
		}
		kind := drivers.OpKind(script)
		if !kind.Valid() {
			return nil, &psnode.ScriptError{Category: psnode.CategoryInternal, Message: "fake host: no handler for script " + script}
		}
		// Get-VM on a node sees only the VMs that node hosts.
		v, err := h.sim.ObserveVM(ctx, h.ref, p.VM)
		if err != nil || v.Node != node {
			return nil, &psnode.ScriptError{Category: psnode.CategoryNotFound, Message: fmt.Sprintf("vm/%s: no such VM on this node", p.VM)}
		}
		switch kind {
		case drivers.OpSetAnnotations:
			return h.setAnnotations(ctx, *v, p)
		case drivers.OpStopVM:
			return h.stopVM(ctx, *v, p)
		case drivers.OpSetMemory:
			return h.setMemory(ctx, *v, p)
		case drivers.OpSetSecureBoot:
			if serr := h.templateFixed(*v, p); serr != nil {
				return nil, serr
			}
		case drivers.OpStartVM, drivers.OpDeleteVM:
			return h.lifecycle(ctx, kind, *v)
		}
		op := drivers.Op{Kind: kind, Cluster: h.ref.Name, VM: p.VM, Params: &drivers.Params{
			SecureBoot: p.Enabled, SecureBootTemplate: p.Template, Reset: p.Reset,
			EncryptState: p.EncryptState, VBSOptOut: p.VBSOptOut, Processors: p.Processors,
			MemoryMB: p.MemoryBytes >> 20, TargetNode: h.refNode(p.TargetNode), MigrationType: p.MigrationType,
		}}
		return h.apply(ctx, op)
	}
}

// lifecycle is start-vm and delete-vm with what they do to the guest-state file: the first
// start of a vTPM VM writes its .vmgs; Remove-VM and delete-vm.ps1 take the VM's folder, its
// .vmgs included.
func (h *Host) lifecycle(ctx context.Context, kind drivers.OpKind, v drivers.VM) (any, *psnode.ScriptError) {
	res, serr := h.apply(ctx, drivers.Op{Kind: kind, Cluster: h.ref.Name, VM: v.Name})
	switch {
	case serr != nil:
	case kind == drivers.OpDeleteVM:
		h.forgetGuestState(v.Name)
	case v.TPMEnabled:
		h.noteGuestState(drivers.VM{Name: v.Name, VTPMInitialized: true})
	}
	return res, serr
}

func (h *Host) refNode(n string) string {
	for _, r := range h.ref.Nodes {
		if strings.EqualFold(r, n) {
			return r
		}
	}
	return n
}

func (h *Host) create(ctx context.Context, node string, p *hyperv.Payload) (any, *psnode.ScriptError) {
	notes := ""
	if p.Notes != nil {
		notes = *p.Notes
	}
	a, _, _ := hyperv.ParseNotes(notes)
	if p.SecurityType == drivers.SecurityTrustedLaunch && h.noIsolation {
		return nil, isolationError(p.Name, node)
	}
	if p.Image != nil && p.SourceVHDX == "" {
		return nil, &psnode.ScriptError{Category: psnode.CategoryPrecondition, Message: "fake host: an image without a source VHDX"}
	}
	op := drivers.Op{Kind: drivers.OpCreateVM, Cluster: h.ref.Name, VM: p.Name, Params: &drivers.Params{
		Generation: p.Generation, SecurityType: p.SecurityType, Image: p.Image, Processors: p.Processors,
		MemoryMB: p.MemoryBytes >> 20, TargetNode: node, Annotations: a,
	}}
	res, serr := h.apply(ctx, op)
	if serr == nil {
		h.mu.Lock()
		h.notes[p.Name] = notes
		delete(h.vmgs, p.Name) // a new VM's own folder: its .vmgs holds nothing yet
		h.mu.Unlock()
	}
	return res, serr
}

// setAnnotations is set-annotations.ps1: a compare-and-swap on the whole Notes.
func (h *Host) setAnnotations(ctx context.Context, v drivers.VM, p *hyperv.Payload) (any, *psnode.ScriptError) {
	current := h.notesFor(v)
	want, expected := "", ""
	if p.Notes != nil {
		want = *p.Notes
	}
	if p.Expected != nil {
		expected = *p.Expected
	}
	f, t := false, true
	if current != expected {
		return hyperv.OpResult{Applied: &f, Current: &current, Message: "Notes changed since they were read"}, nil
	}
	if current == want {
		return hyperv.OpResult{Applied: &t, Current: &current, Message: "already so"}, nil
	}
	a, _, _ := hyperv.ParseNotes(want)
	if _, serr := h.apply(ctx, drivers.Op{Kind: drivers.OpSetAnnotations, Cluster: h.ref.Name, VM: v.Name, Params: &drivers.Params{Annotations: a}}); serr != nil {
		return nil, serr
	}
	h.mu.Lock()
	h.notes[v.Name] = want
	h.mu.Unlock()
	return hyperv.OpResult{Changed: true, Applied: &t, Current: &want, Message: "annotations written"}, nil
}

func (h *Host) apply(ctx context.Context, op drivers.Op) (any, *psnode.ScriptError) {
	res, err := h.sim.Apply(ctx, h.ref, op)
	if err != nil {
		return nil, scriptError(err)
	}
	return hyperv.OpResult{Changed: res.Changed, Message: res.Message}, nil
}

// observe is observe.ps1: this node's view, in the script's exact shape.
func (h *Host) observe(ctx context.Context, node, only string) (any, *psnode.ScriptError) {
	obs, err := h.sim.Observe(ctx, h.ref)
	if err != nil {
		return nil, scriptError(err)
	}
	r := hyperv.NodeReport{ComputerName: strings.ToUpper(node), VMs: []hyperv.VMReport{}}
	for _, n := range obs.Nodes {
		// Get-ClusterNode spells names as the cluster does (upper case here), which the
		// driver maps back to the Cluster document's spelling.
		r.ClusterNodes = append(r.ClusterNodes, hyperv.ClusterNode{Name: strings.ToUpper(n.Name), State: string(n.State)})
		if n.Name == node {
			if st := agentStatus(n.IgvmAgent); st != nil {
				r.IgvmAgent = &hyperv.AgentReport{Status: *st}
			}
			r.MigrationIPsec = n.MigrationIPsec
			r.MigrationTransport, r.SmbEncryption = h.transportOf(node)
		}
	}
	for _, v := range obs.VMs {
		h.noteGuestState(v)
		if v.Node != node || only != "" && v.Name != only {
			continue
		}
		if msg := h.broken(v.Name); msg != "" {
			// observe.ps1's catch: the name, the VMId and the error.
			r.VMs = append(r.VMs, hyperv.VMReport{Name: v.Name, VMId: fakeVMID(v.ID), Error: msg})
			continue
		}
		r.VMs = append(r.VMs, h.vmReport(v))
	}
	return r, nil
}

// vmReport renders a sim VM the way ConvertTo-TlrVMReport does.
func (h *Host) vmReport(v drivers.VM) hyperv.VMReport {
	owner := strings.ToUpper(v.Node)
	group := v.Name
	isolation := "Disabled"
	if v.SecurityType == drivers.SecurityTrustedLaunch {
		isolation = "TrustedLaunch"
	}
	r := hyperv.VMReport{
		Name: v.Name, VMId: fakeVMID(v.ID), Generation: v.Generation, State: hyperv.FlexString(v.Power),
		ProcessorCount: v.Processors, MemoryStartup: v.MemoryMB << 20, IsClustered: true,
		ClusterGroup: &group, OwnerNode: &owner, GuestStateIsolationType: &isolation,
		Security: &hyperv.SecurityReport{
			TpmEnabled: v.TPMEnabled, EncryptStateAndVmMigrationTraffic: v.EncryptState,
			VirtualizationBasedSecurityOptOut: v.VBSOptOut,
		},
		// ConvertTo-TlrVMReport: TpmEnabled -and (Test-TlrVmgs $VM), a written .vmgs, which a
		// key-protector reset leaves written: not the sim's "started since the last reset".
		TpmInitialized: v.TPMEnabled && h.guestStateWritten(v.Name), Notes: h.notesFor(v), FileAccess: string(v.FileAccess),
	}
	if v.Generation == 2 {
		sb := "Off"
		if v.SecureBoot {
			sb = "On"
		}
		r.Firmware = &hyperv.FirmwareReport{SecureBoot: hyperv.FlexString(sb), SecureBootTemplate: v.SecureBootTemplate}
		// Get-VMKeyProtector answers the 4-byte placeholder when there is none.
		kp := "AAAABA=="
		if v.KeyProtector {
			kp = keyProtectorFor(v)
		}
		r.KeyProtector = &kp
	}
	return r
}

// keyProtectorFor derives stable bytes from the sim's key protector and vTPM identity:
// they change when the protector is reset and survive moves, as a real one does.
func keyProtectorFor(v drivers.VM) string {
	raw, _ := hex.DecodeString(v.KeyProtectorSHA256)
	id, _ := hex.DecodeString(v.VTPMIdentity)
	return base64.StdEncoding.EncodeToString(append(append([]byte("KP1"), raw...), id...))
}

// fakeVMID shapes the sim's id like a VMId GUID when it is not one already.
func fakeVMID(id string) string {
	if len(id) >= 32 {
		h := strings.ReplaceAll(id, "-", "")
		if len(h) >= 32 {
			return strings.ToUpper(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32])
		}
	}
	return id
}

func agentStatus(a drivers.AgentState) *string {
	var s string
	switch a {
	case drivers.AgentAbsent:
		return nil
	case drivers.AgentRunning:
		s = "Running"
	default:
		s = "Stopped"
	}
	return &s
}

// scriptError maps a sim error to what Stop-Tlr would raise.
func scriptError(err error) *psnode.ScriptError {
	var oe *drivers.OpError
	inner := err
	if errors.As(err, &oe) {
		inner = oe.Err
	}
	cats := []struct {
		sentinel error
		category string
	}{
		{drivers.ErrNotFound, psnode.CategoryNotFound},
		{drivers.ErrInvalidState, psnode.CategoryInvalidState},
		{drivers.ErrPrecondition, psnode.CategoryPrecondition},
		{drivers.ErrNotSupported, psnode.CategoryNotSupported},
		{drivers.ErrAlreadyExists, psnode.CategoryAlreadyExists},
		{drivers.ErrInvalidArgument, psnode.CategoryInvalidArg},
	}
	for _, c := range cats {
		if errors.Is(inner, c.sentinel) {
			msg := strings.TrimSuffix(inner.Error(), ": "+c.sentinel.Error())
			return &psnode.ScriptError{Category: c.category, Message: msg}
		}
	}
	return &psnode.ScriptError{Category: "InvalidOperation", Message: inner.Error(), HResult: -2146233079}
}

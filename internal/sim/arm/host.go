package arm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Host is what ARM asks of the simulated cluster behind a custom location:
// the calls Azure Local's resource bridge and MOC make into the nodes. ARM
// calls it when a long-running operation completes, with the resource group
// of the resource locked; an error fails the operation with the error's text.
// The cluster model (internal/sim/cluster) implements it; MemoryHost is the
// stand-in for tests.
//
// A process killed after a Host call and before ARM recorded its outcome
// makes the next reader call again (see operation), so every call must be
// safe to repeat: PlaceVM returns the VM it placed before for the same
// MachineID, DeleteVM of a VM that is gone returns an error wrapping
// ErrNoVM (which ARM takes as deleted), StartVM, StopVM and SetHardware
// leave the VM as one call does. RestartVM and RunCommand run again (a second
// reboot, a second run): at least once, as a client retrying them gets.
type Host interface {
	// PlaceVM creates the VM of a new virtual machine instance on a node of
	// the cluster and returns where it went and its Hyper-V VM ID; for a
	// MachineID that has a VM already, it returns that VM's placement.
	PlaceVM(ctx context.Context, req PlaceRequest) (Placement, error)
	StartVM(ctx context.Context, vmID string) error
	StopVM(ctx context.Context, vmID string) error
	RestartVM(ctx context.Context, vmID string) error
	DeleteVM(ctx context.Context, vmID string) error
	// SetHardware changes CPU count and memory (a PATCH hardwareProfile).
	SetHardware(ctx context.Context, vmID string, hw Hardware) error
	// RunCommand runs a machine run command in the VM's guest.
	RunCommand(ctx context.Context, req RunCommandRequest) (RunCommandResult, error)
}

// PlaceRequest is a virtual machine instance ARM accepted, as the cluster
// needs it.
type PlaceRequest struct {
	MachineID      string // the Arc machine, /subscriptions/.../machines/NAME
	CustomLocation string // which simulated cluster
	ComputerName   string
	Image          ImageIdentifier
	Hardware       Hardware
	Security       Security
	NetworkIDs     []string // network interface resource IDs
}

// ImageIdentifier names a marketplace image; Version may be empty.
type ImageIdentifier struct {
	Publisher, Offer, SKU, Version string
}

// Hardware is the hardware profile of a VM; zero fields are unset.
type Hardware struct {
	VMSize     string
	Processors int
	MemoryMB   int64
}

// Security is the security profile of a VM, fixed at create.
type Security struct {
	Type       string // "TrustedLaunch", "ConfidentialVM" or ""
	TPM        bool
	SecureBoot bool
}

// Placement is where the cluster put a new VM.
type Placement struct {
	Node string
	VMID string
}

// RunCommandRequest is a run command to execute in the guest of VMID.
type RunCommandRequest struct {
	MachineID      string
	VMID           string
	Name           string
	Script         string
	CommandID      string
	Parameters     map[string]string
	TimeoutSeconds int
}

// RunCommandResult is what the guest reported.
type RunCommandResult struct {
	ExitCode int
	Output   string
	Error    string
}

// ErrNoVM is returned by MemoryHost for a VM ID it does not know.
var ErrNoVM = errors.New("no such VM on the cluster")

// MemoryHost is an in-memory cluster of one node that places every VM and
// echoes run commands: the stand-in Host for ARM's own tests. It models
// nothing of trusted launch (no keys, no vTPM). Safe for concurrent use.
type MemoryHost struct {
	// Node is the node VMs are placed on ("node1" when empty).
	Node string

	mu   sync.Mutex
	next int
	vms  map[string]*MemoryVM
}

// MemoryVM is one VM of a MemoryHost.
type MemoryVM struct {
	Request PlaceRequest
	Running bool
}

var _ Host = (*MemoryHost)(nil)

// VM returns a copy of the VM vmID and whether it exists.
func (h *MemoryHost) VM(vmID string) (MemoryVM, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	vm, ok := h.vms[vmID]
	if !ok {
		return MemoryVM{}, false
	}
	return *vm, true
}

// Len is the number of VMs on the host.
func (h *MemoryHost) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.vms)
}

func (h *MemoryHost) PlaceVM(_ context.Context, req PlaceRequest) (Placement, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.vms == nil {
		h.vms = map[string]*MemoryVM{}
	}
	node := h.Node
	if node == "" {
		node = "node1"
	}
	for id, vm := range h.vms {
		if strings.EqualFold(vm.Request.MachineID, req.MachineID) {
			return Placement{Node: node, VMID: id}, nil
		}
	}
	h.next++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", h.next)
	h.vms[id] = &MemoryVM{Request: req, Running: true}
	return Placement{Node: node, VMID: id}, nil
}

func (h *MemoryHost) with(vmID string, fn func(*MemoryVM) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	vm, ok := h.vms[vmID]
	if !ok {
		return fmt.Errorf("vm %s: %w", vmID, ErrNoVM)
	}
	return fn(vm)
}

func (h *MemoryHost) StartVM(_ context.Context, vmID string) error {
	return h.with(vmID, func(vm *MemoryVM) error { vm.Running = true; return nil })
}

func (h *MemoryHost) StopVM(_ context.Context, vmID string) error {
	return h.with(vmID, func(vm *MemoryVM) error { vm.Running = false; return nil })
}

func (h *MemoryHost) RestartVM(_ context.Context, vmID string) error {
	return h.with(vmID, func(vm *MemoryVM) error { vm.Running = true; return nil })
}

func (h *MemoryHost) SetHardware(_ context.Context, vmID string, hw Hardware) error {
	return h.with(vmID, func(vm *MemoryVM) error { vm.Request.Hardware = hw; return nil })
}

func (h *MemoryHost) DeleteVM(_ context.Context, vmID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.vms, vmID)
	return nil
}

// RunCommand echoes the script as its output, in a running VM.
func (h *MemoryHost) RunCommand(_ context.Context, req RunCommandRequest) (RunCommandResult, error) {
	var res RunCommandResult
	err := h.with(req.VMID, func(vm *MemoryVM) error {
		if !vm.Running {
			return fmt.Errorf("vm %s: the VM is not running: start it first", req.VMID)
		}
		res = RunCommandResult{Output: req.Script + req.CommandID}
		return nil
	})
	return res, err
}

package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// ownedVM is Get-TlrOwnedVM: the VM with p's ID on this node, under the name the driver saw,
// refused when it is infrastructure.
func (n *Node) ownedVM(ctx context.Context, p *azlocal.VMParams) (cluster.VMState, *psnode.ScriptError) {
	if !isGUID(p.VMID) {
		return cluster.VMState{}, stop(psnode.CategoryInvalidArg, "vm/%s: vmId %s is not a VM ID (a GUID)", p.VM, p.VMID)
	}
	vm, err := n.host.VM(ctx, strings.ToLower(strings.Trim(p.VMID, "{}")))
	if errors.Is(err, cluster.ErrNotFound) || (err == nil && (vm.Cluster != n.cluster || !strings.EqualFold(vm.Node, n.name))) {
		return cluster.VMState{}, stop(psnode.CategoryNotFound, "vm/%s: no VM with ID %s on this node; run the op on its owner node", p.VM, p.VMID)
	}
	if err != nil {
		return cluster.VMState{}, cmdletError(err)
	}
	if vm.Name != p.VM {
		return cluster.VMState{}, stop(psnode.CategoryPrecondition, "vm/%s: the VM with ID %s is now named %s; observe again", p.VM, p.VMID, vm.Name)
	}
	if vm.Infrastructure || slices.Contains(p.Infrastructure, vm.Name) {
		return cluster.VMState{}, stop(azlocal.CategoryInfrastructure, "vm/%s: the VM is Azure Local infrastructure (the Arc resource bridge); nothing may change it", p.VM)
	}
	return vm, nil
}

func (n *Node) moveVM(ctx context.Context, params []byte) (any, *psnode.ScriptError) {
	var p azlocal.MoveParams
	if serr := decode(params, &p); serr != nil {
		return nil, serr
	}
	vm, serr := n.ownedVM(ctx, &p.VMParams)
	if serr != nil {
		return nil, serr
	}
	if p.TargetNode == "" {
		return nil, stop(psnode.CategoryInvalidArg, "vm/%s: move-vm needs targetNode", p.VM)
	}
	if _, err := n.host.Node(ctx, n.cluster, p.TargetNode); err != nil {
		return nil, &psnode.ScriptError{Category: "ObjectNotFound", ErrorID: "ClusterNodeNotFound,Microsoft.FailoverClusters.PowerShell.MoveClusterVirtualMachineRoleCommand",
			Message: fmt.Sprintf("The cluster node '%s' was not found.", p.TargetNode)}
	}
	if strings.EqualFold(vm.Node, p.TargetNode) {
		return azlocal.OpResult{Message: "already there"}, nil
	}
	kind := "Live"
	if vm.Power != cluster.PowerRunning {
		kind = "Quick"
	}
	if err := n.host.MoveVM(ctx, vm.VMID, cluster.Target{Node: p.TargetNode}, true); err != nil {
		return nil, cmdletError(err)
	}
	return azlocal.OpResult{Changed: true, Message: fmt.Sprintf("moved to %s (%s migration)", p.TargetNode, kind)}, nil
}

func (n *Node) setSecureBoot(ctx context.Context, params []byte) (any, *psnode.ScriptError) {
	var p azlocal.VMParams
	if serr := decode(params, &p); serr != nil {
		return nil, serr
	}
	vm, serr := n.ownedVM(ctx, &p)
	if serr != nil {
		return nil, serr
	}
	if vm.SecureBoot {
		return azlocal.OpResult{Message: "Secure Boot already on"}, nil
	}
	if vm.Power != cluster.PowerOff {
		return nil, stop(psnode.CategoryInvalidState, "vm/%s: enabling Secure Boot needs the VM Off but it is %s (error 32775); stop it through Azure first", p.VM, vm.Power)
	}
	if err := n.host.EnableSecureBoot(ctx, vm.VMID); err != nil {
		return nil, cmdletError(err)
	}
	return azlocal.OpResult{Changed: true, Message: "Secure Boot switched back on"}, nil
}

func (n *Node) startIGVmAgent(ctx context.Context, params []byte) (any, *psnode.ScriptError) {
	var p struct{}
	if serr := decode(params, &p); serr != nil {
		return nil, serr
	}
	st, err := n.host.Node(ctx, n.cluster, n.name)
	if err != nil {
		return nil, cmdletError(err)
	}
	switch st.Agents[cluster.AgentIGVm] {
	case cluster.AgentRunning:
		return azlocal.OpResult{Message: "IGVmAgent already running"}, nil
	case cluster.AgentNotInstalled, "":
		return nil, stop(psnode.CategoryPrecondition, "node: IGVmAgent is not installed; install the Azure Local trusted-launch components")
	}
	if err := n.host.SetAgent(ctx, n.cluster, n.name, cluster.AgentIGVm, cluster.AgentRunning); err != nil {
		return nil, cmdletError(err)
	}
	return azlocal.OpResult{Changed: true, Message: "IGVmAgent started"}, nil
}

func (n *Node) restrictFileAccess(ctx context.Context, params []byte) (any, *psnode.ScriptError) {
	var p azlocal.VMParams
	if serr := decode(params, &p); serr != nil {
		return nil, serr
	}
	vm, serr := n.ownedVM(ctx, &p)
	if serr != nil {
		return nil, serr
	}
	if vm.GuestStateFile == "" || vm.StateMissing {
		return nil, stop(psnode.CategoryNotFound, "vm/%s: its guest state file was not found", p.VM)
	}
	if err := n.host.RestrictStateFileAccess(ctx, vm.VMID); err != nil {
		return nil, cmdletError(err)
	}
	return azlocal.OpResult{Changed: true, Message: "guest state file access restricted to Administrators, SYSTEM and the VM"}, nil
}

// enableMigrationEncryption: the model keeps one Encrypted flag per node, so the request
// phase (IPsec negotiated, not required) changes nothing it can show and the require phase
// (or SMB cluster encryption) sets it.
func (n *Node) enableMigrationEncryption(ctx context.Context, params []byte) (any, *psnode.ScriptError) {
	var p azlocal.EncryptionParams
	if serr := decode(params, &p); serr != nil {
		return nil, serr
	}
	if p.Phase != azlocal.PhaseRequest && p.Phase != azlocal.PhaseRequire {
		return nil, stop(psnode.CategoryInvalidArg, "node: phase %s: use request or require", p.Phase)
	}
	st, err := n.host.Node(ctx, n.cluster, n.name)
	if err != nil {
		return nil, cmdletError(err)
	}
	m := migration(st)
	if m.Transport != p.Transport {
		return nil, stop(psnode.CategoryPrecondition, "node: the live-migration transport is %s, not %s; observe again", m.Transport, p.Transport)
	}
	switch {
	case m.Encrypted():
		return azlocal.OpResult{Message: "live migration already encrypted"}, nil
	case m.Transport != azlocal.TransportSMB && p.Phase == azlocal.PhaseRequest:
		return azlocal.OpResult{Message: "live migration IPsec set to request (ESP AES-256)"}, nil
	}
	if err := n.host.SetLiveMigration(ctx, n.cluster, n.name, st.LiveMigration, true); err != nil {
		return nil, cmdletError(err)
	}
	if m.Transport == azlocal.TransportSMB {
		return azlocal.OpResult{Changed: true, Message: "SMB cluster encryption switched on"}, nil
	}
	return azlocal.OpResult{Changed: true, Message: "live migration IPsec set to require (ESP AES-256)"}, nil
}

func (n *Node) backupKeys(ctx context.Context, params []byte) (any, *psnode.ScriptError) {
	var p azlocal.BackupParams
	if serr := decode(params, &p); serr != nil {
		return nil, serr
	}
	if fi, err := os.Stat(p.WrappingKeyPath); p.WrappingKeyPath == "" || err != nil || fi.IsDir() {
		return nil, stop(psnode.CategoryPrecondition, "node: wrapping key %s is not there; copy the public key (PEM) of your wrapping key pair to the node", p.WrappingKeyPath)
	}
	if p.BackupRoot == "" {
		return nil, stop(psnode.CategoryInvalidArg, "node: backup-guest-state-keys needs backupRoot")
	}
	st, err := n.host.Observe(ctx, n.cluster, cluster.ObserveOptions{})
	if err != nil {
		return nil, cmdletError(err)
	}
	if !cloudAgentRuns(&st) {
		return nil, stop(psnode.CategoryPrecondition, "node: Get-MocKey: the MOC cloud agent cannot be reached: start wssdcloudagent")
	}
	b, err := n.host.BackupKeys(ctx, n.cluster, p.WrappingKeyPath, p.BackupRoot)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil, stop(psnode.CategoryAlreadyExists, "node: %s", err.Error())
	case err != nil && strings.Contains(err.Error(), "wrapping key"):
		return nil, stop(psnode.CategoryPrecondition, "node: %s", err.Error())
	case err != nil:
		return nil, cmdletError(err)
	}
	return azlocal.BackupResult{OpResult: azlocal.OpResult{Changed: true, Message: fmt.Sprintf("%d keys backed up", len(b.Keys))},
		Folder: b.Folder, Keys: nonNil(b.Keys)}, nil
}

// stop is what Stop-Tlr raises.
func stop(category, format string, args ...any) *psnode.ScriptError {
	return &psnode.ScriptError{Category: category, Message: fmt.Sprintf(format, args...), ErrorID: "System.InvalidOperationException"}
}

// cmdletError is a cluster model error as the cmdlet behind it would raise it.
func cmdletError(err error) *psnode.ScriptError {
	switch {
	case errors.Is(err, cluster.ErrInfrastructure):
		return stop(azlocal.CategoryInfrastructure, "%s", err.Error())
	case errors.Is(err, cluster.ErrNotFound):
		return &psnode.ScriptError{Category: "ObjectNotFound", Message: err.Error(), ErrorID: "ObjectNotFound"}
	case errors.Is(err, cluster.ErrInvalidState):
		return &psnode.ScriptError{Category: "InvalidOperation", Message: err.Error(), HResult: 32775, ErrorID: "InvalidState"}
	case errors.Is(err, cluster.ErrBlocked):
		return stop(psnode.CategoryPrecondition, "%s", err.Error())
	}
	return &psnode.ScriptError{Category: "InvalidOperation", Message: err.Error()}
}

func isGUID(s string) bool {
	_, err := azlocal.VMAccountSID(s)
	return err == nil
}

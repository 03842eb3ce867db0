package hypervfake

import (
	"context"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// facts are the host conditions no op creates, which tests stage: a guest that ignores
// shutdown, a VM whose report fails, the live-migration transport, a node whose IPsec
// cmdlets fail. Guarded by Host.mu.
type facts struct {
	hung      map[string]bool   // VM name: the guest does not shut down
	broken    map[string]string // VM name: the error its report fails with
	transport map[string]string // node: VirtualMachineMigrationPerformanceOption ("" = TCPIP)
	smbEnc    map[string]bool   // node: Get-SmbServerConfiguration EncryptData
	ipsecFail map[string]bool   // node: New-NetIPsecRule fails
}

func newFacts() facts {
	return facts{hung: map[string]bool{}, broken: map[string]string{}, transport: map[string]string{}, smbEnc: map[string]bool{}, ipsecFail: map[string]bool{}}
}

// SetGuestHung makes a VM's guest ignore the shutdown request Stop-VM -Force sends, as a
// guest without the shutdown integration service, hung, or installing updates does.
func (h *Host) SetGuestHung(vm string, hung bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.facts.hung[vm] = hung
}

// BreakReport makes the report of a VM fail with msg (one of Get-VMFirmware,
// Get-VMSecurity, Get-VMKeyProtector throwing for it); "" repairs it.
func (h *Host) BreakReport(vm, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if msg == "" {
		delete(h.facts.broken, vm)
		return
	}
	h.facts.broken[vm] = msg
}

// SetMigrationTransport sets a node's live-migration transport (TCPIP, Compression, SMB)
// and whether its SMB server encrypts.
func (h *Host) SetMigrationTransport(node, transport string, smbEncryption bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.facts.transport[node], h.facts.smbEnc[node] = transport, smbEncryption
}

// FailIPsec makes New-NetIPsecRule fail on node (Windows Firewall service stopped, say).
func (h *Host) FailIPsec(node string, fail bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.facts.ipsecFail[node] = fail
}

func (h *Host) hung(vm string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.facts.hung[vm]
}

func (h *Host) broken(vm string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.facts.broken[vm]
}

func (h *Host) transportOf(node string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.facts.transport[node]
	if t == "" {
		t = "TCPIP"
	}
	return t, h.facts.smbEnc[node]
}

// stopVM is stop-vm.ps1: Stop-VM -Force asks the guest to shut down; "If the virtual machine
// has applications with unsaved data, the virtual machine has five minutes to save data and
// shut down" (Stop-VM, -Force). A guest that does not is turned off (-TurnOff: "equivalent to
// removing power") only with allowForceStop; so are Saved and Paused VMs, whose memory state
// turning off discards. Otherwise the script fails invalid_state with the VM's state.
func (h *Host) stopVM(ctx context.Context, v drivers.VM, p *hyperv.Payload) (any, *psnode.ScriptError) {
	if v.Power == drivers.PowerOff {
		return hyperv.OpResult{Message: "already Off"}, nil
	}
	why := ""
	switch {
	case v.Power == drivers.PowerRunning && !h.hung(v.Name):
		return h.apply(ctx, drivers.Op{Kind: drivers.OpStopVM, Cluster: h.ref.Name, VM: v.Name})
	case v.Power == drivers.PowerRunning:
		why = "the guest did not shut down within 330 seconds"
	default:
		why = fmt.Sprintf("it is %s, and turning it off discards its saved memory state", v.Power)
	}
	if !p.AllowForceStop {
		return nil, &psnode.ScriptError{Category: psnode.CategoryInvalidState, Message: fmt.Sprintf(
			"vm/%s: not stopped: %s; the VM is %s (heartbeat OkApplicationsUnknown): shut the guest down from inside, or apply with --allow-force-stop to turn it off (unsaved guest data is lost)", v.Name, why, v.Power)}
	}
	if _, serr := h.apply(ctx, drivers.Op{Kind: drivers.OpStopVM, Cluster: h.ref.Name, VM: v.Name}); serr != nil {
		return nil, serr
	}
	return hyperv.OpResult{Changed: true, Message: "turned off with --allow-force-stop (" + why + ")"}, nil
}

// setMemory is set-memory.ps1: Set-VMMemory -StartupBytes resizes the static memory of a
// running VM in place on Windows Server 2016 and later ("runtime memory resize", What's new
// in Hyper-V on Windows Server 2016); an Off VM the sim changes itself.
func (h *Host) setMemory(ctx context.Context, v drivers.VM, p *hyperv.Payload) (any, *psnode.ScriptError) {
	mb := p.MemoryBytes >> 20
	if v.Power == drivers.PowerOff || v.MemoryMB == mb {
		return h.apply(ctx, drivers.Op{Kind: drivers.OpSetMemory, Cluster: h.ref.Name, VM: v.Name, Params: &drivers.Params{MemoryMB: mb}})
	}
	if err := h.sim.Drift(ctx, h.ref.Name, v.Name, []hvmodel.Setting{{Field: "memoryMB", Value: fmt.Sprint(mb)}}); err != nil {
		return nil, scriptError(err)
	}
	return hyperv.OpResult{Changed: true, Message: fmt.Sprintf("%d bytes startup memory", p.MemoryBytes)}, nil
}

// enableIPsec is enable-migration-ipsec.ps1 on node: an explicit ESP crypto set and the
// auth set the payload names (New-NetIPsecQuickModeCryptoSet, New-NetIPsecPhase1AuthSet,
// New-NetIPsecRule -QuickModeCryptoSet -Phase1AuthSet), or the cmdlet's failure.
func (h *Host) enableIPsec(ctx context.Context, node string, p *hyperv.Payload) (any, *psnode.ScriptError) {
	if p.Auth != hyperv.AuthKerberos && p.Auth != hyperv.AuthCertificate || p.Auth == hyperv.AuthCertificate && p.CertAuthority == "" {
		return nil, &psnode.ScriptError{Category: psnode.CategoryInvalidArg, Message: fmt.Sprintf("New-NetIPsecAuthProposal: auth %q with authority %q", p.Auth, p.CertAuthority)}
	}
	h.mu.Lock()
	fail := h.facts.ipsecFail[node]
	h.mu.Unlock()
	if fail {
		return nil, &psnode.ScriptError{Category: "InvalidOperation", Message: "New-NetIPsecRule: The service cannot be started, either because it is disabled or because it has no enabled devices associated with it (Windows Firewall)"}
	}
	h.mu.Lock()
	h.auth[node] = p.Auth
	h.mu.Unlock()
	return h.apply(ctx, drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: h.ref.Name, Node: node})
}

// disableIPsec is disable-migration-ipsec.ps1: the tlreconcile rules are removed.
func (h *Host) disableIPsec(node string) (any, *psnode.ScriptError) {
	if err := h.sim.SetIPsec(h.ref.Name, node, false); err != nil {
		return nil, scriptError(err)
	}
	h.mu.Lock()
	delete(h.auth, node)
	h.mu.Unlock()
	return hyperv.OpResult{Changed: true, Message: "tlreconcile live-migration IPsec rules removed"}, nil
}

// IPsecAuth is the main-mode auth the node's tlreconcile rules use ("" when it has none).
func (h *Host) IPsecAuth(node string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.auth[node]
}

// isolationError is create-vm.ps1 on a host whose New-VM has no -GuestStateIsolationType
// (before Windows Server 2025: New-VM documentation lists the parameter only there).
func isolationError(name, node string) *psnode.ScriptError {
	return &psnode.ScriptError{Category: psnode.CategoryNotSupported, Message: fmt.Sprintf(
		"vm/%s: New-VM on %s has no -GuestStateIsolationType, so this host cannot create a trusted-launch VM (Windows Server 2025 Hyper-V can); declare securityType: Standard, or place the VM on a newer host", name, strings.ToUpper(node))}
}

// noteGuestState remembers that a VM's guest-state file holds data: once its vTPM has been
// initialised (started), the .vmgs stays written, also after Set-VMKeyProtector
// -NewLocalKeyProtector resets the vTPM.
func (h *Host) noteGuestState(v drivers.VM) {
	if !v.VTPMInitialized {
		return
	}
	h.mu.Lock()
	h.vmgs[v.Name] = true
	h.mu.Unlock()
}

// guestStateWritten is Test-TlrVmgs: the VM's .vmgs holds data.
func (h *Host) guestStateWritten(vm string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.vmgs[vm]
}

func (h *Host) forgetGuestState(vm string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.vmgs, vm)
}

// templateFixed is set-secure-boot.ps1's check: the Secure Boot template cannot change once
// the vTPM is initialised (DESIGN §1.2), tested as a non-empty .vmgs, which a vTPM reset
// does not empty.
func (h *Host) templateFixed(v drivers.VM, p *hyperv.Payload) *psnode.ScriptError {
	h.noteGuestState(v)
	h.mu.Lock()
	written := h.vmgs[v.Name]
	h.mu.Unlock()
	if !written || p.Template == "" || p.Template == v.SecureBootTemplate || !v.TPMEnabled || v.Power != drivers.PowerOff {
		return nil
	}
	return &psnode.ScriptError{Category: psnode.CategoryPrecondition, Message: fmt.Sprintf(
		"vm/%s: the Secure Boot template cannot change after the vTPM is initialised, and a vTPM reset does not undo that; keep the template, or replace the VM", v.Name)}
}

package node

import (
	"context"
	"slices"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// lmTransports is how Get-VMHost names each Network ATC transport; read-only.
var lmTransports = map[cluster.LMTransport]string{
	cluster.LMTCP: azlocal.TransportTCPIP, cluster.LMCompression: azlocal.TransportCompression, cluster.LMSMB: azlocal.TransportSMB,
}

func (n *Node) observe(ctx context.Context, params []byte) (any, *psnode.ScriptError) {
	var p azlocal.ObserveParams
	if serr := decode(params, &p); serr != nil {
		return nil, serr
	}
	if p.VMID != "" && !isGUID(p.VMID) {
		return nil, stop(psnode.CategoryInvalidArg, "observe-node: vmId %s is not a VM ID (a GUID)", p.VMID)
	}
	st, err := n.host.Observe(ctx, n.cluster, cluster.ObserveOptions{VMID: strings.ToLower(strings.Trim(p.VMID, "{}")), NoVMs: p.NoVMs})
	if err != nil {
		return nil, cmdletError(err)
	}
	rep := azlocal.NodeReport{ComputerName: n.name, VMs: []azlocal.VMReport{}, Backups: []azlocal.BackupReport{},
		Cluster: &azlocal.ClusterReport{Name: st.Name, Nodes: []azlocal.ClusterNode{}}}
	for _, node := range st.Nodes {
		rep.Cluster.Nodes = append(rep.Cluster.Nodes, azlocal.ClusterNode{Name: node.Name, State: string(node.Status)})
		if strings.EqualFold(node.Name, n.name) {
			rep.Agents, rep.LiveMigration = agents(node), migration(node)
		}
	}
	for i := range st.VMs {
		if vm := &st.VMs[i]; strings.EqualFold(vm.Node, n.name) {
			rep.VMs = append(rep.VMs, vmReport(vm, p.Infrastructure))
		}
	}
	slices.SortFunc(rep.VMs, func(a, b azlocal.VMReport) int { return strings.Compare(a.Name+a.VMID, b.Name+b.VMID) })
	rep.KeyVault = keyVault(&st)
	if p.BackupRoot != "" {
		backups, err := cluster.ListBackups(p.BackupRoot)
		if err != nil {
			return nil, cmdletError(err)
		}
		for _, b := range backups {
			rep.Backups = append(rep.Backups, azlocal.BackupReport{Folder: b.Folder, Keys: nonNil(b.Keys)})
		}
	}
	return rep, nil
}

func agents(node cluster.NodeState) []azlocal.AgentReport {
	out := make([]azlocal.AgentReport, 0, 3)
	for _, a := range []cluster.Agent{cluster.AgentIGVm, cluster.AgentNode, cluster.AgentCloud} {
		s, ok := node.Agents[a]
		if !ok {
			s = cluster.AgentNotInstalled
		}
		out = append(out, azlocal.AgentReport{Name: string(a), Status: string(s)})
	}
	return out
}

// migration reports a node's live migration as Get-VMHost, the IPsec policy and
// Get-AzsSecurity would: the model's one Encrypted flag is IPsec required on the TCP
// transports and SMB cluster encryption on SMB.
func migration(node cluster.NodeState) azlocal.MigrationReport {
	m := azlocal.MigrationReport{Enabled: true, Transport: lmTransports[node.LiveMigration], IPsec: azlocal.IPsecNone}
	smb := node.LiveMigration == cluster.LMSMB && node.Encrypted
	m.SMBEncryption = &smb
	if node.LiveMigration != cluster.LMSMB && node.Encrypted {
		m.IPsec = azlocal.IPsecRequire
	}
	return m
}

func vmReport(vm *cluster.VMState, infrastructure []string) azlocal.VMReport {
	isolation, secureBoot := vm.GuestStateIsolationType, vm.SecureBoot
	r := azlocal.VMReport{Name: vm.Name, VMID: vm.VMID, State: string(vm.Power), Generation: 2,
		GuestStateIsolationType: &isolation, SecureBoot: &secureBoot, IsClustered: true,
		Infrastructure: vm.Infrastructure || slices.Contains(infrastructure, vm.Name)}
	if vm.GuestStateFile == "" {
		return r
	}
	root, file := vm.GuestStateDataRoot, vm.GuestStateFile
	r.GuestStateDataRoot, r.GuestStateFile = &root, &file
	if vm.StateMissing {
		return r
	}
	fs := &azlocal.FileSecurity{Path: root + `\` + file, Owner: principal(vm.Owner), Access: []azlocal.AccessRule{}}
	for _, who := range vm.ACL {
		p := principal(who)
		fs.Access = append(fs.Access, azlocal.AccessRule{Name: p.Name, Sid: p.Sid, Type: "Allow", Rights: "FullControl"})
	}
	r.StateFile = fs
	return r
}

// principal is how Get-Acl shows an account of the model: its SID and, where Windows
// translates it, its name.
func principal(who string) azlocal.Principal {
	switch {
	case who == cluster.PrincipalAdministrators:
		return azlocal.Principal{Name: azlocal.NameAdministrators, Sid: azlocal.SIDAdministrators}
	case who == cluster.PrincipalSystem:
		return azlocal.Principal{Name: azlocal.NameSystem, Sid: azlocal.SIDSystem}
	case who == cluster.PrincipalAllVMs:
		return azlocal.Principal{Name: azlocal.NameAllVMs, Sid: azlocal.SIDAllVMs}
	case strings.HasPrefix(who, `NT VIRTUAL MACHINE\`):
		sid, _ := azlocal.VMAccountSID(strings.TrimPrefix(who, `NT VIRTUAL MACHINE\`))
		return azlocal.Principal{Name: who, Sid: sid}
	case strings.HasPrefix(who, "S-1-"):
		return azlocal.Principal{Sid: who}
	}
	return azlocal.Principal{Name: who}
}

// keyVault is Get-MocKey's view of the cluster's vault: it goes through the MOC cloud agent,
// so it fails when no node runs one.
func keyVault(st *cluster.ClusterState) azlocal.KeyVaultReport {
	if !cloudAgentRuns(st) {
		return azlocal.KeyVaultReport{Error: "Get-MocKey: the MOC cloud agent cannot be reached: no node runs wssdcloudagent", Keys: []azlocal.KeyReport{}}
	}
	kv := azlocal.KeyVaultReport{Available: true, Keys: []azlocal.KeyReport{}}
	for _, vm := range st.VMs {
		if vm.KeyPresent {
			kv.Keys = append(kv.Keys, azlocal.KeyReport{Name: vm.VMID, Type: "AES", Size: 256})
		}
	}
	slices.SortFunc(kv.Keys, func(a, b azlocal.KeyReport) int { return strings.Compare(a.Name, b.Name) })
	return kv
}

func cloudAgentRuns(st *cluster.ClusterState) bool {
	for _, node := range st.Nodes {
		if node.Status == cluster.NodeUp && node.Agents[cluster.AgentCloud] == cluster.AgentRunning {
			return true
		}
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

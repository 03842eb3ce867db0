package plan

import (
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Finding rules of facts a host reports about itself.
const (
	// RuleVMObserveFailed: the host listed the VM but could not report it;
	// nothing is planned against it until it can be observed.
	RuleVMObserveFailed = "vm-observe-failed"
)

// observeFailed reports a VM the driver could not observe: an error finding,
// and no step, since every setting of it is unknown.
func (b *builder) observeFailed(cluster string, o *drivers.VM) {
	res := "vm/" + o.Name
	b.finding(SeverityError, RuleVMObserveFailed, res, cluster,
		fmt.Sprintf("%s: node %s lists the VM but could not report it (%s); nothing is planned for it: fix the VM on the host (Hyper-V Manager shows the same error), then plan again", res, o.Node, o.ObserveError))
}

// smbMigration is the live-migration encryption verdict of a node that
// migrates over SMB: IPsec cannot protect SMB Direct (it bypasses the TCP/IP
// stack), so no IPsec step helps; only SMB encryption does, which
// tlreconcile reports rather than changes.
func (b *builder) smbMigration(cp *clusterPlan, n *drivers.Node) {
	if n.MigrationSMBEncrypted || cp.spec.LiveMigration.Encryption != "ipsec" {
		return
	}
	res := "node/" + n.Name
	b.finding(SeverityWarning, RuleLiveMigrationUnencrypted, res, cp.spec.Name,
		fmt.Sprintf("%s: live migration uses the SMB transport, which IPsec cannot protect (SMB Direct bypasses TCP/IP), and SMB encryption is off; turn it on (Set-SmbServerConfiguration -EncryptData $true, or SMB encryption for cluster traffic), or switch the transport to TCPIP or Compression (Set-VMHost -VirtualMachineMigrationPerformanceOption)", res))
}

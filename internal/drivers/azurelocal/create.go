package azurelocal

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
)

// createVM creates an Azure Local VM the way the portal and `az stack-hci-vm
// create --security-type TrustedLaunch` do: the marketplace gallery image on
// the cluster (downloaded when absent), a network interface on the logical
// network, the Arc machine (kind HCI) with tlreconcile's tags from birth,
// then its VM instance with the security profile, hardware and image. Each
// step is idempotent, so an interrupted create is finished by a re-run.
func (c *conn) createVM(ctx context.Context, op drivers.Op) (drivers.Result, error) {
	p := op.Params
	if err := checkCreate(p); err != nil {
		return drivers.Result{}, err
	}
	if done, err := c.alreadyCreated(ctx, op.VM); done || err != nil {
		return drivers.Result{Message: "already created"}, err
	}
	if p.TargetNode != "" {
		// ARM places the VM itself; the node the plan chose must still be
		// able to run it, or the plan's picture of the cluster is stale.
		if err := c.canHost(ctx, p.TargetNode); err != nil {
			return drivers.Result{}, err
		}
	}
	image, err := c.ensureImage(ctx, *p.Image)
	if err != nil {
		return drivers.Result{}, fmt.Errorf("gallery image: %w", err)
	}
	password, err := drivers.ResolveSecret("osProfile.adminPassword", adminPassword(p))
	if err != nil {
		return drivers.Result{}, err
	}
	nic, err := c.ensureNIC(ctx, op.VM, p.Network)
	if err != nil {
		return drivers.Result{}, fmt.Errorf("network interface: %w", err)
	}
	tags, err := tagsWithAnnotations(nil, p.Annotations)
	if err != nil {
		return drivers.Result{}, err
	}
	if _, err := c.arm.putMachine(ctx, op.VM, tags); err != nil {
		return drivers.Result{}, fmt.Errorf("the Arc machine: %w", err)
	}
	v, err := c.arm.putVM(ctx, op.VM, c.vmInstanceFor(op.VM, p, image, nic, password))
	if err != nil {
		c.perf.forgetImage(*p.Image) // it may be the image that is gone: list again next time
		return drivers.Result{}, fmt.Errorf("VM instance: %w", err)
	}
	if p.TargetNode != "" {
		// ARM places a new VM itself; placement.node is honoured by a live
		// migration right after (a no-op when it is there already).
		move := drivers.Op{Kind: drivers.OpMoveVM, Cluster: op.Cluster, VM: op.VM, Params: &drivers.Params{TargetNode: p.TargetNode}}
		if _, err := c.ownerOp(ctx, move); err != nil {
			return drivers.Result{}, fmt.Errorf("created, but not moved to placement.node %s: %w", p.TargetNode, err)
		}
	}
	return drivers.Result{Changed: true, Message: fmt.Sprintf("created through ARM (VM ID %s, %s)", v.Properties.VMID, p.SecurityType)}, nil
}

func checkCreate(p *drivers.Params) error {
	switch {
	case p == nil || p.Image == nil || p.Annotations == nil:
		return fmt.Errorf("create-vm needs params.image and params.annotations: %w", drivers.ErrInvalidArgument)
	case p.Processors <= 0 || p.MemoryMB <= 0:
		return fmt.Errorf("create-vm needs params.processors and params.memory_mb: %w", drivers.ErrInvalidArgument)
	case p.SecurityType == drivers.SecurityTrustedLaunch && p.Generation != 0 && p.Generation != 2:
		return fmt.Errorf("a TrustedLaunch VM is Generation 2, not %d: %w", p.Generation, drivers.ErrPrecondition)
	case p.SecurityType == drivers.SecurityTrustedLaunch && (p.VTPM == nil || !*p.VTPM || p.SecureBoot == nil || !*p.SecureBoot):
		return fmt.Errorf("a TrustedLaunch VM needs the vTPM and Secure Boot on: %w", drivers.ErrInvalidArgument)
	}
	return nil
}

// alreadyCreated: the VM's machine and instance exist. A machine tlreconcile
// does not manage is another VM of that name: refused.
func (c *conn) alreadyCreated(ctx context.Context, name string) (bool, error) {
	m, err := c.arm.getMachine(ctx, name)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if m.Tags[tagManagedBy] != drivers.ManagedBy {
		return false, fmt.Errorf("an Arc machine named %s exists and tlreconcile does not manage it: %w", name, drivers.ErrAlreadyExists)
	}
	v, err := c.arm.getVM(ctx, name)
	switch {
	case isNotFound(err):
		return false, nil // an interrupted create: finish it
	case err != nil:
		return false, err
	}
	// A VM instance whose create ended Failed before the cluster placed a
	// VM (no vmId) is no VM: the create runs again.
	return v.Properties.VMID != "", nil
}

// vmInstanceFor is the VM instance create-vm PUTs; password is the
// resolved admin password ("" none), which travels only in this body.
func (c *conn) vmInstanceFor(name string, p *drivers.Params, image, nic, password string) vmInstance {
	tpm := p.VTPM != nil && *p.VTPM
	sb := p.SecureBoot != nil && *p.SecureBoot
	osp := &osProfile{ComputerName: computerName(name), AdminPassword: password}
	if o := p.OSProfile; o != nil {
		osp.AdminUsername = o.AdminUsername
		if o.ComputerName != "" {
			osp.ComputerName = o.ComputerName
		}
	}
	v := vmInstance{Properties: vmProperties{
		HardwareProfile: &hardwareProfile{VMSize: vmSizeCustom, Processors: p.Processors, MemoryMB: p.MemoryMB},
		NetworkProfile:  &networkProfile{NetworkInterfaces: []resourceRef{{ID: nic}}},
		OSProfile:       osp,
		StorageProfile:  &storageProfile{ImageReference: &resourceRef{ID: image}},
		SecurityProfile: &securityProfile{EnableTPM: &tpm, UefiSettings: &uefiSettings{SecureBootEnabled: &sb}},
	}}
	if p.StoragePath != "" {
		v.Properties.StorageProfile.VMConfigStoragePathID = c.arm.hciPath("storageContainers", p.StoragePath)
	}
	if p.SecurityType == drivers.SecurityTrustedLaunch {
		v.Properties.SecurityProfile.SecurityType = securityTypeTL
	}
	return v
}

func adminPassword(p *drivers.Params) *drivers.SecretRef {
	if p.OSProfile == nil {
		return nil
	}
	return p.OSProfile.AdminPassword
}

// computerName is a NetBIOS-safe guest name from the VM name (at most 15
// characters of letters, digits and hyphens).
func computerName(vm string) string {
	n := strings.Trim(nonNetBIOS.ReplaceAllString(vm, "-"), "-")
	if len(n) > 15 {
		n = strings.TrimRight(n[:15], "-")
	}
	if n == "" {
		n = "vm"
	}
	return n
}

var nonNetBIOS = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// nicName is the network interface create-vm makes for a VM.
func nicName(vm string) string { return vm + "-nic" }

// ensureImage returns the ID of the cluster's gallery image of im, creating
// (downloading) it when the resource group has none.
func (c *conn) ensureImage(ctx context.Context, im drivers.Image) (string, error) {
	if id, ok := c.perf.image(im); ok {
		return id, nil // found by an earlier create on this connection (imagecache.go)
	}
	// Parallel creates of VMs from one image share its download: a second
	// PUT while the first runs would be refused (409, operation in progress).
	c.imageMu.Lock()
	defer c.imageMu.Unlock()
	if id, ok := c.perf.image(im); ok {
		return id, nil // another create found or made it meanwhile
	}
	id, err := c.findOrCreateImage(ctx, im)
	if err == nil {
		c.perf.rememberImage(im, id)
	}
	return id, err
}

func (c *conn) findOrCreateImage(ctx context.Context, im drivers.Image) (string, error) {
	var found string
	if _, err := c.arm.listImages(ctx, func(g galleryImage) error {
		id := g.Properties.Identifier
		if found == "" && id != nil && strings.EqualFold(id.Publisher, im.Publisher) && strings.EqualFold(id.Offer, im.Offer) &&
			strings.EqualFold(id.SKU, im.Sku) && g.Properties.ProvisioningState != provFailed {
			found = g.ID
		}
		return nil
	}); err != nil {
		return "", err
	}
	if found != "" {
		return found, nil
	}
	g, err := c.arm.putImage(ctx, imageName(im), galleryImage{Properties: galleryImageProperties{
		OSType: osTypeWindows, HyperVGeneration: hyperVGenV2,
		Identifier: &imageIdentifier{Publisher: im.Publisher, Offer: im.Offer, SKU: im.Sku},
		Version:    &imageVersion{Name: im.Version},
	}})
	if err != nil {
		return "", err
	}
	return g.ID, nil
}

// imageName names the gallery image tlreconcile creates for im.
func imageName(im drivers.Image) string {
	return strings.ToLower(strings.Trim(nonNetBIOS.ReplaceAllString(im.Offer+"-"+im.Sku, "-"), "-"))
}

// ensureNIC returns the ID of the VM's network interface, creating it on the
// VM's logical network (default: the cluster's) when absent.
func (c *conn) ensureNIC(ctx context.Context, vm string, net *drivers.Network) (string, error) {
	if n, err := c.arm.getNIC(ctx, nicName(vm)); err == nil {
		return n.ID, nil
	} else if !isNotFound(err) {
		return "", err
	}
	lnet, ip := c.ep.LogicalNetwork, ""
	if net != nil {
		lnet, ip = net.LogicalNetwork, net.IPAddress
	}
	if lnet == "" {
		return "", fmt.Errorf("no logical network to attach the VM to: declare spec.network.logicalNetwork on the VM or options.logicalNetwork on the Cluster: %w", drivers.ErrPrecondition)
	}
	n, err := c.arm.putNIC(ctx, nicName(vm), networkInterface{Properties: nicProperties{IPConfigurations: []ipConfiguration{{
		Name: "ipconfig", Properties: ipConfigurationProperties{PrivateIPAddress: ip, Subnet: &resourceRef{ID: c.arm.hciPath("logicalNetworks", lnet)}},
	}}}})
	if err != nil {
		return "", err
	}
	return n.ID, nil
}

// enableMigrationEncryption encrypts live migration to and from node
// without ever leaving two nodes unable to migrate between them: every node
// first accepts encrypted traffic (phase request), then node requires it.
func (c *conn) enableMigrationEncryption(ctx context.Context, node string) (drivers.Result, error) {
	target, err := c.migration(ctx, node)
	if err != nil {
		return drivers.Result{}, err
	}
	if target.Encrypted() {
		return drivers.Result{Message: "live migration already encrypted"}, nil
	}
	for _, n := range c.ref.Nodes {
		m, err := c.migration(ctx, n)
		if err != nil {
			return drivers.Result{}, fmt.Errorf("node/%s must accept encrypted live migration before node/%s requires it: %w", n, node, err)
		}
		if _, err := c.nodeOp(ctx, n, azlocal.ScriptEnableMigrationEncryption, azlocal.EncryptionParams{Transport: m.Transport, Phase: azlocal.PhaseRequest}); err != nil {
			return drivers.Result{}, fmt.Errorf("node/%s: %w", n, err)
		}
	}
	return c.nodeOp(ctx, node, azlocal.ScriptEnableMigrationEncryption, azlocal.EncryptionParams{Transport: target.Transport, Phase: azlocal.PhaseRequire})
}

// migration reads node's live-migration transport and protection.
func (c *conn) migration(ctx context.Context, node string) (azlocal.MigrationReport, error) {
	s, err := c.node(node)
	if err != nil {
		return azlocal.MigrationReport{}, err
	}
	var r azlocal.NodeReport
	if err := s.Run(ctx, azlocal.ScriptObserveNode, azlocal.ObserveParams{Infrastructure: c.infrastructure(), NoVMs: true}, &r); err != nil {
		return azlocal.MigrationReport{}, err
	}
	return r.LiveMigration, nil
}

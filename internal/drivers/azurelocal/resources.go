package azurelocal

import (
	"context"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// The ARM calls of the driver, one per operation of the spec it uses. Each
// returns the resource as ARM has it after the call (long-running operations
// are followed to their end) or an error that unwraps to a driver sentinel.

func (c *armClient) getMachine(ctx context.Context, name string) (machine, error) {
	var m machine
	err := c.get(ctx, c.machinePath(name), &m)
	return m, err
}

// listMachines walks Machines_ListByResourceGroup, page by page.
func (c *armClient) listMachines(ctx context.Context, each func(machine) error) (int, error) {
	return list(ctx, c, c.groupPath()+"/providers/"+machinesType, each)
}

// putMachine creates (or updates) the Arc machine of an Azure Local VM:
// kind HCI, in the cluster's region, with tags.
func (c *armClient) putMachine(ctx context.Context, name string, tags map[string]string) (machine, error) {
	body := machine{Location: c.cfg.Location, Kind: kindHCI, Tags: tags}
	resp, err := c.do(ctx, http.MethodPut, c.machinePath(name), body, http.StatusOK, http.StatusCreated)
	if err != nil {
		return machine{}, err
	}
	var m machine
	return m, decode(resp, &m)
}

// setMachineTags replaces the machine's tags (Machines_Update).
func (c *armClient) setMachineTags(ctx context.Context, name string, tags map[string]string) (machine, error) {
	if tags == nil {
		tags = map[string]string{}
	}
	resp, err := c.do(ctx, http.MethodPatch, c.machinePath(name), machineUpdate{Tags: tags}, http.StatusOK)
	if err != nil {
		return machine{}, err
	}
	var m machine
	return m, decode(resp, &m)
}

func (c *armClient) deleteMachine(ctx context.Context, name string) error {
	resp, err := c.do(ctx, http.MethodDelete, c.machinePath(name), nil, http.StatusOK, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		return err
	}
	return decode(resp, nil)
}

func (c *armClient) getVM(ctx context.Context, name string) (vmInstance, error) {
	var v vmInstance
	err := c.get(ctx, c.vmPath(name), &v)
	return v, err
}

// putVM creates the VM instance of machine name and waits for it.
func (c *armClient) putVM(ctx context.Context, name string, v vmInstance) (vmInstance, error) {
	v.ExtendedLocation = c.extendedLocation()
	resp, err := c.do(ctx, http.MethodPut, c.vmPath(name), v, http.StatusOK, http.StatusCreated)
	if err != nil {
		return vmInstance{}, err
	}
	return wait[vmInstance](ctx, c, resp, runtime.FinalStateViaAzureAsyncOp)
}

// setHardware changes CPU count and memory (VirtualMachineInstances_Update).
func (c *armClient) setHardware(ctx context.Context, name string, hw hardwareProfile) (vmInstance, error) {
	body := vmInstanceUpdate{Properties: vmUpdateProperties{HardwareProfile: &hw}}
	resp, err := c.do(ctx, http.MethodPatch, c.vmPath(name), body, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return vmInstance{}, err
	}
	return wait[vmInstance](ctx, c, resp, runtime.FinalStateViaAzureAsyncOp)
}

// Power actions of a VM instance.
const (
	actionStart   = "start"
	actionStop    = "stop"
	actionRestart = "restart"
)

// power runs start, stop or restart and waits for it.
func (c *armClient) power(ctx context.Context, name, action string) (vmInstance, error) {
	resp, err := c.do(ctx, http.MethodPost, c.vmPath(name)+"/"+action, nil, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return vmInstance{}, err
	}
	return wait[vmInstance](ctx, c, resp, runtime.FinalStateViaLocation)
}

// deleteVM deletes the VM instance (its Hyper-V VM, files and key) and waits.
func (c *armClient) deleteVM(ctx context.Context, name string) error {
	resp, err := c.do(ctx, http.MethodDelete, c.vmPath(name), nil, http.StatusOK, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNoContent {
		return decode(resp, nil)
	}
	_, err = wait[struct{}](ctx, c, resp, runtime.FinalStateViaAzureAsyncOp)
	return err
}

func (c *armClient) getImage(ctx context.Context, name string) (galleryImage, error) {
	var g galleryImage
	err := c.get(ctx, c.hciPath("marketplaceGalleryImages", name), &g)
	return g, err
}

// listImages walks MarketplaceGalleryImages_List of the resource group.
func (c *armClient) listImages(ctx context.Context, each func(galleryImage) error) (int, error) {
	return list(ctx, c, c.groupPath()+"/providers/Microsoft.AzureStackHCI/marketplaceGalleryImages", each)
}

// putImage creates a marketplace gallery image (its download) and waits.
func (c *armClient) putImage(ctx context.Context, name string, g galleryImage) (galleryImage, error) {
	g.Location, g.ExtendedLocation = c.cfg.Location, c.extendedLocation()
	resp, err := c.do(ctx, http.MethodPut, c.hciPath("marketplaceGalleryImages", name), g, http.StatusOK, http.StatusCreated)
	if err != nil {
		return galleryImage{}, err
	}
	return wait[galleryImage](ctx, c, resp, runtime.FinalStateViaAzureAsyncOp)
}

func (c *armClient) getNIC(ctx context.Context, name string) (networkInterface, error) {
	var n networkInterface
	err := c.get(ctx, c.hciPath("networkInterfaces", name), &n)
	return n, err
}

// putNIC creates a network interface on a logical network and waits.
func (c *armClient) putNIC(ctx context.Context, name string, n networkInterface) (networkInterface, error) {
	n.Location, n.ExtendedLocation = c.cfg.Location, c.extendedLocation()
	resp, err := c.do(ctx, http.MethodPut, c.hciPath("networkInterfaces", name), n, http.StatusOK, http.StatusCreated)
	if err != nil {
		return networkInterface{}, err
	}
	return wait[networkInterface](ctx, c, resp, runtime.FinalStateViaAzureAsyncOp)
}

func (c *armClient) deleteNIC(ctx context.Context, name string) error {
	resp, err := c.do(ctx, http.MethodDelete, c.hciPath("networkInterfaces", name), nil, http.StatusOK, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNoContent {
		return decode(resp, nil)
	}
	_, err = wait[struct{}](ctx, c, resp, runtime.FinalStateViaAzureAsyncOp)
	return err
}

func (c *armClient) extendedLocation() *extendedLocation {
	return &extendedLocation{Name: c.cfg.CustomLocation, Type: customLocType}
}

package arm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// vmiProps is the typed view of the virtual machine instance properties the
// platform rules read.
type vmiProps struct {
	HardwareProfile *struct {
		VMSize     string `json:"vmSize"`
		Processors int    `json:"processors"`
		MemoryMB   int64  `json:"memoryMB"`
	} `json:"hardwareProfile"`
	SecurityProfile *struct {
		EnableTPM    *bool `json:"enableTPM"`
		UefiSettings *struct {
			SecureBootEnabled *bool `json:"secureBootEnabled"`
		} `json:"uefiSettings"`
		SecurityType string `json:"securityType"`
	} `json:"securityProfile"`
	StorageProfile *struct {
		ImageReference *struct {
			ID string `json:"id"`
		} `json:"imageReference"`
		VMConfigStoragePathID string `json:"vmConfigStoragePathId"`
	} `json:"storageProfile"`
	NetworkProfile *struct {
		NetworkInterfaces []struct {
			ID string `json:"id"`
		} `json:"networkInterfaces"`
	} `json:"networkProfile"`
	OsProfile *struct {
		ComputerName string `json:"computerName"`
	} `json:"osProfile"`
	VMID string `json:"vmId"`
}

// security is the profile with the spec's defaults (false) applied.
func (p vmiProps) security() Security {
	var sec Security
	if sp := p.SecurityProfile; sp != nil {
		sec.Type = sp.SecurityType
		sec.TPM = sp.EnableTPM != nil && *sp.EnableTPM
		sec.SecureBoot = sp.UefiSettings != nil && sp.UefiSettings.SecureBootEnabled != nil && *sp.UefiSettings.SecureBootEnabled
	}
	return sec
}

func (p vmiProps) imageID() string {
	if p.StorageProfile == nil || p.StorageProfile.ImageReference == nil {
		return ""
	}
	return p.StorageProfile.ImageReference.ID
}

func (p vmiProps) hardware() Hardware {
	if p.HardwareProfile == nil {
		return Hardware{}
	}
	return Hardware{VMSize: p.HardwareProfile.VMSize, Processors: p.HardwareProfile.Processors, MemoryMB: p.HardwareProfile.MemoryMB}
}

// validateVMI applies DESIGN §1.1 to a PUT of virtualMachineInstances/default.
func validateVMI(s *Server, c *call, res *resource, old *record) *armError {
	machine, err := s.store.get(c.parentID())
	if err != nil {
		return asARM(err)
	}
	if !eq(machine.Resource.Kind, "HCI") {
		return badRequest("InvalidParentResourceKind", "the Arc machine %s is of kind %q: a virtual machine instance needs a machine of kind HCI", machine.Resource.ID, machine.Resource.Kind)
	}
	if err := validateAzureLocal(s, c, res, old); err != nil {
		return err
	}
	var p vmiProps
	if err := decodeProps(res.Properties, &p); err != nil {
		return err
	}
	if err := checkSecurity(p.security()); err != nil {
		return err
	}
	if old != nil {
		if err := checkFixedAtCreate(p, old); err != nil {
			return err
		}
	} else if _, err := s.vmImage(p, res.ExtendedLocation); err != nil {
		return err
	}
	if err := s.checkVMReferences(c, p); err != nil {
		return err
	}
	redact(res.Properties, "osProfile", "adminPassword")
	return nil
}

// checkSecurity: "EnableTPM and SecureBootEnabled must be set to true for
// SecurityType to function" (the spec), and trusted launch is exactly that.
func checkSecurity(sec Security) *armError {
	switch sec.Type {
	case "":
		return nil
	case "TrustedLaunch", "ConfidentialVM":
		if !sec.TPM || !sec.SecureBoot {
			return badRequest("InvalidSecurityProfile", "securityType %s needs securityProfile.enableTPM and securityProfile.uefiSettings.secureBootEnabled set to true", sec.Type)
		}
		return nil
	}
	return badRequest("InvalidSecurityProfile", "securityType %q is not supported: use TrustedLaunch", sec.Type)
}

// checkFixedAtCreate refuses a PUT that changes what the platform fixes when
// the instance is created: the security profile and the image.
func checkFixedAtCreate(p vmiProps, old *record) *armError {
	var was vmiProps
	if err := decodeProps(old.Resource.Properties, &was); err != nil {
		return err
	}
	if p.security() != was.security() {
		return propertyChange("securityProfile",
			fmt.Sprintf("the security profile of a virtual machine instance is fixed at creation (it is %+v, the request asks for %+v)", was.security(), p.security()))
	}
	if p.imageID() != "" && !eq(p.imageID(), was.imageID()) {
		return propertyChange("storageProfile.imageReference", "a virtual machine instance keeps the image it was created from")
	}
	return nil
}

// vmImage resolves the instance's image: an existing, downloaded marketplace
// gallery image of the built-in catalog, in the instance's custom location.
func (s *Server) vmImage(p vmiProps, el *extendedLocation) (ImageIdentifier, *armError) {
	id := p.imageID()
	if id == "" {
		return ImageIdentifier{}, badRequest("InvalidImageReference", "properties.storageProfile.imageReference.id is required: the ID of a marketplace gallery image")
	}
	if !strings.Contains(strings.ToLower(id), "/providers/microsoft.azurestackhci/marketplacegalleryimages/") {
		return ImageIdentifier{}, badRequest("UnsupportedImage", "the image %s is not a marketplace gallery image: trusted launch on Azure Local supports Azure Marketplace images only", id)
	}
	img, err := s.lookup(kindImage, "marketplace gallery image", id)
	if err != nil {
		return ImageIdentifier{}, err
	}
	var ip imageProps
	if err := decodeProps(img.Resource.Properties, &ip); err != nil {
		return ImageIdentifier{}, err
	}
	if ip.Identifier == nil || !s.inCatalog(ip.id()) {
		return ImageIdentifier{}, badRequest("UnsupportedImage", "the image %s is not one of the images trusted launch supports (the built-in catalog)", id)
	}
	pct, _ := statusOf(img)["progressPercentage"].(float64)
	if img.Resource.Properties["provisioningState"] != opSucceeded || pct < 100 {
		return ImageIdentifier{}, badRequest("ImageNotDownloaded", "the marketplace gallery image %s is not downloaded (provisioningState %v): wait for its download to succeed", id, img.Resource.Properties["provisioningState"])
	}
	if el != nil && img.Resource.ExtendedLocation != nil && !eq(img.Resource.ExtendedLocation.Name, el.Name) {
		return ImageIdentifier{}, badRequest("InvalidExtendedLocation", "the image %s is in custom location %s, not %s", id, img.Resource.ExtendedLocation.Name, el.Name)
	}
	return ip.id(), nil
}

// checkVMReferences: network interfaces (an ID, or a name in the machine's
// resource group as Microsoft's example uses) and the storage container must exist.
func (s *Server) checkVMReferences(c *call, p vmiProps) *armError {
	if p.NetworkProfile != nil {
		for _, nic := range p.NetworkProfile.NetworkInterfaces {
			if _, err := s.lookup(kindNIC, "network interface", c.nicID(nic.ID)); err != nil {
				return err
			}
		}
	}
	if p.StorageProfile != nil && p.StorageProfile.VMConfigStoragePathID != "" {
		if _, err := s.lookup(kindStorageContainer, "storage container", p.StorageProfile.VMConfigStoragePathID); err != nil {
			return err
		}
	}
	return nil
}

func (c *call) nicID(ref string) string {
	if strings.HasPrefix(ref, "/") {
		return ref
	}
	return c.groupID() + "/providers/" + kindNIC.typ + "/" + ref
}

// redact removes a secret (properties[obj][field]) so it is never stored or
// returned, as ARM never returns it.
func redact(props map[string]any, obj, field string) {
	if m, ok := props[obj].(map[string]any); ok {
		delete(m, field)
	}
}

// finishVMI creates the VM on the cluster (first completion) or applies the
// hardware profile to it (an update).
func finishVMI(ctx context.Context, s *Server, rec *record, op *operation) error {
	var p vmiProps
	if err := decodeProps(rec.Resource.Properties, &p); err != nil {
		return err
	}
	if p.VMID != "" {
		return s.host.SetHardware(ctx, p.VMID, p.hardware())
	}
	img, aerr := s.vmImage(p, rec.Resource.ExtendedLocation)
	if aerr != nil {
		return aerr
	}
	c := &call{sub: op.Sub, rg: op.RG}
	req := PlaceRequest{MachineID: strings.TrimSuffix(rec.Resource.ID, "/providers/"+kindVMI.typ+"/default"),
		CustomLocation: rec.Resource.ExtendedLocation.Name, Image: img, Hardware: p.hardware(), Security: p.security()}
	if p.OsProfile != nil {
		req.ComputerName = p.OsProfile.ComputerName
	}
	if p.NetworkProfile != nil {
		for _, nic := range p.NetworkProfile.NetworkInterfaces {
			req.NetworkIDs = append(req.NetworkIDs, c.nicID(nic.ID))
		}
	}
	pl, err := s.host.PlaceVM(ctx, req)
	if err != nil {
		return err
	}
	rec.Node = pl.Node
	rec.Resource.Properties["vmId"] = pl.VMID
	statusOf(rec)["powerState"] = "Running"
	return nil
}

// deleteVMI deletes the instance's VM from the cluster. A VM the cluster no
// longer has is deleted already: a delete the Host finished before a kill
// is repeated by the next reader (see operation).
func deleteVMI(ctx context.Context, s *Server, rec *record) error {
	if id, _ := rec.Resource.Properties["vmId"].(string); id != "" {
		if err := s.host.DeleteVM(ctx, id); err != nil && !errors.Is(err, ErrNoVM) {
			return err
		}
	}
	return nil
}

// vmiPower carries out a start, stop or restart on the cluster.
func vmiPower(ctx context.Context, s *Server, rec *record, action string) error {
	id, _ := rec.Resource.Properties["vmId"].(string)
	var err error
	state := "Running"
	switch action {
	case actStart:
		err = s.host.StartVM(ctx, id)
	case actStop:
		err, state = s.host.StopVM(ctx, id), "Stopped"
	case actRestart:
		err = s.host.RestartVM(ctx, id)
	}
	if err != nil {
		state = "Unknown"
	}
	statusOf(rec)["powerState"] = state
	return err
}

// vmiAction is POST .../virtualMachineInstances/default/{start,stop,restart}:
// 202 with Location and Azure-AsyncOperation.
func (s *Server) vmiAction(c *call) error {
	if _, err := s.checkParent(c); err != nil {
		return err
	}
	rec, unlock, err := s.lockedCurrent(c)
	if err != nil {
		return err
	}
	defer unlock()
	if rec == nil {
		return s.notFound(c)
	}
	if id, _ := rec.Resource.Properties["vmId"].(string); id == "" {
		return conflict("the virtual machine instance %s has no VM on the cluster (its create did not succeed): delete it and create it again", rec.Resource.ID)
	}
	statusOf(rec)["powerState"] = map[string]string{actStart: "Starting", actStop: "Stopping", actRestart: "Starting"}[c.action]
	rec.Resource.Properties["provisioningState"] = "Accepted"
	return s.respondAccepted(c, rec, c.action, http.StatusAccepted)
}

// vmiUpdate is the spec's VirtualMachineInstanceUpdateRequest. Anything else
// in properties (securityProfile above all) is refused: the update model has
// no place for it.
type vmiUpdate struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Identity   json.RawMessage            `json:"identity"`
}

var vmiUpdatable = []string{"hardwareProfile", "storageProfile", "networkProfile", "osProfile"}

// patchVMI is PATCH .../virtualMachineInstances/default: a JSON merge of the
// update properties, answered 200 with Azure-AsyncOperation.
func (s *Server) patchVMI(c *call) error {
	var upd vmiUpdate
	if err := decodeBody(c, &upd); err != nil {
		return err
	}
	for k := range upd.Properties {
		if !containsFold(vmiUpdatable, k) {
			return propertyChange("properties."+k, "the virtual machine instance update model has only "+strings.Join(vmiUpdatable, ", ")+" (the security profile is fixed at creation)")
		}
	}
	if _, err := s.checkParent(c); err != nil {
		return err
	}
	rec, unlock, err := s.lockedCurrent(c)
	if err != nil {
		return err
	}
	defer unlock()
	if rec == nil {
		return s.notFound(c)
	}
	var patch map[string]any
	b, _ := json.Marshal(upd.Properties)
	_ = json.Unmarshal(b, &patch)
	if sp, ok := patch["storageProfile"].(map[string]any); ok && sp["imageReference"] != nil {
		return propertyChange("storageProfile.imageReference", "a virtual machine instance keeps the image it was created from")
	}
	mergePatch(rec.Resource.Properties, patch)
	redact(rec.Resource.Properties, "osProfile", "adminPassword")
	var p vmiProps
	if aerr := decodeProps(rec.Resource.Properties, &p); aerr != nil {
		return aerr
	}
	if aerr := s.checkVMReferences(c, p); aerr != nil {
		return aerr
	}
	rec.Resource.Properties["provisioningState"] = "Accepted"
	rec.Resource.SystemData.LastModifiedBy, rec.Resource.SystemData.LastModifiedAt = c.claims.ClientID, time.Now().UTC()
	return s.respondAccepted(c, rec, actUpdate, http.StatusOK)
}

// mergePatch applies patch to dst as RFC 7386 JSON merge patch does.
func mergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		switch v := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			d, ok := dst[k].(map[string]any)
			if !ok {
				d = map[string]any{}
				dst[k] = d
			}
			mergePatch(d, v)
		default:
			dst[k] = v
		}
	}
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if eq(l, s) {
			return true
		}
	}
	return false
}

package arm

import (
	"context"
	"net/http"
	"strings"
)

// kind is one resource type the sim serves and the rules that differ
// between types; the HTTP flow around them (locks, LROs, bodies) is shared.
type kind struct {
	segment   string // the path segment, e.g. logicalNetworks
	typ       string // the ARM type, e.g. Microsoft.AzureStackHCI/logicalNetworks
	opPrefix  string // the spec's operationId prefix, e.g. LogicalNetworks
	hasStatus bool   // properties.status with provisioningStatus (the Azure Local types)
	tracked   bool   // a tracked resource: location required, tags
	readOnly  []string
}

// rules are the hooks of one kind. They live apart from the kind values
// (rulesOf) because the rules refer back to the kinds.
type rules struct {
	// validate checks a PUT body against the platform's rules, old being
	// the resource it replaces (nil on create), and may normalise res.
	validate func(s *Server, c *call, res *resource, old *record) *armError
	// finish completes a create or update when its operation is due.
	finish func(ctx context.Context, s *Server, rec *record, op *operation) error
	// onDelete runs before a delete removes the resource.
	onDelete func(ctx context.Context, s *Server, rec *record) error
}

func rulesOf(k *kind) rules {
	switch k {
	case kindMachine:
		return rules{validate: validateMachine}
	case kindRunCommand:
		return rules{validate: validateRunCommand, finish: finishRunCommand}
	case kindVMI:
		return rules{validate: validateVMI, finish: finishVMI, onDelete: deleteVMI}
	case kindImage:
		return rules{validate: validateImage, finish: finishImage}
	case kindNIC:
		return rules{validate: validateNIC, finish: finishNIC}
	case kindStorageContainer:
		return rules{validate: validateStorageContainer, finish: finishStorageContainer}
	}
	return rules{validate: validateAzureLocal, finish: finishPlain}
}

var (
	kindMachine = &kind{segment: "machines", typ: nsCompute + "/machines", opPrefix: "Machines", tracked: true,
		readOnly: []string{"provisioningState", "status", "lastStatusChange", "errorDetails", "agentVersion", "displayName",
			"machineFqdn", "osName", "osVersion", "vmUuid", "osSku", "osEdition", "domainName", "adFqdn", "dnsFqdn"}}
	kindRunCommand = &kind{segment: "runCommands", typ: nsCompute + "/machines/runCommands", opPrefix: "MachineRunCommands",
		tracked: true, readOnly: []string{"provisioningState", "instanceView"}}
	kindVMI = &kind{segment: "virtualMachineInstances", typ: nsHCI + "/virtualMachineInstances", opPrefix: "VirtualMachineInstances",
		hasStatus: true, readOnly: []string{"provisioningState", "status", "instanceView", "vmId", "guestAgentInstallStatus"}}
	kindImage = &kind{segment: "marketplaceGalleryImages", typ: nsHCI + "/marketplaceGalleryImages", opPrefix: "MarketplaceGalleryImages",
		hasStatus: true, tracked: true, readOnly: []string{"provisioningState", "status"}}
	kindLogicalNetwork = &kind{segment: "logicalNetworks", typ: nsHCI + "/logicalNetworks", opPrefix: "LogicalNetworks",
		hasStatus: true, tracked: true, readOnly: []string{"provisioningState", "status"}}
	kindNIC = &kind{segment: "networkInterfaces", typ: nsHCI + "/networkInterfaces", opPrefix: "NetworkInterfaces",
		hasStatus: true, tracked: true, readOnly: []string{"provisioningState", "status"}}
	kindStorageContainer = &kind{segment: "storageContainers", typ: nsHCI + "/storageContainers", opPrefix: "StorageContainers",
		hasStatus: true, tracked: true, readOnly: []string{"provisioningState", "status"}}
)

func kinds() []*kind {
	return []*kind{kindMachine, kindRunCommand, kindVMI, kindImage, kindLogicalNetwork, kindNIC, kindStorageContainer}
}

// hciKind is the Microsoft.AzureStackHCI type of a path segment, or nil.
func hciKind(segment string) *kind {
	for _, k := range kinds() {
		if strings.HasPrefix(k.typ, nsHCI+"/") && eq(k.segment, segment) {
			return k
		}
	}
	return nil
}

func kindBySegment(segment string) *kind {
	for _, k := range kinds() {
		if eq(k.segment, segment) {
			return k
		}
	}
	return kindMachine
}

// setOperation names the call after the spec's operationId and refuses the
// methods the sim does not serve on the path.
func (c *call) setOperation(method string) *armError {
	k := c.kind
	suffix := ""
	switch {
	case c.action != "":
		if c.action != actStart && c.action != actStop && c.action != actRestart {
			return errf(http.StatusNotFound, "InvalidResourceType", "a virtual machine instance has no action %q: use start, stop or restart", c.action)
		}
		suffix = strings.ToUpper(c.action[:1]) + c.action[1:]
		if err := methodOnly(method, http.MethodPost); err != nil {
			return err
		}
	case c.name == "":
		suffix = "List"
		if k == kindMachine {
			suffix = "ListByResourceGroup"
		}
		if err := methodOnly(method, http.MethodGet); err != nil {
			return err
		}
	default:
		// Every served type has its PATCH (*_Update) but run commands,
		// whose MachineRunCommands_Update the sim does not serve.
		allowed := []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete}
		if k == kindRunCommand {
			allowed = []string{http.MethodGet, http.MethodPut, http.MethodDelete}
		}
		if err := methodOnly(method, allowed...); err != nil {
			return err
		}
		suffix = map[string]string{http.MethodGet: "Get", http.MethodPut: "CreateOrUpdate", http.MethodPatch: "Update", http.MethodDelete: "Delete"}[method]
	}
	c.operation = k.opPrefix + "_" + suffix
	return nil
}

// ids of the call's resource and of its collection.
func (c *call) groupID() string {
	return "/subscriptions/" + c.sub + "/resourceGroups/" + c.rg
}

func (c *call) machineID(name string) string {
	return c.groupID() + "/providers/" + nsCompute + "/machines/" + name
}

func (c *call) collectionID() string {
	switch c.kind {
	case kindMachine:
		return c.groupID() + "/providers/" + nsCompute + "/machines"
	case kindRunCommand:
		return c.machineID(c.machine) + "/runCommands"
	case kindVMI:
		return c.machineID(c.machine) + "/providers/" + nsHCI + "/virtualMachineInstances"
	}
	return c.groupID() + "/providers/" + c.kind.typ
}

func (c *call) resourceID() string { return c.collectionID() + "/" + c.name }

// parentID is the Arc machine of a nested resource, or "".
func (c *call) parentID() string {
	if c.kind == kindRunCommand || c.kind == kindVMI {
		return c.machineID(c.machine)
	}
	return ""
}

package azurelocal

// The ARM resources the driver reads and writes, as Microsoft's
// specification defines them (StackHCIVM 2024-01-01, HybridCompute
// 2025-01-13; ../shared/testdata/azure-rest-api-specs). Only the fields the
// driver uses are declared; unknown fields in answers are ignored, and
// requests carry nothing the spec does not define (tests validate every
// request against the spec).

// API versions of the two resource providers.
const (
	stackHCIAPIVersion      = "2024-01-01"
	hybridComputeAPIVersion = "2025-01-13"
)

// Resource types and fixed names.
const (
	machinesType     = "Microsoft.HybridCompute/machines"
	vmInstancePath   = "/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default"
	kindHCI          = "HCI"
	customLocType    = "CustomLocation"
	securityTypeTL   = "TrustedLaunch"
	osTypeWindows    = "Windows"
	osTypeLinux      = "Linux"
	hyperVGenV2      = "V2"
	vmSizeCustom     = "Custom"
	provSucceeded    = "Succeeded"
	provFailed       = "Failed"
	powerRunning     = "Running"
	powerStopped     = "Stopped"
	powerDeallocated = "Deallocated"
)

// extendedLocation places an Azure Local resource on a cluster.
type extendedLocation struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// machine is an Arc machine (Microsoft.HybridCompute/machines), kind HCI for
// an Azure Local VM.
type machine struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Location   string            `json:"location"`
	Kind       string            `json:"kind,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties machineProperties `json:"properties"`
}

type machineProperties struct {
	ProvisioningState string `json:"provisioningState,omitempty"`
	Status            string `json:"status,omitempty"`
	VMID              string `json:"vmId,omitempty"`
}

// machineUpdate is the PATCH body of a machine: tags only, as the driver
// uses it.
type machineUpdate struct {
	Tags map[string]string `json:"tags"`
}

// vmInstance is Microsoft.AzureStackHCI/virtualMachineInstances/default, the
// extension resource of an Arc machine that is the VM.
type vmInstance struct {
	ID               string            `json:"id,omitempty"`
	Name             string            `json:"name,omitempty"`
	Type             string            `json:"type,omitempty"`
	ExtendedLocation *extendedLocation `json:"extendedLocation,omitempty"`
	Properties       vmProperties      `json:"properties"`
}

type vmProperties struct {
	HardwareProfile   *hardwareProfile `json:"hardwareProfile,omitempty"`
	NetworkProfile    *networkProfile  `json:"networkProfile,omitempty"`
	OSProfile         *osProfile       `json:"osProfile,omitempty"`
	SecurityProfile   *securityProfile `json:"securityProfile,omitempty"`
	StorageProfile    *storageProfile  `json:"storageProfile,omitempty"`
	ProvisioningState string           `json:"provisioningState,omitempty"`
	Status            *vmStatus        `json:"status,omitempty"`
	VMID              string           `json:"vmId,omitempty"`
}

type hardwareProfile struct {
	VMSize     string `json:"vmSize,omitempty"`
	Processors int    `json:"processors,omitempty"`
	MemoryMB   int64  `json:"memoryMB,omitempty"`
}

type networkProfile struct {
	NetworkInterfaces []resourceRef `json:"networkInterfaces"`
}

type resourceRef struct {
	ID string `json:"id"`
}

// osProfile carries the admin password: AdminPassword is x-ms-secret in the
// spec, never returned by ARM, and never logged or stored by tlreconcile (it
// is read from its reference at the moment of the create request).
type osProfile struct {
	AdminUsername        string                `json:"adminUsername,omitempty"`
	AdminPassword        string                `json:"adminPassword,omitempty"`
	ComputerName         string                `json:"computerName,omitempty"`
	WindowsConfiguration *windowsConfiguration `json:"windowsConfiguration,omitempty"`
	LinuxConfiguration   *linuxConfiguration   `json:"linuxConfiguration,omitempty"`
}

type windowsConfiguration struct {
	ProvisionVMAgent       *bool `json:"provisionVMAgent,omitempty"`
	ProvisionVMConfigAgent *bool `json:"provisionVMConfigAgent,omitempty"`
}

type linuxConfiguration struct {
	ProvisionVMAgent       *bool `json:"provisionVMAgent,omitempty"`
	ProvisionVMConfigAgent *bool `json:"provisionVMConfigAgent,omitempty"`
}

type securityProfile struct {
	EnableTPM    *bool         `json:"enableTPM,omitempty"`
	UefiSettings *uefiSettings `json:"uefiSettings,omitempty"`
	SecurityType string        `json:"securityType,omitempty"`
}

type uefiSettings struct {
	SecureBootEnabled *bool `json:"secureBootEnabled,omitempty"`
}

type storageProfile struct {
	ImageReference        *resourceRef `json:"imageReference,omitempty"`
	VMConfigStoragePathID string       `json:"vmConfigStoragePathId,omitempty"`
}

type vmStatus struct {
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	PowerState   string `json:"powerState,omitempty"`
}

// vmInstanceUpdate is the PATCH body of a VM instance: the hardware profile
// (the update model has no securityProfile: it is fixed at create).
type vmInstanceUpdate struct {
	Properties vmUpdateProperties `json:"properties"`
}

type vmUpdateProperties struct {
	HardwareProfile *hardwareProfile `json:"hardwareProfile,omitempty"`
}

// galleryImage is a marketplace gallery image on a cluster.
type galleryImage struct {
	ID               string                 `json:"id,omitempty"`
	Name             string                 `json:"name,omitempty"`
	Location         string                 `json:"location"`
	ExtendedLocation *extendedLocation      `json:"extendedLocation,omitempty"`
	Tags             map[string]string      `json:"tags,omitempty"`
	Properties       galleryImageProperties `json:"properties"`
}

type galleryImageProperties struct {
	OSType            string              `json:"osType"`
	HyperVGeneration  string              `json:"hyperVGeneration,omitempty"`
	Identifier        *imageIdentifier    `json:"identifier,omitempty"`
	Version           *imageVersion       `json:"version,omitempty"`
	ProvisioningState string              `json:"provisioningState,omitempty"`
	Status            *galleryImageStatus `json:"status,omitempty"`
}

type imageIdentifier struct {
	Publisher string `json:"publisher"`
	Offer     string `json:"offer"`
	SKU       string `json:"sku"`
}

type imageVersion struct {
	Name string `json:"name,omitempty"`
}

type galleryImageStatus struct {
	ErrorCode          string          `json:"errorCode,omitempty"`
	ErrorMessage       string          `json:"errorMessage,omitempty"`
	DownloadStatus     *downloadStatus `json:"downloadStatus,omitempty"`
	ProgressPercentage int64           `json:"progressPercentage,omitempty"`
}

type downloadStatus struct {
	DownloadSizeInMB int64 `json:"downloadSizeInMB,omitempty"`
}

// networkInterface is a NIC on a logical network.
type networkInterface struct {
	ID               string            `json:"id,omitempty"`
	Name             string            `json:"name,omitempty"`
	Location         string            `json:"location"`
	ExtendedLocation *extendedLocation `json:"extendedLocation,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	Properties       nicProperties     `json:"properties"`
}

type nicProperties struct {
	IPConfigurations  []ipConfiguration `json:"ipConfigurations,omitempty"`
	ProvisioningState string            `json:"provisioningState,omitempty"`
}

type ipConfiguration struct {
	Name       string                    `json:"name,omitempty"`
	Properties ipConfigurationProperties `json:"properties"`
}

type ipConfigurationProperties struct {
	PrivateIPAddress string       `json:"privateIPAddress,omitempty"`
	Subnet           *resourceRef `json:"subnet,omitempty"`
}

// page is one page of an ARM list.
type page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

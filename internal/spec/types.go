package spec

// APIVersion is the only apiVersion this release reads.
const APIVersion = "tlreconcile/v1alpha1"

// Kind names a desired-state document type.
type Kind string

// The document kinds of DESIGN §3.
const (
	KindCluster         Kind = "Cluster"
	KindTrustedLaunchVM Kind = "TrustedLaunchVM"
	KindImageCatalog    Kind = "ImageCatalog"
)

// Security types a VM may be created with. The type is fixed at creation:
// changing it is a replace.
const (
	SecurityTrustedLaunch = "TrustedLaunch"
	SecurityStandard      = "Standard"
)

// Secure Boot templates Hyper-V knows (Set-VMFirmware -SecureBootTemplate).
const (
	TemplateMicrosoftWindows     = "MicrosoftWindows"
	TemplateMicrosoftUEFICA      = "MicrosoftUEFICertificateAuthority"
	TemplateOpenSourceShieldedVM = "OpenSourceShieldedVM"
)

// Power states a spec may ask for.
const (
	PowerRunning = "Running"
	PowerOff     = "Off"
)

// Pos is where a value was written: file, 1-based line and column.
type Pos struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// Desired is everything the YAML files declare, after defaults, in a stable
// order: clusters and VMs sorted by (cluster, name).
type Desired struct {
	Clusters []Cluster      `json:"clusters"`
	VMs      []VM           `json:"vms"`
	Catalog  []CatalogImage `json:"catalog"` // built-in entries first, then user entries
	Files    []string       `json:"files"`   // every file read, sorted
}

// Cluster is a `kind: Cluster` document.
type Cluster struct {
	Name          string         `json:"name"`
	Pos           Pos            `json:"-"`
	Driver        string         `json:"driver"`            // sim | hyperv
	Options       map[string]any `json:"options,omitempty"` // driver options, passed through untouched
	Nodes         []string       `json:"nodes"`
	IgvmAgent     string         `json:"igvmAgent"`    // required (default) | ignore
	VMFileAccess  string         `json:"vmFileAccess"` // hostAdminsOnly (default) | ignore
	LiveMigration LiveMigration  `json:"liveMigration"`
	// KeyBackup is the optional guest state key backup policy (Azure Local).
	KeyBackup *KeyBackup `json:"keyBackup,omitempty"`
}

// KeyBackup declares Backup-TVMKeys runs (Azure Local 2505+): the RSA public
// key the keys are wrapped under and the folder the timestamped backups go
// to (paths on the nodes), and how old the newest backup may be. Key
// material never passes through tlreconcile.
type KeyBackup struct {
	WrappingKey string `json:"wrappingKey"`
	Destination string `json:"destination"`
	MaxAge      string `json:"maxAge,omitempty"` // a Go duration; "" = only when a key is missing from it
}

// LiveMigration holds the cluster's live-migration settings.
type LiveMigration struct {
	Encryption string `json:"encryption"` // ipsec | none
}

// Image names an Azure Marketplace image.
type Image struct {
	Publisher string `json:"publisher"`
	Offer     string `json:"offer"`
	Sku       string `json:"sku"`
	Version   string `json:"version"`
}

// VM is a `kind: TrustedLaunchVM` document with defaults applied. Labels
// is read-only: VMs of one file with equal labels share one map.
type VM struct {
	Name                            string            `json:"name"`
	Cluster                         string            `json:"cluster"`
	Labels                          map[string]string `json:"labels,omitempty"`
	Pos                             Pos               `json:"-"`
	SecurityType                    string            `json:"securityType"` // TrustedLaunch (default) | Standard
	Image                           Image             `json:"image"`
	Processors                      int               `json:"processors"`
	MemoryMB                        int64             `json:"memoryMB"`
	SecureBoot                      SecureBoot        `json:"secureBoot"`
	VTPM                            VTPM              `json:"vtpm"`
	VBS                             bool              `json:"vbs"`
	EncryptStateAndMigrationTraffic bool              `json:"encryptStateAndMigrationTraffic"`
	BootIntegrityVerification       bool              `json:"bootIntegrityVerification"`
	Placement                       Placement         `json:"placement"`
	Power                           string            `json:"power"` // Running | Off
	Protect                         bool              `json:"protect"`
	// Azure Local (driver azurelocal): where the VM's NIC goes, where its
	// configuration is stored, and its OS profile. nil/"" when not declared
	// (omitted from the canonical JSON, so hashes of VMs without them stay).
	Network     *Network   `json:"network,omitempty"`
	StoragePath string     `json:"storagePath,omitempty"`
	OSProfile   *OSProfile `json:"osProfile,omitempty"`
	// Attestation is tlreconcile's own guest attestation; nil when not
	// declared (omitted from the canonical JSON, so hashes stay).
	Attestation *Attestation `json:"attestation,omitempty"`
}

// DefaultAttestationInterval is spec.attestation.interval's default.
const DefaultAttestationInterval = "24h"

// Attestation is spec.attestation: whether the guest agent attests the VM,
// how often at least, and what its boot must show.
type Attestation struct {
	Enabled  bool                `json:"enabled"`
	Interval string              `json:"interval"`
	Require  AttestationRequires `json:"require"`
	// AcceptBoot are boot digests (the 12 hex a boot-integrity-violation
	// finding names) the administrator accepts beside the first verified
	// boot's: a reviewed change of the VM's boot chain.
	AcceptBoot []string `json:"acceptBoot,omitempty"`
}

// AttestationRequires is spec.attestation.require; a nil field is not checked.
type AttestationRequires struct {
	SecureBoot    *bool  `json:"secureBoot,omitempty"`
	CodeIntegrity *bool  `json:"codeIntegrity,omitempty"`
	VBS           string `json:"vbs,omitempty"`
	TestSigning   *bool  `json:"testSigning,omitempty"`
	Debugging     *bool  `json:"debugging,omitempty"`
}

// Network is the VM's network on Azure Local: a logical network and,
// optionally, a static IP address in it.
type Network struct {
	LogicalNetwork string `json:"logicalNetwork"`
	IPAddress      string `json:"ipAddress,omitempty"`
}

// OSProfile is what the guest is created with. The password is a
// reference, never a value: the value is read from it only when create-vm
// runs, and appears nowhere else.
type OSProfile struct {
	ComputerName  string     `json:"computerName,omitempty"`
	AdminUsername string     `json:"adminUsername,omitempty"`
	AdminPassword *SecretRef `json:"adminPassword,omitempty"`
}

// SecretRef names where a secret is: exactly one of an environment variable
// of the process that applies, or a file on its machine.
type SecretRef struct {
	FromEnv  string `json:"fromEnv,omitempty"`
	FromFile string `json:"fromFile,omitempty"`
}

// SecureBoot is the VM's UEFI Secure Boot setting.
type SecureBoot struct {
	Enabled  bool   `json:"enabled"`
	Template string `json:"template"`
}

// VTPM is the VM's virtual TPM setting.
type VTPM struct {
	Enabled bool `json:"enabled"`
}

// Placement is the preferred owner node; empty means "anywhere".
type Placement struct {
	Node string `json:"node,omitempty"`
}

// CatalogImage is a supported image: built in, or added by an ImageCatalog document.
type CatalogImage struct {
	Image
	OS      string `json:"os"`      // windows | linux
	BuiltIn bool   `json:"builtIn"` // false: added by the user, "outside the built-in support list"
	Pos     Pos    `json:"-"`
}

package hyperv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// BuildRequest builds the script name and parameters for op. currentNotes is the VM's Notes as
// last seen (set-annotations merges into them). It is the single place where op values
// become script input, and they only ever become JSON fields.
func BuildRequest(ref drivers.ClusterRef, o *Options, op drivers.Op, currentNotes string) (string, *Payload, error) {
	build, ok := builderFor(op.Kind)
	if !ok {
		return "", nil, fmt.Errorf("op %q: %w by the hyperv driver", op.Kind, drivers.ErrNotSupported)
	}
	p := op.Params
	if p == nil {
		p = &drivers.Params{}
	}
	payload, err := build(request{ref: ref, opts: o, vm: op.VM, params: p, notes: currentNotes})
	if err != nil {
		return "", nil, err
	}
	return string(op.Kind), payload, nil
}

// request is what a payload builder reads: the op's values and the cluster they go to.
type request struct {
	ref    drivers.ClusterRef
	opts   *Options
	vm     string
	params *drivers.Params // never nil
	notes  string          // the VM's Notes as last seen
}

// buildFunc checks one kind of op's parameters and turns them into its script's payload.
type buildFunc func(r request) (*Payload, error)

// builderFor returns the builder for an op kind (every op has a script of its name).
func builderFor(kind drivers.OpKind) (buildFunc, bool) {
	switch kind {
	case drivers.OpCreateVM:
		return createPayload, true
	case drivers.OpDeleteVM, drivers.OpStartVM, drivers.OpEnableTPM, drivers.OpDisableTPM, drivers.OpRestrictFileAccess:
		return func(r request) (*Payload, error) { return &Payload{VM: r.vm}, nil }, true
	case drivers.OpStopVM:
		return func(r request) (*Payload, error) {
			return &Payload{VM: r.vm, AllowForceStop: r.params.AllowForceStop}, nil
		}, true
	case drivers.OpSetSecureBoot:
		return secureBootPayload, true
	case drivers.OpEnsureKeyProtector:
		return func(r request) (*Payload, error) { return &Payload{VM: r.vm, Reset: r.params.Reset}, nil }, true
	case drivers.OpSetSecurity:
		return securityPayload, true
	case drivers.OpSetProcessor:
		return processorPayload, true
	case drivers.OpSetMemory:
		return memoryPayload, true
	case drivers.OpMoveVM:
		return movePayload, true
	case drivers.OpSetAnnotations:
		return annotationsPayload, true
	case drivers.OpStartIgvmAgent:
		return func(request) (*Payload, error) { return &Payload{}, nil }, true
	case drivers.OpEnableMigrationIPsec:
		return func(r request) (*Payload, error) {
			m := r.opts.MigrationIPsec
			return &Payload{Auth: m.Auth, CertAuthority: m.CertificateAuthority}, nil
		}, true
	}
	return nil, false
}

func createPayload(r request) (*Payload, error) {
	p := r.params
	if err := validVMName(r.vm); err != nil {
		return nil, err
	}
	if p.TargetNode != "" && !containsFold(r.ref.Nodes, p.TargetNode) {
		return nil, fmt.Errorf("node/%s: %w in cluster %s: use one of %s", p.TargetNode, drivers.ErrNotFound, r.ref.Name, strings.Join(r.ref.Nodes, ", "))
	}
	if err := r.opts.checkClusteredPath(r.ref); err != nil {
		return nil, err
	}
	gen, sec, err := generationAndSecurity(p)
	if err != nil {
		return nil, err
	}
	src, img, err := imageSource(r.opts, p.Image)
	if err != nil {
		return nil, err
	}
	notes := RenderNotes("", p.Annotations)
	return &Payload{
		Name: r.vm, Generation: gen, Folder: folderName(r.vm), VMRoot: r.opts.VMPath, SourceVHDX: src, Image: img,
		SecurityType: sec, Processors: p.Processors, MemoryBytes: p.MemoryMB << 20,
		Clustered: r.opts.clustered(r.ref), Notes: &notes,
	}, nil
}

// generationAndSecurity defaults a new VM to a Generation 2 trusted-launch VM and refuses
// combinations Hyper-V cannot create.
func generationAndSecurity(p *drivers.Params) (int, string, error) {
	gen := p.Generation
	if gen == 0 {
		gen = 2
	}
	sec := p.SecurityType
	if sec == "" {
		sec = drivers.SecurityTrustedLaunch
	}
	switch {
	case gen != 1 && gen != 2:
		return 0, "", fmt.Errorf("generation %d: Hyper-V VMs are Generation 1 or 2; use 2 for trusted launch: %w", gen, drivers.ErrInvalidArgument)
	case sec != drivers.SecurityTrustedLaunch && sec != drivers.SecurityStandard:
		return 0, "", fmt.Errorf("security type %q: use TrustedLaunch or Standard: %w", sec, drivers.ErrInvalidArgument)
	case gen == 1 && sec == drivers.SecurityTrustedLaunch:
		return 0, "", fmt.Errorf("trusted launch needs a Generation 2 VM: create it as Generation 2: %w", drivers.ErrPrecondition)
	}
	return gen, sec, nil
}

// imageSource finds the VHDX a new VM is copied from; no image: an empty VM.
func imageSource(o *Options, image *drivers.Image) (string, *drivers.Image, error) {
	if image == nil {
		return "", nil, nil
	}
	src, ok := o.imagePath(image)
	if !ok {
		return "", nil, fmt.Errorf("image %s/%s/%s/%s has no VHDX in the cluster's imageStore option: add one: %w", image.Publisher, image.Offer, image.Sku, image.Version, drivers.ErrPrecondition)
	}
	img := *image
	return src, &img, nil
}

func secureBootPayload(r request) (*Payload, error) {
	p := r.params
	if p.SecureBoot == nil && p.SecureBootTemplate == "" {
		return nil, fmt.Errorf("set-secure-boot needs params.secure_boot or params.secure_boot_template: %w", drivers.ErrInvalidArgument)
	}
	switch p.SecureBootTemplate {
	case "", "MicrosoftWindows", "MicrosoftUEFICertificateAuthority", "OpenSourceShieldedVM":
	default:
		return nil, fmt.Errorf("secure boot template %q: use MicrosoftWindows, MicrosoftUEFICertificateAuthority or OpenSourceShieldedVM: %w", p.SecureBootTemplate, drivers.ErrInvalidArgument)
	}
	var on *bool
	if p.SecureBoot != nil {
		on = drivers.Bool(*p.SecureBoot)
	}
	return &Payload{VM: r.vm, Enabled: on, Template: p.SecureBootTemplate}, nil
}

func securityPayload(r request) (*Payload, error) {
	p := r.params
	if p.EncryptState == nil && p.VBSOptOut == nil {
		return nil, fmt.Errorf("set-security needs params.encrypt_state or params.vbs_opt_out: %w", drivers.ErrInvalidArgument)
	}
	return &Payload{VM: r.vm, EncryptState: p.EncryptState, VBSOptOut: p.VBSOptOut}, nil
}

func processorPayload(r request) (*Payload, error) {
	if r.params.Processors < 1 {
		return nil, fmt.Errorf("set-processor needs params.processors of at least 1: %w", drivers.ErrInvalidArgument)
	}
	return &Payload{VM: r.vm, Processors: r.params.Processors}, nil
}

func memoryPayload(r request) (*Payload, error) {
	if r.params.MemoryMB < 1 {
		return nil, fmt.Errorf("set-memory needs params.memory_mb of at least 1: %w", drivers.ErrInvalidArgument)
	}
	return &Payload{VM: r.vm, MemoryBytes: r.params.MemoryMB << 20}, nil
}

func movePayload(r request) (*Payload, error) {
	p := r.params
	if p.TargetNode == "" || !containsFold(r.ref.Nodes, p.TargetNode) {
		return nil, fmt.Errorf("node/%s: %w in cluster %s; move-vm needs params.target_node", p.TargetNode, drivers.ErrNotFound, r.ref.Name)
	}
	switch p.MigrationType {
	case "", "Live", "Quick", "Shutdown":
	default:
		return nil, fmt.Errorf("migration type %q: use Live, Quick or Shutdown: %w", p.MigrationType, drivers.ErrInvalidArgument)
	}
	return &Payload{VM: r.vm, TargetNode: p.TargetNode, MigrationType: p.MigrationType}, nil
}

// annotationsPayload merges the block into the Notes last seen; the script writes it only
// when the VM's Notes are still exactly those (a compare-and-swap).
func annotationsPayload(r request) (*Payload, error) {
	return notesPayload(r.vm, r.notes, MergeNotes(r.notes, r.params.Annotations)), nil
}

// notesPayload is set-annotations.ps1's: write notes when the VM's Notes still equal expected.
func notesPayload(vm, expected, notes string) *Payload {
	return &Payload{VM: vm, Expected: &expected, Notes: &notes}
}

// validVMName refuses names that cannot be a Windows folder name, since create-vm stores
// the VM's files under a folder derived from it.
func validVMName(name string) error {
	bad := func() error {
		return fmt.Errorf("%w: VM name %q cannot be created on Hyper-V: use 1-100 characters without control characters, <>:\"/\\|?* or a trailing dot or space", drivers.ErrPrecondition, name)
	}
	if name == "" || len([]rune(name)) > 100 || strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return bad()
	}
	for _, r := range name {
		if unicode.IsControl(r) || strings.ContainsRune(`<>:"/\|?*`, r) {
			return bad()
		}
	}
	return nil
}

// folderName is a file-system-safe folder for a VM: its name with anything but letters,
// digits, '.', '-' and '_' replaced, plus a hash so that distinct names never collide.
func folderName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 48 {
			break
		}
	}
	sum := sha256.Sum256([]byte(name))
	return strings.TrimLeft(b.String(), ".") + "-" + hex.EncodeToString(sum[:4])
}

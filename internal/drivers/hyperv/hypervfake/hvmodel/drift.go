package hvmodel

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Setting is one FIELD=VALUE of Drift.
type Setting struct {
	Field string
	Value string
}

// ParseSetting parses "field=value".
func ParseSetting(s string) (Setting, error) {
	f, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(f) == "" {
		return Setting{}, fmt.Errorf("setting %q: write FIELD=VALUE, e.g. secureBoot=false: %w", s, drivers.ErrInvalidArgument)
	}
	return Setting{Field: strings.TrimSpace(f), Value: strings.TrimSpace(v)}, nil
}

// DriftFields are the observed fields Drift can set, as written on the command line.
var DriftFields = []string{
	"power", "processors", "memoryMB", "generation", "securityType", "secureBoot",
	"secureBootTemplate", "tpmEnabled", "keyProtector", "encryptState", "vbsOptOut",
	"fileAccess", "vtpmInitialized", "node", "annotations",
	"annotations.managedBy", "annotations.specHash", "annotations.protect",
	"annotations.vtpmIdentity", "annotations.node",
}

func normField(s string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
}

// Drift changes observed fields of a VM behind tlreconcile's back, as an
// administrator or a failure would: no Hyper-V rule is checked. The settings
// apply together or not at all.
func (d *Driver) Drift(ctx context.Context, cluster, vm string, settings []Setting) error {
	if len(settings) == 0 {
		return fmt.Errorf("vm/%s: drift: nothing to set: give --set FIELD=VALUE: %w", vm, drivers.ErrInvalidArgument)
	}
	c, err := d.loadCluster(cluster)
	if err != nil {
		return err
	}
	_, err = d.withVM(c, vm, func(r *vmRecord) (drivers.Result, error) {
		var post []func() error // file changes, after every value parsed
		for _, s := range settings {
			fn, err := drift(c, r, s)
			if err != nil {
				return drivers.Result{}, fmt.Errorf("drift %s=%s: %w", s.Field, s.Value, err)
			}
			if fn != nil {
				post = append(post, fn)
			}
		}
		for _, fn := range post {
			if err := fn(); err != nil {
				return drivers.Result{}, err
			}
		}
		return drivers.Result{Changed: true}, nil
	})
	if err != nil {
		return fmt.Errorf("vm/%s: %w", vm, err)
	}
	return nil
}

// drift sets one field on r; file-level effects come back as a function, so
// Drift can run them only once every setting has parsed.
func drift(c *cluster, r *vmRecord, s Setting) (func() error, error) {
	set, ok := driftSetters[normField(s.Field)]
	if !ok {
		return nil, fmt.Errorf("unknown field %q: use one of %s: %w", s.Field, strings.Join(DriftFields, ", "), drivers.ErrInvalidArgument)
	}
	return set(c, r, s.Value)
}

// driftSetter sets one field of r from the command-line value v. A change
// outside the record (file modes, file moves) comes back as post, to run once
// every setting of the Drift has parsed.
type driftSetter func(c *cluster, r *vmRecord, v string) (post func() error, err error)

// driftSetters maps each normalised field name (see normField) to its
// setter, so adding a drift field is one line here and one in DriftFields.
// Read-only after initialisation, like templates.
var driftSetters = map[string]driftSetter{
	"power":                    onRecord(driftPower),
	"processors":               onRecord(driftProcessors),
	"memorymb":                 onRecord(driftMemory),
	"memory":                   onRecord(driftMemory),
	"generation":               onRecord(driftGeneration),
	"securitytype":             onRecord(driftSecurityType),
	"secureboot":               driftFlag(func(r *vmRecord) *bool { return &r.SecureBoot }),
	"secureboottemplate":       onRecord(driftTemplate),
	"template":                 onRecord(driftTemplate),
	"tpmenabled":               driftFlag(func(r *vmRecord) *bool { return &r.TPMEnabled }),
	"tpm":                      driftFlag(func(r *vmRecord) *bool { return &r.TPMEnabled }),
	"keyprotector":             onRecord(driftKeyProtector),
	"encryptstate":             driftFlag(func(r *vmRecord) *bool { return &r.EncryptState }),
	"vbsoptout":                driftFlag(func(r *vmRecord) *bool { return &r.VBSOptOut }),
	"vtpminitialized":          driftFlag(func(r *vmRecord) *bool { return &r.VTPMInitialized }),
	"fileaccess":               driftFileAccess,
	"node":                     driftNode,
	"vtpmidentity":             onRecord(driftVTPMIdentity),
	"annotations":              onRecord(driftAnnotations),
	"annotations.managedby":    onAnnotations(func(a *drivers.Annotations, v string) error { a.ManagedBy = v; return nil }),
	"annotations.spechash":     onAnnotations(func(a *drivers.Annotations, v string) error { a.SpecHash = v; return nil }),
	"annotations.protect":      onAnnotations(func(a *drivers.Annotations, v string) error { return parseDriftBool(v, &a.Protect) }),
	"annotations.vtpmidentity": onAnnotations(func(a *drivers.Annotations, v string) error { a.VTPMIdentity = v; return nil }),
	"annotations.node":         onAnnotations(func(a *drivers.Annotations, v string) error { a.Node = v; return nil }),
}

// onRecord adapts a setter that only changes the record.
func onRecord(set func(r *vmRecord, v string) error) driftSetter {
	return func(_ *cluster, r *vmRecord, v string) (func() error, error) {
		return nil, set(r, v)
	}
}

// driftFlag is the setter of a boolean field.
func driftFlag(field func(r *vmRecord) *bool) driftSetter {
	return onRecord(func(r *vmRecord, v string) error { return parseDriftBool(v, field(r)) })
}

// onAnnotations adapts a setter of one annotation field; a VM without
// annotations gets an empty set first, as a half-edited Notes block would be.
func onAnnotations(set func(a *drivers.Annotations, v string) error) driftSetter {
	return onRecord(func(r *vmRecord, v string) error {
		if r.Annotations == nil {
			r.Annotations = &drivers.Annotations{}
		}
		return set(r.Annotations, v)
	})
}

func parseDriftBool(v string, dst *bool) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false: %w", v, drivers.ErrInvalidArgument)
	}
	*dst = b
	return nil
}

func parseDriftCount(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a whole number: %w", v, drivers.ErrInvalidArgument)
	}
	return n, nil
}

func driftPower(r *vmRecord, v string) error {
	for _, p := range []drivers.PowerState{drivers.PowerRunning, drivers.PowerOff, drivers.PowerSaved, drivers.PowerPaused, drivers.PowerOther} {
		if strings.EqualFold(v, string(p)) {
			r.Power = p
			return nil
		}
	}
	return fmt.Errorf("power %q: use Running, Off, Saved, Paused or Other: %w", v, drivers.ErrInvalidArgument)
}

func driftProcessors(r *vmRecord, v string) error {
	n, err := parseDriftCount(v)
	r.Processors = int(n)
	return err
}

func driftMemory(r *vmRecord, v string) error {
	n, err := parseDriftCount(v)
	r.MemoryMB = n
	return err
}

// driftGeneration accepts only the generations Hyper-V has, although a VM's
// generation never changes on a real host: the drift is a corrupted record.
func driftGeneration(r *vmRecord, v string) error {
	n, err := parseDriftCount(v)
	if err == nil && n != 1 && n != 2 {
		err = fmt.Errorf("generation %d: use 1 or 2: %w", n, drivers.ErrInvalidArgument)
	}
	r.Generation = int(n)
	return err
}

func driftSecurityType(r *vmRecord, v string) error {
	if v != drivers.SecurityTrustedLaunch && v != drivers.SecurityStandard {
		return fmt.Errorf("security type %q: use TrustedLaunch or Standard: %w", v, drivers.ErrInvalidArgument)
	}
	r.SecurityType = v
	return nil
}

func driftTemplate(r *vmRecord, v string) error {
	if !templates[v] {
		return fmt.Errorf("template %q: use MicrosoftWindows, MicrosoftUEFICertificateAuthority or OpenSourceShieldedVM: %w", v, drivers.ErrInvalidArgument)
	}
	r.SecureBootTemplate = v
	return nil
}

// driftKeyProtector removes the key protector or, when there is none, gives
// the VM a fresh random one; an existing one is kept, as re-enabling is a no-op.
func driftKeyProtector(r *vmRecord, v string) error {
	var on bool
	if err := parseDriftBool(v, &on); err != nil {
		return err
	}
	if !on {
		r.KeyProtector = nil
		return nil
	}
	if len(r.KeyProtector) > 0 {
		return nil
	}
	kp := make([]byte, keyProtLen)
	copy(kp, kpPrefix)
	if _, err := rand.Read(kp[len(kpPrefix):]); err != nil {
		return err
	}
	r.KeyProtector = kp
	return nil
}

// driftFileAccess changes the guest-state file's mode, which is what the
// sim observes as file access; the chmod waits until every setting parsed.
func driftFileAccess(c *cluster, r *vmRecord, v string) (func() error, error) {
	var mode os.FileMode
	switch strings.ToLower(v) {
	case "hostadminsonly":
		mode = 0o600
	case "violation":
		mode = 0o644
	default:
		return nil, fmt.Errorf("file access %q: use hostAdminsOnly or violation: %w", v, drivers.ErrInvalidArgument)
	}
	path := c.guestPath(r.Node, r.Name)
	return func() error { return os.Chmod(path, mode) }, nil
}

// driftNode moves the VM's files to another node's directory without a
// migration, as a record left behind by a crashed move would.
func driftNode(c *cluster, r *vmRecord, v string) (func() error, error) {
	if c.node(v) == nil {
		return nil, errNoNode(c, v)
	}
	from := r.Node
	if from == v {
		return nil, nil
	}
	r.Node = v
	return func() error { return c.moveFiles(r.Name, from, v) }, nil
}

// driftVTPMIdentity refuses: the identity is read from the real vTPM, so
// only losing the vTPM state can change it.
func driftVTPMIdentity(*vmRecord, string) error {
	return fmt.Errorf("the vTPM identity comes from the vTPM itself: change it with `tlreconcile sim failover --lose-vtpm`: %w", drivers.ErrInvalidArgument)
}

// driftAnnotations removes the whole annotation block (annotations=none),
// which makes the VM unmanaged.
func driftAnnotations(r *vmRecord, v string) error {
	if !strings.EqualFold(v, "none") && v != "" {
		return fmt.Errorf("annotations=%q: only annotations=none (remove them) is possible; set single fields with annotations.FIELD=VALUE: %w", v, drivers.ErrInvalidArgument)
	}
	r.Annotations = nil
	return nil
}

package sim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Simulation controls: what tests, demos and incident rehearsals do to a sim
// cluster that no op can (`tlreconcile sim ...`). They change the cluster
// directory directly, under the same locks as the ops.

// Init creates the cluster from ref. It reports false when a cluster with the
// same nodes already exists, and fails when one with other nodes does.
func (d *Driver) Init(ref drivers.ClusterRef) (bool, error) {
	if err := checkName("cluster", ref.Name); err != nil {
		return false, err
	}
	if c, err := d.loadCluster(ref.Name); err == nil {
		var have []string
		for _, n := range c.file.Nodes {
			have = append(have, n.Name)
		}
		want := slices.Clone(ref.Nodes)
		slices.Sort(want)
		if !slices.Equal(have, want) {
			return false, fmt.Errorf("cluster/%s: exists with nodes %s: delete %s to start over with nodes %s: %w", ref.Name, strings.Join(have, ","), c.dir, strings.Join(want, ","), drivers.ErrAlreadyExists)
		}
		_, err := d.ensureCluster(ref) // checks the backend option
		return false, err
	} else if !errors.Is(err, drivers.ErrNotFound) {
		return false, err
	}
	_, err := d.ensureCluster(ref)
	return err == nil, err
}

// ResolveCluster returns name, or the only cluster when name is "".
func (d *Driver) ResolveCluster(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	names, err := d.Clusters()
	if err != nil {
		return "", err
	}
	switch len(names) {
	case 0:
		return "", fmt.Errorf("no sim cluster under %s: create one with `tlreconcile sim init --cluster NAME --nodes a,b`: %w", d.stateDir, drivers.ErrNotFound)
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("%d sim clusters under %s (%s): choose one with --cluster: %w", len(names), d.stateDir, strings.Join(names, ", "), drivers.ErrInvalidArgument)
}

// SetAgent sets the IgvmAgent state of a node (running, stopped, absent).
func (d *Driver) SetAgent(cluster, node string, state drivers.AgentState) error {
	switch state {
	case drivers.AgentRunning, drivers.AgentStopped, drivers.AgentAbsent:
	default:
		return fmt.Errorf("node/%s: agent state %q: use running, stopped or absent: %w", node, state, drivers.ErrInvalidArgument)
	}
	return d.setNode(cluster, node, func(n *nodeRecord) { n.IgvmAgent = state })
}

// SetIPsec turns live-migration IPsec on a node on or off.
func (d *Driver) SetIPsec(cluster, node string, on bool) error {
	return d.setNode(cluster, node, func(n *nodeRecord) { n.MigrationIPsec = on })
}

func (d *Driver) setNode(cluster, node string, fn func(*nodeRecord)) error {
	return d.updateCluster(cluster, func(f *clusterFile) (bool, error) {
		for i := range f.Nodes {
			if f.Nodes[i].Name == node {
				fn(&f.Nodes[i])
				return true, nil
			}
		}
		return false, fmt.Errorf("node/%s: no such node in cluster %s: %w", node, cluster, drivers.ErrNotFound)
	})
}

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
			fn, err := d.drift(ctx, c, r, s)
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

// drift sets one field on r; file-level effects come back as a function.
func (d *Driver) drift(ctx context.Context, c *cluster, r *vmRecord, s Setting) (func() error, error) {
	v := s.Value
	boolean := func(dst *bool) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false: %w", v, drivers.ErrInvalidArgument)
		}
		*dst = b
		return nil
	}
	integer := func() (int64, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a whole number: %w", v, drivers.ErrInvalidArgument)
		}
		return n, nil
	}
	ann := func() *drivers.Annotations {
		if r.Annotations == nil {
			r.Annotations = &drivers.Annotations{}
		}
		return r.Annotations
	}
	switch normField(s.Field) {
	case "power":
		for _, p := range []drivers.PowerState{drivers.PowerRunning, drivers.PowerOff, drivers.PowerSaved, drivers.PowerPaused, drivers.PowerOther} {
			if strings.EqualFold(v, string(p)) {
				r.Power = p
				return nil, nil
			}
		}
		return nil, fmt.Errorf("power %q: use Running, Off, Saved, Paused or Other: %w", v, drivers.ErrInvalidArgument)
	case "processors":
		n, err := integer()
		r.Processors = int(n)
		return nil, err
	case "memorymb", "memory":
		n, err := integer()
		r.MemoryMB = n
		return nil, err
	case "generation":
		n, err := integer()
		if err == nil && n != 1 && n != 2 {
			err = fmt.Errorf("generation %d: use 1 or 2: %w", n, drivers.ErrInvalidArgument)
		}
		r.Generation = int(n)
		return nil, err
	case "securitytype":
		if v != drivers.SecurityTrustedLaunch && v != drivers.SecurityStandard {
			return nil, fmt.Errorf("security type %q: use TrustedLaunch or Standard: %w", v, drivers.ErrInvalidArgument)
		}
		r.SecurityType = v
		return nil, nil
	case "secureboot":
		return nil, boolean(&r.SecureBoot)
	case "secureboottemplate", "template":
		if !templates[v] {
			return nil, fmt.Errorf("template %q: use MicrosoftWindows, MicrosoftUEFICertificateAuthority or OpenSourceShieldedVM: %w", v, drivers.ErrInvalidArgument)
		}
		r.SecureBootTemplate = v
		return nil, nil
	case "tpmenabled", "tpm":
		return nil, boolean(&r.TPMEnabled)
	case "keyprotector":
		var on bool
		if err := boolean(&on); err != nil {
			return nil, err
		}
		if !on {
			r.KeyProtector = nil
		} else if len(r.KeyProtector) == 0 {
			kp := make([]byte, keyProtLen)
			copy(kp, kpPrefix)
			if _, err := rand.Read(kp[len(kpPrefix):]); err != nil {
				return nil, err
			}
			r.KeyProtector = kp
		}
		return nil, nil
	case "encryptstate":
		return nil, boolean(&r.EncryptState)
	case "vbsoptout":
		return nil, boolean(&r.VBSOptOut)
	case "vtpminitialized":
		return nil, boolean(&r.VTPMInitialized)
	case "fileaccess":
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
	case "node":
		if c.node(v) == nil {
			return nil, errNoNode(c, v)
		}
		from := r.Node
		if from == v {
			return nil, nil
		}
		r.Node = v
		return func() error { return c.moveFiles(r.Name, from, v) }, nil
	case "vtpmidentity":
		return nil, fmt.Errorf("the vTPM identity comes from the vTPM itself: change it with `tlreconcile sim failover --lose-vtpm`: %w", drivers.ErrInvalidArgument)
	case "annotations":
		if !strings.EqualFold(v, "none") && v != "" {
			return nil, fmt.Errorf("annotations=%q: only annotations=none (remove them) is possible; set single fields with annotations.FIELD=VALUE: %w", v, drivers.ErrInvalidArgument)
		}
		r.Annotations = nil
		return nil, nil
	case "annotations.managedby":
		ann().ManagedBy = v
		return nil, nil
	case "annotations.spechash":
		ann().SpecHash = v
		return nil, nil
	case "annotations.protect":
		return nil, boolean(&ann().Protect)
	case "annotations.vtpmidentity":
		ann().VTPMIdentity = v
		return nil, nil
	case "annotations.node":
		ann().Node = v
		return nil, nil
	}
	return nil, fmt.Errorf("unknown field %q: use one of %s: %w", s.Field, strings.Join(DriftFields, ", "), drivers.ErrInvalidArgument)
}

// Failover moves a VM to another node the way a node failure does: no
// migration, no agent check on the way; the VM restarts on the target if it
// was running and the target can host it, else it lands Off. loseVTPM also
// destroys its vTPM state, as a failover without vTPM state transfer would,
// so the VM comes up with a new vTPM identity.
func (d *Driver) Failover(ctx context.Context, cluster, vm, to string, loseVTPM bool) (string, error) {
	c, err := d.loadCluster(cluster)
	if err != nil {
		return "", err
	}
	res, err := d.withVM(c, vm, func(r *vmRecord) (drivers.Result, error) {
		n := c.node(to)
		if n == nil {
			return drivers.Result{}, errNoNode(c, to)
		}
		if r.Node != to {
			if err := c.moveFiles(r.Name, r.Node, to); err != nil {
				return drivers.Result{}, err
			}
			r.Node = to
		}
		msg := "failed over to " + to
		if loseVTPM {
			if err := d.wipeVTPM(ctx, c, r); err != nil {
				return drivers.Result{}, err
			}
			msg += ", vTPM state lost"
		}
		if r.Power == drivers.PowerRunning {
			r.Power = drivers.PowerOff
			if _, err := c.startVM(r); err != nil {
				msg += fmt.Sprintf(", left Off: cannot start there (%v)", err)
			} else {
				msg += ", restarted"
			}
		}
		return drivers.Result{Changed: true, Message: msg}, nil
	})
	if err != nil {
		return "", fmt.Errorf("vm/%s: failover: %w", vm, err)
	}
	return res.Message, nil
}

// UnmanagedVM describes a VM made outside tlreconcile (CreateUnmanaged).
type UnmanagedVM struct {
	Generation int    // 0 = 2
	Node       string // "" = first node that can host it
	Running    bool   // start it after creation
}

// CreateUnmanaged creates a VM the way an administrator would, without
// tlreconcile's annotations: Generation 2 VMs are trusted launch with Secure
// Boot, a key protector and a vTPM; Generation 1 VMs are Standard.
func (d *Driver) CreateUnmanaged(ctx context.Context, cluster, vm string, u UnmanagedVM) error {
	p := &drivers.Params{Generation: u.Generation, TargetNode: u.Node, SecurityType: drivers.SecurityTrustedLaunch}
	if u.Generation == 1 {
		p.SecurityType = drivers.SecurityStandard
	}
	c, err := d.loadCluster(cluster)
	if err != nil {
		return err
	}
	// Straight to the ops, past injected faults: those are for tlreconcile's ops.
	fail := func(kind drivers.OpKind, err error) error {
		return &drivers.OpError{Op: kind, Target: "vm/" + vm, Err: err}
	}
	if _, err := d.createVM(ctx, c, vm, p); err != nil {
		return fail(drivers.OpCreateVM, err)
	}
	if u.Generation != 1 {
		if _, err := d.withVM(c, vm, func(r *vmRecord) (drivers.Result, error) { return d.ensureKeyProtector(ctx, c, r, false) }); err != nil {
			return fail(drivers.OpEnsureKeyProtector, err)
		}
		if _, err := d.withVM(c, vm, enableTPM); err != nil {
			return fail(drivers.OpEnableTPM, err)
		}
	}
	if u.Running {
		if _, err := d.withVM(c, vm, c.startVM); err != nil {
			return fail(drivers.OpStartVM, err)
		}
	}
	return nil
}

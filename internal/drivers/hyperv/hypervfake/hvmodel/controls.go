package hvmodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

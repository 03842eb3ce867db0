package hyperv

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// enableMigrationIPsec applies the live-migration IPsec rules to every node of the cluster in
// one step, whichever node the op names: a node that requires IPsec cannot live-migrate with
// a node that does not, so a half-done rollout breaks migration. When a node fails, the nodes
// this call changed are rolled back (disable-migration-ipsec) and the error says which node
// failed and whether the rollback worked. Nodes already covered are left as they were.
func (d *Driver) enableMigrationIPsec(ctx context.Context, c *cluster, op drivers.Op) (drivers.Result, error) {
	if op.Node != "" && !containsFold(c.ref.Nodes, op.Node) {
		return drivers.Result{}, fmt.Errorf("node/%s: %w in cluster %s", op.Node, drivers.ErrNotFound, c.ref.Name)
	}
	_, p, err := BuildRequest(c.ref, c.opts, op, "")
	if err != nil {
		return drivers.Result{}, err
	}
	c.ipsecMu.Lock() // one rollout per cluster at a time: the steps of its nodes may run in parallel
	defer c.ipsecMu.Unlock()
	var changed, msgs []string
	for _, n := range c.ref.Nodes {
		var r OpResult
		if err := c.run(ctx, n, string(drivers.OpEnableMigrationIPsec), p, &r); err != nil {
			return drivers.Result{}, d.rollbackIPsec(ctx, c, n, changed, err)
		}
		if r.Changed {
			changed = append(changed, n)
		}
		msgs = append(msgs, n+": "+r.Message)
	}
	return drivers.Result{Changed: len(changed) > 0, Message: strings.Join(msgs, "; ")}, nil
}

// rollbackIPsec undoes enable-migration-ipsec on the nodes it changed, after node failed.
func (d *Driver) rollbackIPsec(ctx context.Context, c *cluster, failed string, changed []string, cause error) error {
	var errs []error
	for _, n := range changed {
		var r OpResult
		if err := c.run(context.WithoutCancel(ctx), n, ScriptDisableMigrationIPsec, &Payload{}, &r); err != nil {
			errs = append(errs, fmt.Errorf("node/%s: %w", n, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("node/%s: %w; rolling back the nodes already changed failed too (%w): live migration between them and the others fails until the tlreconcile-live-migration-* IPsec rules are removed by hand or applied everywhere", failed, cause, errors.Join(errs...))
	}
	if len(changed) == 0 {
		return fmt.Errorf("node/%s: %w; no node was changed", failed, cause)
	}
	return fmt.Errorf("node/%s: %w; the IPsec rules were rolled back on %s, so every node can still live-migrate: fix node/%s and apply again", failed, cause, strings.Join(changed, ", "), failed)
}

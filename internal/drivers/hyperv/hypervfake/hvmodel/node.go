package hvmodel

import (
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// startIgvmAgent is Start-Service IGVmAgent on one node. An absent agent
// cannot be started: the node must be redeployed, which is outside the tool.
func (d *Driver) startIgvmAgent(c *cluster, node string) (drivers.Result, error) {
	if node == "" {
		return drivers.Result{}, fmt.Errorf("the op names no node: set op.node: %w", drivers.ErrInvalidArgument)
	}
	res := drivers.Result{}
	err := d.updateCluster(c.file.Name, func(f *clusterFile) (bool, error) {
		n := (&cluster{file: *f}).node(node)
		if n == nil {
			return false, errNoNode(c, node)
		}
		switch n.IgvmAgent {
		case drivers.AgentRunning:
			res.Message = "IgvmAgent already running"
			return false, nil
		case drivers.AgentAbsent:
			return false, fmt.Errorf("IgvmAgent is not installed on node %s: redeploy the node with IgvmAgent (tlreconcile cannot install it): %w", node, drivers.ErrPrecondition)
		}
		for i := range f.Nodes {
			if f.Nodes[i].Name == node {
				f.Nodes[i].IgvmAgent = drivers.AgentRunning
			}
		}
		res = drivers.Result{Changed: true, Message: "IgvmAgent started"}
		return true, nil
	})
	return res, err
}

// enableMigrationIPsec adds IPsec rules for live-migration traffic on one
// node, or on every node when node is "".
func (d *Driver) enableMigrationIPsec(c *cluster, node string) (drivers.Result, error) {
	res := drivers.Result{Message: "live-migration IPsec already on"}
	err := d.updateCluster(c.file.Name, func(f *clusterFile) (bool, error) {
		found := false
		for i := range f.Nodes {
			if node != "" && f.Nodes[i].Name != node {
				continue
			}
			found = true
			if !f.Nodes[i].MigrationIPsec {
				f.Nodes[i].MigrationIPsec = true
				res = drivers.Result{Changed: true, Message: "live-migration IPsec enabled"}
			}
		}
		if !found {
			return false, errNoNode(c, node)
		}
		return res.Changed, nil
	})
	return res, err
}

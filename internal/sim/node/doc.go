// Package node is the simulated Azure Local node: it speaks the psnode PowerShell protocol
// byte for byte (the bootstrap's host line checked against the azlocal host loop, the ready
// line, framed base64 envelopes with the request's id) and answers the azlocal scripts,
// identified by their exact text, from the cluster model of internal/sim/cluster: facts from
// the cluster's observation, ops through its methods (a move inside the cluster is a live
// migration). Its Transport is a psnode.Transport whose processes are in-process pipes, so a
// psnode.Session (a test's, later the azurelocal driver's) reaches node "node1" of
// "sim-cluster" as it would reach a real node; a node that is Down refuses connections. It
// must not import a driver implementation, plan, apply or view, and it never lets key
// material out: keys are named, backups hold them wrapped.
package node

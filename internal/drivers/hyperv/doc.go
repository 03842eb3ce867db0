// Package hyperv is the driver for Windows Server Hyper-V hosts and failover clusters that are
// not Azure Local (that is the azurelocal driver). It runs
// PowerShell on each cluster node, locally or over SSH with verified host keys, as one
// long-lived process per node per run (the sessions, transports and framing are psnode's), and
// feeds it its own constant embedded scripts: the host loop with the Hyper-V helpers and one
// script per op and query. Parameters travel only as base64-encoded JSON that the scripts
// decode, never spliced into script text; BuildRequest is the one place op values become
// them. Observation is one script per node; every write reads its setting back and fails
// loudly when it did not take. The package reports facts and carries out single operations;
// it must not decide what to do (that is the planner's job) and never imports plan or apply.
// The fake host that lets it pass the drivers contract suite without Windows lives in the
// hypervfake subpackage.
package hyperv

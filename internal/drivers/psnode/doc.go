// Package psnode is the PowerShell wire protocol that every driver reaching cluster nodes
// shares (hyperv on Windows Server Hyper-V, azurelocal for owner-node work): the transports
// that start long-lived PowerShell hosts on a node (a local child process, an SSH session with
// verified host keys), the bootstrap stub that loads a driver's host loop from stdin, the
// shared host loop (scripts/host.ps1) that a driver's helpers precede, the framed base64 JSON
// envelopes with per-request ids, the session that serialises requests on
// one host and replaces a dead one, the catalog of a driver's embedded scripts, and the
// mapping of script and cmdlet errors (ScriptError) to the drivers sentinels. It moves
// constant script text and JSON parameters and nothing else: it must not know what any
// script does, build a driver's parameters, parse a driver's answers, or import a driver,
// plan or apply.
package psnode

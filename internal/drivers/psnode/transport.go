package psnode

import (
	"context"
	"io"
)

// Transport starts PowerShell processes on cluster nodes: a local process, an SSH session, or
// a fake host in tests. Each started Process already runs `<powershell> BootstrapArgs()...`
// and waits for the host loop on its stdin.
type Transport interface {
	// Start begins one PowerShell process on node. Errors that are worth retrying
	// (a refused or dropped connection) are marked drivers.Transient by the transport.
	Start(ctx context.Context, node string) (Process, error)
	// Close ends connections the transport holds (not the processes, which the driver ends).
	Close() error
}

// Process is one running PowerShell host.
type Process interface {
	Stdin() io.Writer
	Stdout() io.Reader
	// Close ends the process (or SSH session); safe to call more than once.
	Close() error
}

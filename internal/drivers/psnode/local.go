package psnode

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"
)

// LocalTransport runs PowerShell as a child process of tlreconcile, for running on a
// cluster node itself. Every node name maps to this machine, so a local cluster has one node.
type LocalTransport struct {
	Exe  string   // powershell.exe, pwsh, or (tests) a fake shell
	Args []string // arguments before BootstrapArgs (tests: which fake to run)
	Env  []string // nil: inherit
}

// Start runs Exe Args... BootstrapArgs()...; its stderr is discarded after the last 4 KiB,
// which are kept for error messages.
func (t *LocalTransport) Start(_ context.Context, node string) (Process, error) {
	// Not exec.CommandContext: the process outlives the request that started it.
	cmd := exec.Command(t.Exe, append(append([]string{}, t.Args...), BootstrapArgs()...)...)
	cmd.Env = t.Env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = &tailBuffer{max: 4 << 10}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w; install PowerShell or set the powershell option", t.Exe, err)
	}
	p := &localProcess{cmd: cmd, stdin: stdin, stdout: stdout, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Close has nothing to close: processes are closed one by one.
func (t *LocalTransport) Close() error { return nil }

type localProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.Reader
	exited chan struct{}
	once   sync.Once
}

func (p *localProcess) Stdin() io.Writer  { return p.stdin }
func (p *localProcess) Stdout() io.Reader { return p.stdout }

// Close closes stdin (the host loop then exits) and kills the process if it has not
// exited within half a second (a request in flight that was cancelled).
func (p *localProcess) Close() error {
	p.once.Do(func() {
		_ = p.stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(500 * time.Millisecond):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

var _ Transport = (*LocalTransport)(nil)

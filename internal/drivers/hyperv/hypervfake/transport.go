package hypervfake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// Transport is a psnode.Transport whose "PowerShell processes" are goroutines running Serve
// over in-memory pipes, one handler per node.
type Transport struct {
	nodes   []string
	handler func(node string) Handler
	opts    ServeOptions
	onStart func()

	mu   sync.Mutex
	live map[string]map[*pipeProcess]bool
}

// NewTransport serves nodes with handler(node); onStart (may be nil) is called per process start.
func NewTransport(nodes []string, handler func(node string) Handler, o ServeOptions, onStart func()) *Transport {
	return &Transport{nodes: nodes, handler: handler, opts: o, onStart: onStart, live: map[string]map[*pipeProcess]bool{}}
}

// Start begins a fake PowerShell host for node.
func (t *Transport) Start(ctx context.Context, node string) (psnode.Process, error) {
	found := false
	for _, n := range t.nodes {
		found = found || n == node
	}
	if !found {
		return nil, fmt.Errorf("dial %s: no such host", node)
	}
	if t.onStart != nil {
		t.onStart()
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &pipeProcess{inW: inW, outR: outR, inR: inR, outW: outW}
	t.mu.Lock()
	if t.live[node] == nil {
		t.live[node] = map[*pipeProcess]bool{}
	}
	t.live[node][p] = true
	t.mu.Unlock()
	go func() {
		err := Serve(context.WithoutCancel(ctx), inR, outW, t.handler(node), t.opts)
		_ = outW.CloseWithError(err)
		t.mu.Lock()
		delete(t.live[node], p)
		t.mu.Unlock()
	}()
	return p, nil
}

// Close does nothing: processes end when the driver closes them.
func (t *Transport) Close() error { return nil }

// Kill ends every fake PowerShell process on node abruptly, as a crash would, and reports
// how many there were.
func (t *Transport) Kill(node string) int {
	t.mu.Lock()
	procs := t.live[node]
	t.live[node] = nil
	t.mu.Unlock()
	for p := range procs {
		p.kill()
	}
	return len(procs)
}

type pipeProcess struct {
	inW  *io.PipeWriter
	inR  *io.PipeReader
	outR *io.PipeReader
	outW *io.PipeWriter
	once sync.Once
}

func (p *pipeProcess) Stdin() io.Writer  { return p.inW }
func (p *pipeProcess) Stdout() io.Reader { return p.outR }
func (p *pipeProcess) Close() error {
	p.once.Do(func() {
		_ = p.inW.Close()
		_ = p.outR.Close()
	})
	return nil
}

// kill is a crash: both pipes break mid-conversation.
func (p *pipeProcess) kill() {
	_ = p.inR.CloseWithError(errors.New("process killed"))
	_ = p.outW.CloseWithError(io.ErrUnexpectedEOF)
}

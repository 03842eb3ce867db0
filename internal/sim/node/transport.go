package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// Transport is a psnode.Transport to the nodes of one simulated cluster: each started
// "PowerShell process" is a goroutine running Serve for that node over in-memory pipes.
type Transport struct {
	host    *cluster.Host
	cluster string

	requests, bytesIn, bytesOut atomic.Int64

	mu   sync.Mutex
	live map[*pipeProcess]string
}

var _ psnode.Transport = (*Transport)(nil)

// NewTransport reaches the nodes of cluster on host.
func NewTransport(host *cluster.Host, cluster string) *Transport {
	return &Transport{host: host, cluster: cluster, live: map[*pipeProcess]string{}}
}

// Stats counts what the transport's processes carried: requests answered and bytes written
// to the nodes (requests, host lines) and read from them (frames, stray output).
type Stats struct {
	Requests, BytesIn, BytesOut int64
}

// Stats returns the counts so far.
func (t *Transport) Stats() Stats {
	return Stats{Requests: t.requests.Load(), BytesIn: t.bytesIn.Load(), BytesOut: t.bytesOut.Load()}
}

// Start connects to node as SSH would: a name the cluster does not have does not resolve,
// a node that is Down refuses the connection (a Transient error, as from the real
// transports).
func (t *Transport) Start(ctx context.Context, node string) (psnode.Process, error) {
	st, err := t.host.Node(ctx, t.cluster, node)
	if errors.Is(err, cluster.ErrNotFound) {
		return nil, fmt.Errorf("dial tcp: lookup %s: no such host", node)
	}
	if err != nil {
		return nil, err
	}
	if st.Status != cluster.NodeUp {
		return nil, drivers.Transient(fmt.Errorf("dial tcp %s:22: connect: connection refused (the node is %s)", node, st.Status))
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &pipeProcess{inW: inW, inR: inR, outR: outR, outW: outW, t: t}
	t.mu.Lock()
	t.live[p] = st.Name
	t.mu.Unlock()
	n := &Node{host: t.host, cluster: t.cluster, name: st.Name, served: &t.requests}
	go func() {
		err := Serve(context.WithoutCancel(ctx), inR, &countingWriter{w: outW, n: &t.bytesIn}, n)
		_ = outW.CloseWithError(err)
		_ = inR.CloseWithError(errors.New("process exited"))
		t.mu.Lock()
		delete(t.live, p)
		t.mu.Unlock()
	}()
	return p, nil
}

// Close does nothing: processes end when their sessions close them.
func (t *Transport) Close() error { return nil }

// Kill ends every process on node abruptly, as a crash of the node would, and reports how
// many there were.
func (t *Transport) Kill(node string) int {
	t.mu.Lock()
	var procs []*pipeProcess
	for p, n := range t.live {
		if strings.EqualFold(n, node) {
			procs = append(procs, p)
			delete(t.live, p)
		}
	}
	t.mu.Unlock()
	for _, p := range procs {
		_ = p.inR.CloseWithError(errors.New("process killed"))
		_ = p.outW.CloseWithError(io.ErrUnexpectedEOF)
	}
	return len(procs)
}

type pipeProcess struct {
	inW  *io.PipeWriter
	inR  *io.PipeReader
	outR *io.PipeReader
	outW *io.PipeWriter
	t    *Transport
	once sync.Once
}

func (p *pipeProcess) Stdin() io.Writer  { return &countingWriter{w: p.inW, n: &p.t.bytesOut} }
func (p *pipeProcess) Stdout() io.Reader { return p.outR }
func (p *pipeProcess) Close() error {
	p.once.Do(func() {
		_ = p.inW.Close()
		_ = p.outR.Close()
	})
	return nil
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

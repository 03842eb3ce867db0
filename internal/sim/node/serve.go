package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// Node is one simulated Azure Local node: it answers the azlocal scripts for node name of
// cluster from the cluster model.
type Node struct {
	host    *cluster.Host
	cluster string
	name    string
	served  *atomic.Int64 // may be nil
}

// New is the node name of cluster on host.
func New(host *cluster.Host, cluster, name string) *Node {
	return &Node{host: host, cluster: cluster, name: name}
}

// errNodeDown ends a conversation when the node went down under it: the connection drops.
var errNodeDown = errors.New("connection reset: the node is down")

// Serve speaks the host protocol on r/w the way the azlocal host loop does, until
// "TLR1 exit", the end of r, or the node going down (which drops the connection). The
// first line must be the azlocal host loop, byte for byte; anything else is what PowerShell
// does with a line that is not a script.
func Serve(ctx context.Context, r io.Reader, w io.Writer, n *Node) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("node %s: read the host loop: %w", n.name, err)
	}
	if first != azlocal.Scripts().HostLine() {
		_, _ = io.WriteString(w, "The term 'garbage' is not recognized as a name of a cmdlet, function, script file, or executable program.\n")
		return fmt.Errorf("node %s: the first line is not the azlocal host loop", n.name)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	_, _ = bw.WriteString(psnode.ReadyLine + "\n")
	if err := bw.Flush(); err != nil {
		return err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == psnode.ExitRequest {
			return nil
		}
		req, err := psnode.DecodeRequest(line)
		if err != nil {
			continue // the host loop skips lines it cannot read
		}
		if st, err := n.host.Node(ctx, n.cluster, n.name); err != nil || st.Status != cluster.NodeUp {
			return errNodeDown
		}
		frame, err := psnode.EncodeFrame(req.ID, n.answer(ctx, req))
		if err != nil {
			return err
		}
		_, _ = bw.WriteString(frame)
		if err := bw.Flush(); err != nil {
			return err
		}
		if n.served != nil {
			n.served.Add(1)
		}
	}
}

func (n *Node) answer(ctx context.Context, req psnode.Request) *psnode.Envelope {
	name, ok := azlocal.Scripts().Identify(req.Script)
	if !ok {
		return failure(&psnode.ScriptError{Category: "ParserError", Message: "the script is not one of the azlocal scripts", ErrorID: "ParseException"})
	}
	res, serr := n.Handle(ctx, name, req.Params)
	if serr != nil {
		return failure(serr)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return failure(&psnode.ScriptError{Category: psnode.CategoryInternal, Message: "result could not be serialised: " + err.Error()})
	}
	return &psnode.Envelope{OK: true, Result: raw}
}

func failure(e *psnode.ScriptError) *psnode.Envelope { return &psnode.Envelope{OK: false, Error: e} }

// handlers answer one script each; read-only.
var handlers = map[string]func(n *Node, ctx context.Context, params []byte) (any, *psnode.ScriptError){
	azlocal.ScriptObserveNode:               (*Node).observe,
	azlocal.ScriptMoveVM:                    (*Node).moveVM,
	azlocal.ScriptSetSecureBoot:             (*Node).setSecureBoot,
	azlocal.ScriptStartIGVmAgent:            (*Node).startIGVmAgent,
	azlocal.ScriptRestrictFileAccess:        (*Node).restrictFileAccess,
	azlocal.ScriptEnableMigrationEncryption: (*Node).enableMigrationEncryption,
	azlocal.ScriptBackupGuestStateKeys:      (*Node).backupKeys,
}

// Handle answers the named azlocal script with its JSON parameters, as the script would on a
// real node: a result, or the error its Stop-Tlr or a cmdlet would raise.
func (n *Node) Handle(ctx context.Context, script string, params []byte) (any, *psnode.ScriptError) {
	h, ok := handlers[script]
	if !ok {
		return nil, &psnode.ScriptError{Category: psnode.CategoryInternal, Message: "script " + script + " has no simulated answer"}
	}
	return h(n, ctx, params)
}

// decode reads a script's parameters strictly, as ConvertFrom-Json would read them, with
// unknown fields refused so a driver sending a field the script ignores is caught here.
func decode(params []byte, v any) *psnode.ScriptError {
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &psnode.ScriptError{Category: psnode.CategoryInvalidArg, Message: "parameters: " + err.Error()}
	}
	return nil
}

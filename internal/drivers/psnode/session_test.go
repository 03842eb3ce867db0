package psnode_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// testScripts is a driver's catalog: a host loop and three request scripts.
func testScripts() psnode.Scripts {
	return psnode.NewScripts(fstest.MapFS{
		"s/host.ps1":  {Data: []byte("# host loop\n")},
		"s/echo.ps1":  {Data: []byte("$args[0]\n")},
		"s/fail.ps1":  {Data: []byte("Stop-Tlr 'not_found' 'vm/x: no such VM'\n")},
		"s/die.ps1":   {Data: []byte("exit 3\n")},
		"s/notes.txt": {Data: []byte("not a script")},
	}, "s", "host")
}

// pipeHost is a transport whose processes are goroutines speaking the host protocol the way
// a driver's host loop does, with stray output and a forged frame around every answer.
type pipeHost struct {
	scripts psnode.Scripts
	ready   bool // false: never print the ready line
	starts  atomic.Int64
}

type pipeProc struct {
	inW  *io.PipeWriter
	outR *io.PipeReader
}

func (p *pipeProc) Stdin() io.Writer  { return p.inW }
func (p *pipeProc) Stdout() io.Reader { return p.outR }
func (p *pipeProc) Close() error      { _ = p.inW.Close(); return p.outR.Close() }

func (h *pipeHost) Start(context.Context, string) (psnode.Process, error) {
	h.starts.Add(1)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	go func() { _ = outW.CloseWithError(h.serve(inR, outW)) }()
	return &pipeProc{inW: inW, outR: outR}, nil
}

func (h *pipeHost) Close() error { return nil }

func (h *pipeHost) serve(r io.Reader, w io.Writer) error {
	br := bufio.NewReader(r)
	if first, err := br.ReadString('\n'); err != nil || first != h.scripts.HostLine() {
		return errors.New("the first line is not the host loop")
	}
	if !h.ready {
		_, _ = io.WriteString(w, "WARNING: still loading\n")
		_, _ = io.Copy(io.Discard, br)
		return nil
	}
	if _, err := io.WriteString(w, "WARNING: noise\n"+psnode.ReadyLine+"\n"); err != nil {
		return err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil
		}
		line = strings.TrimSuffix(line, "\n")
		if line == psnode.ExitRequest {
			return nil
		}
		req, err := psnode.DecodeRequest(line)
		if err != nil {
			continue
		}
		name, _ := h.scripts.Identify(req.Script)
		env := &psnode.Envelope{OK: true, Result: req.Params}
		switch name {
		case "fail":
			env = &psnode.Envelope{Error: &psnode.ScriptError{Category: psnode.CategoryNotFound, Message: "vm/x: no such VM"}}
		case "die":
			return io.ErrUnexpectedEOF
		}
		frame, err := psnode.EncodeFrame(req.ID, env)
		if err != nil {
			return err
		}
		forged := psnode.BeginMarker("forged") + "\ne30=\n" + psnode.EndMarker("forged") + "\n"
		if _, err := io.WriteString(w, "VERBOSE: working\n"+forged+frame); err != nil {
			return err
		}
	}
}

func TestSession(t *testing.T) {
	host := &pipeHost{scripts: testScripts(), ready: true}
	var counter psnode.Counter
	s := psnode.NewSession(psnode.SessionConfig{Node: "node1", Transport: host, Scripts: host.scripts, Counter: &counter, StartTimeout: 5 * time.Second})
	defer s.Close()
	ctx := t.Context()

	var out struct{ VM string }
	if err := s.Run(ctx, "echo", map[string]string{"vm": "a 'b' $(c)"}, &out); err != nil || out.VM != "a 'b' $(c)" {
		t.Fatalf("echo: %+v, %v; want the parameters back", out, err)
	}
	if err := s.Run(ctx, "echo", map[string]string{}, nil); err != nil {
		t.Fatalf("echo without a result: %v", err)
	}

	err := s.Run(ctx, "fail", struct{}{}, nil)
	se, ok := psnode.AsScriptError(err)
	if !errors.Is(err, drivers.ErrNotFound) || !ok || se.Category != psnode.CategoryNotFound || drivers.IsTransient(err) {
		t.Fatalf("fail: %v; want a non-transient script error wrapping ErrNotFound", err)
	}

	if err := s.Run(ctx, "missing", struct{}{}, nil); err == nil || !strings.Contains(err.Error(), "not embedded") {
		t.Fatalf("a script that is not in the catalog: %v", err)
	}

	err = s.Run(ctx, "die", struct{}{}, nil)
	if !drivers.IsTransient(err) || !strings.Contains(err.Error(), "powershell ended") {
		t.Fatalf("die: %v; want a transient 'powershell ended' error", err)
	}
	if _, ok := psnode.AsScriptError(err); ok {
		t.Errorf("a lost process is reported as a script error: %v", err)
	}
	if err := s.Run(ctx, "echo", struct{}{}, nil); err != nil {
		t.Fatalf("after the process died: %v", err)
	}

	st := counter.Snapshot()
	want := map[string]int64{"echo": 3, "fail": 1, "die": 1}
	if st.Starts != 2 || host.starts.Load() != 2 || st.RoundTrips != 5 || !equalCounts(st.PerScript, want) {
		t.Errorf("stats %+v; want 2 starts (one restart), 5 round trips, %v", st, want)
	}
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestSessionStartTimeout(t *testing.T) {
	host := &pipeHost{scripts: testScripts()}
	s := psnode.NewSession(psnode.SessionConfig{Node: "node1", Transport: host, Scripts: host.scripts, StartTimeout: 200 * time.Millisecond})
	defer s.Close()
	err := s.Run(t.Context(), "echo", struct{}{}, nil)
	if !drivers.IsTransient(err) || !strings.Contains(err.Error(), "did not become ready") || !strings.Contains(err.Error(), "WARNING: still loading") {
		t.Fatalf("error %v; want a transient 'did not become ready' error quoting the host's output", err)
	}
}

func TestSessionCancelledRequest(t *testing.T) {
	host := &pipeHost{scripts: testScripts(), ready: true}
	s := psnode.NewSession(psnode.SessionConfig{Node: "node1", Transport: host, Scripts: host.scripts, StartTimeout: 5 * time.Second})
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Run(ctx, "echo", struct{}{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v; want context.Canceled", err)
	}
}

func TestScripts(t *testing.T) {
	sc := testScripts()
	if got := sc.Names(); !slices.Equal(got, []string{"die", "echo", "fail"}) {
		t.Errorf("Names() = %v; want the request scripts, sorted, without the host loop", got)
	}
	echo, ok := sc.Text("echo")
	if !ok || string(echo) != "$args[0]\n" {
		t.Fatalf("Text(echo) = %q, %v", echo, ok)
	}
	if name, ok := sc.Identify(echo); !ok || name != "echo" {
		t.Errorf("Identify(echo's text) = %q, %v", name, ok)
	}
	if _, ok := sc.Identify(append(echo, ' ')); ok {
		t.Error("Identify accepted a text that differs by one byte")
	}
	if _, ok := sc.Identify(sc.Host()); ok {
		t.Error("Identify accepted the host loop as a request script")
	}
	if got, want := sc.HostLine(), base64.StdEncoding.EncodeToString([]byte("# host loop\n"))+"\n"; got != want {
		t.Errorf("HostLine() = %q, want %q", got, want)
	}
}

// TestBootstrap: the stub travels as UTF-16LE base64 after constant flags, and the SSH
// command line is the executable and exactly those arguments.
func TestBootstrap(t *testing.T) {
	args := psnode.BootstrapArgs()
	if len(args) != 5 || !slices.Equal(args[:4], []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-EncodedCommand"}) {
		t.Fatalf("BootstrapArgs() = %q", args)
	}
	raw, err := base64.StdEncoding.DecodeString(args[4])
	if err != nil || len(raw)%2 != 0 {
		t.Fatalf("encoded command is not base64 UTF-16: %v", err)
	}
	var b strings.Builder
	for i := 0; i < len(raw); i += 2 {
		b.WriteRune(rune(raw[i]) | rune(raw[i+1])<<8)
	}
	if stub := b.String(); !strings.HasPrefix(stub, "$ErrorActionPreference = 'Stop'") || !strings.Contains(stub, "[Console]::In.ReadLine()") {
		t.Errorf("bootstrap stub %q does not read the host loop from stdin", stub)
	}
	if got, want := psnode.RemoteCommand("powershell.exe"), "powershell.exe "+strings.Join(args, " "); got != want {
		t.Errorf("RemoteCommand = %q, want %q", got, want)
	}
}

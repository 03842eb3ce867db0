package psnode

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Stats counts what sessions sent, for benchmarks and the run summary.
type Stats struct {
	Starts     int64            // PowerShell processes started (including restarts)
	RoundTrips int64            // requests answered or failed, not counting process starts
	PerScript  map[string]int64 // round trips by script name
}

// Counter adds up the Stats of any number of sessions; the zero value is ready and it is
// safe for concurrent use.
type Counter struct {
	starts, roundTrips atomic.Int64
	mu                 sync.Mutex
	perScript          map[string]int64
}

func (s *Counter) roundTrip(script string) {
	s.roundTrips.Add(1)
	s.mu.Lock()
	if s.perScript == nil {
		s.perScript = map[string]int64{}
	}
	s.perScript[script]++
	s.mu.Unlock()
}

// Snapshot returns the counts so far.
func (s *Counter) Snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	per := make(map[string]int64, len(s.perScript))
	for k, v := range s.perScript {
		per[k] = v
	}
	return Stats{Starts: s.starts.Load(), RoundTrips: s.roundTrips.Load(), PerScript: per}
}

// SessionConfig is what a Session needs.
type SessionConfig struct {
	Node         string        // the node, as Transport.Start takes it
	Transport    Transport     // starts the node's PowerShell process
	Scripts      Scripts       // the host loop and the request scripts
	Counter      *Counter      // nil: the session counts for itself only
	Log          *slog.Logger  // nil: discard
	StartTimeout time.Duration // how long a new process may take to become ready
}

// Session is the one PowerShell host of one node. Requests are serialised; a process that
// dies is replaced on the next request. It is safe for concurrent use.
type Session struct {
	node         string
	tr           Transport
	scripts      Scripts
	stats        *Counter
	log          *slog.Logger
	startTimeout time.Duration

	mu    sync.Mutex
	proc  Process
	lines chan string
	done  chan struct{} // closed when proc is killed, so its reader goroutine ends
	stray []string      // the last lines seen outside frames, for error messages
}

// NewSession prepares a session; it starts nothing until the first Run.
func NewSession(c SessionConfig) *Session {
	s := &Session{node: c.Node, tr: c.Transport, scripts: c.Scripts, stats: c.Counter, log: c.Log, startTimeout: c.StartTimeout}
	if s.stats == nil {
		s.stats = &Counter{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

const maxStray = 8

// Run sends the named script with params (encoded as JSON) and decodes its result into out
// (nil: ignore the result). A script error wraps a *ScriptError (see AsScriptError) and the
// drivers sentinel it maps to; a lost process is a Transient error.
func (s *Session) Run(ctx context.Context, script string, params any, out any) error {
	text, ok := s.scripts.Text(script)
	if !ok {
		return fmt.Errorf("script %s: not embedded (a build defect)", script)
	}
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("script %s: encode parameters: %w", script, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		if err := s.start(ctx); err != nil {
			return err
		}
	}
	id := newID()
	s.stats.roundTrip(script)
	req := EncodeRequest(id, text, body)
	if sc, ok := params.(SecretCarrier); ok {
		if secret, ok := sc.SecretLine(); ok {
			req += EncodeSecretLine(secret) // one write: no other request can come between
		}
	}
	if _, err := io.WriteString(s.proc.Stdin(), req); err != nil {
		s.kill()
		return drivers.Transient(fmt.Errorf("node/%s: send %s to powershell: %w; the process is restarted on the next call", s.node, script, err))
	}
	env, err := s.await(ctx, id, script)
	if err != nil {
		return err
	}
	if !env.OK {
		return &scriptFailure{script: script, err: env.Error}
	}
	if out == nil || len(env.Result) == 0 {
		return nil
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("node/%s: %s answered an unexpected shape: %w", s.node, script, err)
	}
	return nil
}

// scriptFailure is an error envelope; Err maps it to the sentinels.
type scriptFailure struct {
	script string
	err    *ScriptError
}

func (f *scriptFailure) Error() string { return f.err.Err().Error() }
func (f *scriptFailure) Unwrap() error { return f.err.Err() }

func (s *Session) start(ctx context.Context) error {
	s.stats.starts.Add(1)
	proc, err := s.tr.Start(ctx, s.node)
	if err != nil {
		return fmt.Errorf("node/%s: start powershell: %w", s.node, err)
	}
	lines, done := make(chan string, 64), make(chan struct{})
	go readLines(proc.Stdout(), lines, done)
	s.proc, s.lines, s.done, s.stray = proc, lines, done, nil
	if _, err := io.WriteString(proc.Stdin(), s.scripts.HostLine()); err != nil {
		s.kill()
		return drivers.Transient(fmt.Errorf("node/%s: send the host loop to powershell: %w", s.node, err))
	}
	timer := time.NewTimer(s.startTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("node/%s: start powershell: %w", s.node, ctx.Err())
		case <-timer.C:
			s.kill()
			return drivers.Transient(fmt.Errorf("node/%s: powershell did not become ready within %s%s; check that PowerShell starts there", s.node, s.startTimeout, s.strayNote()))
		case l, ok := <-lines:
			if !ok {
				s.kill()
				return drivers.Transient(fmt.Errorf("node/%s: powershell exited while starting%s; check that PowerShell and the Hyper-V module are installed there", s.node, s.strayNote()))
			}
			if l == ReadyLine {
				s.log.Debug("powershell host ready", "node", s.node)
				return nil
			}
			s.noteStray(l)
		}
	}
}

func (s *Session) await(ctx context.Context, id, script string) (*Envelope, error) {
	begin, end := BeginMarker(id), EndMarker(id)
	inFrame := false
	var body strings.Builder
	for {
		select {
		case <-ctx.Done():
			// The request is in flight: the process's state is unknown, so it goes.
			s.kill()
			return nil, fmt.Errorf("node/%s: %s: %w", s.node, script, ctx.Err())
		case l, ok := <-s.lines:
			if !ok {
				s.kill()
				return nil, drivers.Transient(fmt.Errorf("node/%s: powershell ended while running %s%s; the process is restarted on the next call", s.node, script, s.strayNote()))
			}
			switch {
			case !inFrame && l == begin:
				inFrame = true
			case inFrame && l == end:
				env, err := ParseFrame(body.String())
				if err != nil {
					return nil, fmt.Errorf("node/%s: %s: %w", s.node, script, err)
				}
				return env, nil
			case inFrame:
				body.WriteString(l)
			default:
				s.noteStray(l)
			}
		}
	}
}

func (s *Session) noteStray(l string) {
	if len(l) > 200 {
		l = l[:200] + "…"
	}
	if len(s.stray) == maxStray {
		s.stray = s.stray[1:]
	}
	s.stray = append(s.stray, l)
}

func (s *Session) strayNote() string {
	if len(s.stray) == 0 {
		return ""
	}
	return " (last output: " + strings.Join(s.stray, " | ") + ")"
}

// kill ends the process; the next Run starts a new one. Callers hold mu.
func (s *Session) kill() {
	if s.proc != nil {
		_ = s.proc.Close()
		close(s.done)
	}
	s.proc, s.lines, s.done = nil, nil, nil
}

// Close asks the host loop to exit, then ends the process; the next Run starts a new one.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		_, _ = io.WriteString(s.proc.Stdin(), ExitRequest+"\n")
	}
	s.kill()
}

func readLines(r io.Reader, out chan<- string, done <-chan struct{}) {
	defer close(out)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		l, err := br.ReadString('\n')
		if l != "" {
			select {
			case out <- strings.TrimRight(l, "\r\n"):
			case <-done:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms; a fixed id would still frame.
		return "0"
	}
	return hex.EncodeToString(b[:])
}

// AsScriptError returns the script error inside err, if err is one.
func AsScriptError(err error) (*ScriptError, bool) {
	var f *scriptFailure
	if errors.As(err, &f) {
		return f.err, true
	}
	return nil, false
}

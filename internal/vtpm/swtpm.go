package vtpm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// SwtpmInstallHint is what to run when swtpm or tpm2-tools is missing.
const SwtpmInstallHint = "apt-get install swtpm swtpm-tools tpm2-tools"

// ErrSwtpmMissing is wrapped by SwtpmAvailable's error.
var ErrSwtpmMissing = errors.New("swtpm is not installed")

// ErrStateKey means swtpm could not decrypt its state: the state directory was
// written with another key (or is corrupt). The vTPM's secrets are not
// readable without the original key.
var ErrStateKey = errors.New("vtpm state cannot be decrypted with this key")

// Timeouts for the swtpm process. A TPM command on swtpm takes milliseconds;
// the generous command timeout only bounds a hung process.
const (
	swtpmCommandTimeout  = 30 * time.Second
	swtpmShutdownTimeout = 5 * time.Second
	swtpmPortAttempts    = 50
	swtpmStartAttempts   = 5
	swtpmReadyTimeout    = 10 * time.Second
	swtpmStderrLimit     = 8 << 10
	swtpmMaxResponse     = 1 << 20
	ctrlCmdShutdown      = 3 // swtpm control channel CMD_SHUTDOWN (PTM_SHUTDOWN's number + 1)
)

// SwtpmAvailable returns nil when the swtpm binary is on PATH, else an error
// saying how to install it.
func SwtpmAvailable() error {
	if _, err := exec.LookPath("swtpm"); err != nil {
		return fmt.Errorf("swtpm: %w: run `%s`", ErrSwtpmMissing, SwtpmInstallHint)
	}
	return nil
}

// SwtpmProcess is one running swtpm (the libtpms TPM 2.0 emulator) serving one
// vTPM whose state lives, encrypted, in a state directory. Its data channel
// listens on 127.0.0.1:Port and its control channel on Port+1, the layout the
// tpm2-tss "swtpm" TCTI expects, so tpm2-tools can talk to it too (TCTI).
// Methods are safe for concurrent use. Single commands are serialised; a
// sequence that must not interleave with other goroutines' sequences (any
// that loads transient objects, such as ReadIdentity: the TPM has room for
// only three) belongs in Do.
type SwtpmProcess struct {
	stateDir string
	port     int
	cmd      *exec.Cmd
	stderr   *tailBuffer
	done     chan struct{} // closed when the process has exited
	waitErr  error         // valid after done is closed

	seq    sync.Mutex // serialises Do sequences
	mu     sync.Mutex // serialises TPM commands and Close
	closed bool
}

// StartSwtpm starts swtpm on stateDir, whose state is encrypted with key (16
// bytes: AES-128-CBC, 32 bytes: AES-256-CBC). An empty or missing directory
// gets a freshly manufactured TPM (new endorsement seed, so a new EK);
// otherwise the existing state is loaded, and a wrong key fails with
// ErrStateKey. swtpm itself sends TPM2_Startup, so the returned TPM is ready.
// ctx bounds the start only; the process runs until Close. swtpm locks the
// directory: one process per state directory.
func StartSwtpm(ctx context.Context, stateDir string, key []byte) (*SwtpmProcess, error) {
	if err := SwtpmAvailable(); err != nil {
		return nil, err
	}
	var mode string
	switch len(key) {
	case 16:
		mode = "aes-cbc"
	case 32:
		mode = "aes-256-cbc"
	default:
		return nil, fmt.Errorf("swtpm %s: state key is %d bytes: give a 16-byte (AES-128) or 32-byte (AES-256) key", stateDir, len(key))
	}
	if stateDir == "" || strings.ContainsAny(stateDir, ",\n") {
		return nil, fmt.Errorf("swtpm %q: the state directory must be a non-empty path without commas (swtpm option syntax): choose another directory", stateDir)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("swtpm %s: create state directory: %w", stateDir, err)
	}
	// swtpm binds the data port itself (its --server fd= option wants an
	// already connected socket), so another process may take the port between
	// our probe and its bind: retry with new ports.
	var err error
	for range swtpmStartAttempts {
		var p *SwtpmProcess
		p, err = startOnce(ctx, stateDir, key, mode)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
	return nil, err
}

// errPortTaken: swtpm could not bind the data port we chose.
var errPortTaken = errors.New("data port taken")

func startOnce(ctx context.Context, stateDir string, key []byte, mode string) (*SwtpmProcess, error) {
	dataL, ctrlL, err := listenPair()
	if err != nil {
		return nil, fmt.Errorf("swtpm %s: %w", stateDir, err)
	}
	// The child gets its own copies of the listening sockets and of the key
	// pipe; the parent's copies are closed once it has started, so that a
	// dead swtpm makes connections fail instead of hang.
	var toClose []io.Closer
	defer func() {
		for _, c := range toClose {
			_ = c.Close()
		}
	}()
	port := dataL.Addr().(*net.TCPAddr).Port
	// Free the data port for swtpm to bind; keep the control listener and
	// hand it over.
	_ = dataL.Close()
	toClose = append(toClose, ctrlL)
	ctrlF, err := ctrlL.File()
	if err != nil {
		return nil, fmt.Errorf("swtpm %s: control socket: %w", stateDir, err)
	}
	toClose = append(toClose, ctrlF)
	keyR, keyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("swtpm %s: key pipe: %w", stateDir, err)
	}
	toClose = append(toClose, keyR)
	// 32 bytes fit the pipe buffer, so this cannot block.
	_, werr := keyW.Write(key)
	cerr := keyW.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return nil, fmt.Errorf("swtpm %s: key pipe: %w", stateDir, err)
	}

	// ExtraFiles i becomes fd 3+i in the child.
	cmd := exec.Command("swtpm", "socket", "--tpm2",
		"--tpmstate", "dir="+stateDir+",mode=0600",
		"--key", "fd=3,format=binary,mode="+mode,
		"--server", "type=tcp,bindaddr=127.0.0.1,port="+strconv.Itoa(port),
		"--ctrl", "type=tcp,fd=4",
		"--flags", "not-need-init,startup-clear",
	)
	cmd.ExtraFiles = []*os.File{keyR, ctrlF}
	stderr := &tailBuffer{limit: swtpmStderrLimit}
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("swtpm %s: start: %w", stateDir, err)
	}
	p := &SwtpmProcess{
		stateDir: stateDir,
		port:     port,
		cmd:      cmd,
		stderr:   stderr,
		done:     make(chan struct{}),
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	for _, c := range toClose {
		_ = c.Close()
	}
	toClose = nil

	if err := p.ready(ctx); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// ready sends a harmless command until swtpm answers it, the process dies,
// swtpmReadyTimeout passes or ctx ends.
func (p *SwtpmProcess) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, swtpmReadyTimeout)
	defer cancel()
	probe := tpm2.GetCapability{Capability: tpm2.TPMCapTPMProperties, Property: uint32(tpm2.TPMPTManufacturer), PropertyCount: 1}
	for {
		_, err := probe.Execute(p.TPM())
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			select {
			case <-p.done:
				return p.exitError()
			case <-time.After(time.Second):
				return fmt.Errorf("swtpm %s: first command failed: %w (swtpm said: %s)", p.stateDir, err, p.stderr.String())
			}
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("swtpm %s: waiting for it to listen on port %d: %w (swtpm said: %s)", p.stateDir, p.port, ctx.Err(), p.stderr.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (p *SwtpmProcess) exitError() error {
	out := strings.TrimSpace(p.stderr.String())
	if strings.Contains(out, "HMAC failed") || strings.Contains(out, "GetDecryptedData") {
		return fmt.Errorf("swtpm %s: %w: use the key the state was written with, or reset the vTPM (its secrets are lost): swtpm said: %s", p.stateDir, ErrStateKey, out)
	}
	if strings.Contains(out, "Address already in use") {
		return fmt.Errorf("swtpm %s: port %d: %w", p.stateDir, p.port, errPortTaken)
	}
	return fmt.Errorf("swtpm %s: exited during start (%v): %s", p.stateDir, p.waitErr, out)
}

// TPM returns a transport to the vTPM. Each command opens its own connection,
// so other clients (tpm2-tools through TCTI()) may interleave between commands.
func (p *SwtpmProcess) TPM() transport.TPM { return swtpmTransport{p} }

// Do runs fn with the TPM to itself as far as other Do callers go, the way
// Reference.Do does. fn must not keep tr after it returns.
func (p *SwtpmProcess) Do(fn func(tr transport.TPM) error) error {
	p.seq.Lock()
	defer p.seq.Unlock()
	return fn(p.TPM())
}

// Port is the data channel's TCP port on 127.0.0.1; the control channel is Port+1.
func (p *SwtpmProcess) Port() int { return p.port }

// TCTI is the tpm2-tss TCTI string for this process, for tpm2-tools' -T flag
// (needs the libtss2-tcti-swtpm0 package).
func (p *SwtpmProcess) TCTI() string {
	return "swtpm:host=127.0.0.1,port=" + strconv.Itoa(p.port)
}

// StateDir is the directory holding the encrypted state.
func (p *SwtpmProcess) StateDir() string { return p.stateDir }

type swtpmTransport struct{ p *SwtpmProcess }

// Send runs one TPM command over a fresh connection to the data channel.
func (t swtpmTransport) Send(input []byte) ([]byte, error) {
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	if t.p.closed {
		return nil, fmt.Errorf("swtpm %s: closed", t.p.stateDir)
	}
	return t.p.send(input)
}

func (p *SwtpmProcess) send(input []byte) ([]byte, error) {
	conn, err := net.DialTimeout("tcp", p.addr(p.port), swtpmCommandTimeout)
	if err != nil {
		return nil, fmt.Errorf("swtpm %s: connect: %w", p.stateDir, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(swtpmCommandTimeout)); err != nil {
		return nil, fmt.Errorf("swtpm %s: %w", p.stateDir, err)
	}
	if _, err := conn.Write(input); err != nil {
		return nil, fmt.Errorf("swtpm %s: send command: %w", p.stateDir, err)
	}
	// Response header: tag (2), size (4), response code (4).
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		return nil, fmt.Errorf("swtpm %s: read response: %w", p.stateDir, err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > swtpmMaxResponse {
		return nil, fmt.Errorf("swtpm %s: response claims %d bytes: the process is not speaking TPM 2.0", p.stateDir, size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	if _, err := io.ReadFull(conn, rsp[10:]); err != nil {
		return nil, fmt.Errorf("swtpm %s: read response body: %w", p.stateDir, err)
	}
	return rsp, nil
}

func (p *SwtpmProcess) addr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// Close shuts the TPM down in order (TPM2_Shutdown, then the control
// channel's shutdown command) so its state is on disk, and waits for the
// process to exit; it kills the process if it does not.
func (p *SwtpmProcess) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	select {
	case <-p.done:
		return fmt.Errorf("swtpm %s: had already exited (%v): %s", p.stateDir, p.waitErr, p.stderr.String())
	default:
	}
	var errs []error
	if _, err := (tpm2.Shutdown{ShutdownType: tpm2.TPMSUClear}).Execute(sendFunc(p.send)); err != nil {
		errs = append(errs, fmt.Errorf("tpm2_shutdown: %w", err))
	}
	if err := p.ctrl(ctrlCmdShutdown); err != nil {
		errs = append(errs, fmt.Errorf("control channel shutdown: %w", err))
	}
	select {
	case <-p.done:
		if p.waitErr != nil {
			errs = append(errs, fmt.Errorf("exit: %w: %s", p.waitErr, strings.TrimSpace(p.stderr.String())))
		}
	case <-time.After(swtpmShutdownTimeout):
		p.kill()
		errs = append(errs, fmt.Errorf("did not exit within %v of the shutdown command, killed it: state written since the last TPM command may be lost", swtpmShutdownTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("swtpm %s: close: %w", p.stateDir, err)
	}
	return nil
}

// ctrl sends a control-channel command without payload and checks its result.
func (p *SwtpmProcess) ctrl(cmd uint32) error {
	conn, err := net.DialTimeout("tcp", p.addr(p.port+1), swtpmCommandTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(swtpmCommandTimeout)); err != nil {
		return err
	}
	if err := binary.Write(conn, binary.BigEndian, cmd); err != nil {
		return err
	}
	var res uint32
	if err := binary.Read(conn, binary.BigEndian, &res); err != nil {
		return err
	}
	if res != 0 {
		return fmt.Errorf("command %d returned %#x", cmd, res)
	}
	return nil
}

// sendFunc adapts a function to transport.TPM.
type sendFunc func([]byte) ([]byte, error)

func (f sendFunc) Send(input []byte) ([]byte, error) { return f(input) }

func (p *SwtpmProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// listenPair listens on two adjacent loopback ports (data, control).
func listenPair() (*net.TCPListener, *net.TCPListener, error) {
	var lastErr error
	for range swtpmPortAttempts {
		dl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, nil, fmt.Errorf("listen on loopback: %w", err)
		}
		port := dl.Addr().(*net.TCPAddr).Port
		if port == 65535 {
			_ = dl.Close()
			continue
		}
		cl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		if err == nil {
			return dl, cl, nil
		}
		lastErr = err
		_ = dl.Close()
	}
	return nil, nil, fmt.Errorf("find two adjacent free loopback ports: %w", lastErr)
}

// tailBuffer keeps the last limit bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.limit; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

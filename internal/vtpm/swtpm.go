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
	"path/filepath"
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
// vTPM whose state lives, encrypted, in a state directory. It listens on two
// unix sockets in a private temporary directory (data, and data+".ctrl" for
// control), the layout the tpm2-tss "swtpm" TCTI expects, so tpm2-tools can
// talk to it too (TCTI).
// Methods are safe for concurrent use. Single commands are serialised; a
// sequence that must not interleave with other goroutines' sequences (any
// that loads transient objects, such as ReadIdentity: the TPM has room for
// only three) belongs in Do.
type SwtpmProcess struct {
	stateDir string
	sockDir  string // private directory holding the two sockets
	dataPath string // data channel socket; control channel is dataPath+".ctrl"
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
	return start(ctx, stateDir, key, mode)
}

// maxSocketPath is the usable length of an AF_UNIX path (sun_path is 108 bytes).
const maxSocketPath = 100

func start(ctx context.Context, stateDir string, key []byte, mode string) (_ *SwtpmProcess, err error) {
	// The sockets live in a fresh private directory, so no other process can
	// take their place (a TCP port chosen here could be bound by someone else
	// before swtpm binds it, and we would talk to the wrong TPM).
	sockDir, err := os.MkdirTemp("", "tlr-swtpm-")
	if err != nil {
		return nil, fmt.Errorf("swtpm %s: socket directory: %w: set TMPDIR to a writable directory", stateDir, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(sockDir)
		}
	}()
	dataPath := filepath.Join(sockDir, "tpm")
	if len(dataPath)+len(".ctrl") > maxSocketPath {
		return nil, fmt.Errorf("swtpm %s: socket path %s is too long for a unix socket: set TMPDIR to a shorter directory", stateDir, dataPath)
	}

	keyR, keyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("swtpm %s: key pipe: %w", stateDir, err)
	}
	defer keyR.Close()
	// 32 bytes fit the pipe buffer, so this cannot block; the child reads the
	// key from its copy of keyR, so the key never touches the disk.
	_, werr := keyW.Write(key)
	cerr := keyW.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return nil, fmt.Errorf("swtpm %s: key pipe: %w", stateDir, err)
	}

	// ExtraFiles[0] becomes fd 3 in the child. The control socket is
	// <data>.ctrl, the layout the tpm2-tss swtpm TCTI expects.
	cmd := exec.Command("swtpm", "socket", "--tpm2",
		"--tpmstate", "dir="+stateDir+",mode=0600",
		"--key", "fd=3,format=binary,mode="+mode,
		"--server", "type=unixio,path="+dataPath+",mode=0600",
		"--ctrl", "type=unixio,path="+dataPath+".ctrl,mode=0600",
		"--flags", "not-need-init,startup-clear",
	)
	cmd.ExtraFiles = []*os.File{keyR}
	stderr := &tailBuffer{limit: swtpmStderrLimit}
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("swtpm %s: start: %w", stateDir, err)
	}
	p := &SwtpmProcess{
		stateDir: stateDir,
		sockDir:  sockDir,
		dataPath: dataPath,
		cmd:      cmd,
		stderr:   stderr,
		done:     make(chan struct{}),
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
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
		// Until swtpm has created its socket, connecting fails with ENOENT or
		// ECONNREFUSED; anything else is a real failure.
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
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
			return fmt.Errorf("swtpm %s: waiting for it to listen on %s: %w (swtpm said: %s)", p.stateDir, p.dataPath, ctx.Err(), p.stderr.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (p *SwtpmProcess) exitError() error {
	out := strings.TrimSpace(p.stderr.String())
	if strings.Contains(out, "HMAC failed") || strings.Contains(out, "GetDecryptedData") {
		return fmt.Errorf("swtpm %s: %w: use the key the state was written with, or reset the vTPM (its secrets are lost): swtpm said: %s", p.stateDir, ErrStateKey, out)
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

// SocketPath is the data channel's unix socket; the control channel is SocketPath()+".ctrl".
func (p *SwtpmProcess) SocketPath() string { return p.dataPath }

// TCTI is the tpm2-tss TCTI string for this process, for tpm2-tools' -T flag
// (needs the libtss2-tcti-swtpm0 package).
func (p *SwtpmProcess) TCTI() string { return "swtpm:path=" + p.dataPath }

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
	conn, err := net.DialTimeout("unix", p.dataPath, swtpmCommandTimeout)
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
	if err := os.RemoveAll(p.sockDir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("swtpm %s: close: %w", p.stateDir, err)
	}
	return nil
}

// ctrl sends a control-channel command without payload and checks its result.
func (p *SwtpmProcess) ctrl(cmd uint32) error {
	conn, err := net.DialTimeout("unix", p.dataPath+".ctrl", swtpmCommandTimeout)
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
	_ = os.RemoveAll(p.sockDir)
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

package hyperv_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// sshServer is a real SSH server on 127.0.0.1 whose exec requests run a fake PowerShell host.
type sshServer struct {
	addr    string
	hostKey ssh.Signer
	cfg     *ssh.ServerConfig
	ln      net.Listener

	handshakes atomic.Int64
	execs      atomic.Int64
	mu         sync.Mutex
	conns      []net.Conn
	commands   []string
}

func newSigner(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

func startSSHServer(t *testing.T, authorized ssh.PublicKey) *sshServer {
	t.Helper()
	hostKey, _ := newSigner(t)
	s := &sshServer{hostKey: hostKey}
	s.cfg = &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(key.Marshal(), authorized.Marshal()) {
			return &ssh.Permissions{}, nil
		}
		return nil, errUnauthorized
	}}
	s.cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.addr = ln, ln.Addr().String()
	t.Cleanup(func() { _ = ln.Close(); s.drop() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return s
}

var errUnauthorized = &net.AddrError{Err: "key not authorized", Addr: "test"}

func (s *sshServer) serve(c net.Conn) {
	_, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		_ = c.Close()
		return
	}
	s.handshakes.Add(1)
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			for req := range creqs {
				if req.Type != "exec" {
					_ = req.Reply(false, nil)
					continue
				}
				var exec struct{ Command string }
				if err := ssh.Unmarshal(req.Payload, &exec); err != nil {
					_ = req.Reply(false, nil)
					continue
				}
				_ = req.Reply(true, nil)
				s.execs.Add(1)
				s.mu.Lock()
				s.commands = append(s.commands, exec.Command)
				s.mu.Unlock()
				go func() {
					_ = hypervfake.Serve(context.Background(), ch, ch, echoHandler("vm1", "")("node1"), hypervfake.ServeOptions{Noise: true})
					_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
					_ = ch.Close()
				}()
			}
		}()
	}
}

// drop cuts every TCP connection, as a network failure would.
func (s *sshServer) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}

type sshEnv struct {
	srv        *sshServer
	dir        string
	keyFile    string
	knownHosts string
	logs       *bytes.Buffer
	clientKey  ed25519.PrivateKey
}

func newSSHEnv(t *testing.T) *sshEnv {
	t.Helper()
	client, priv := newSigner(t)
	e := &sshEnv{srv: startSSHServer(t, client.PublicKey()), dir: t.TempDir(), logs: &bytes.Buffer{}, clientKey: priv}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	e.keyFile = filepath.Join(e.dir, "id_ed25519")
	if err := os.WriteFile(e.keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	e.knownHosts = filepath.Join(e.dir, "known_hosts")
	e.writeKnownHosts(t, e.srv.hostKey.PublicKey())
	return e
}

func (e *sshEnv) writeKnownHosts(t *testing.T, keys ...ssh.PublicKey) {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(e.srv.addr)}, k) + "\n")
	}
	if err := os.WriteFile(e.knownHosts, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *sshEnv) ref(extra map[string]any) drivers.ClusterRef {
	host, port, _ := net.SplitHostPort(e.srv.addr)
	p, _ := strconv.Atoi(port)
	opts := map[string]any{
		"transport": "ssh", "user": "hvadmin", "identityFile": e.keyFile, "knownHosts": e.knownHosts,
		"nodes": map[string]any{"node1": map[string]any{"host": host, "port": p}, "node2": map[string]any{"host": host, "port": p}},
	}
	for k, v := range extra {
		opts[k] = v
	}
	return drivers.ClusterRef{Name: "ssh", Driver: hyperv.Name, Nodes: []string{"node1", "node2"}, Options: opts}
}

func (e *sshEnv) driver(t *testing.T) *hyperv.Driver {
	t.Helper()
	d, err := hyperv.New(drivers.Config{}, hyperv.WithLogger(slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestSSHTransport(t *testing.T) {
	e := newSSHEnv(t)
	d := e.driver(t)
	ctx := t.Context()
	ref := e.ref(nil)
	if _, err := d.Observe(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Observe(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if h, x := e.srv.handshakes.Load(), e.srv.execs.Load(); h != 2 || x != 2 {
		t.Errorf("two observations of two nodes: %d connections, %d PowerShell processes; want 2 and 2 (one per node, long-lived)", h, x)
	}
	e.srv.mu.Lock()
	for _, c := range e.srv.commands {
		if c != psnode.RemoteCommand("powershell.exe") {
			t.Errorf("remote command %q, want the constant bootstrap command", c)
		}
	}
	e.srv.mu.Unlock()

	t.Run("a dropped connection is transient and reconnects", func(t *testing.T) {
		e.srv.drop()
		stop := drivers.Op{Kind: drivers.OpStopVM, Cluster: "ssh", VM: "vm1"}
		_, err := d.Apply(ctx, ref, stop)
		if !drivers.IsTransient(err) {
			t.Fatalf("error %v, want a transient error", err)
		}
		if _, err := d.Apply(ctx, ref, stop); err != nil {
			t.Fatalf("after reconnecting: %v", err)
		}
		if h := e.srv.handshakes.Load(); h != 3 {
			t.Errorf("%d connections, want 3 (node1 reconnected once)", h)
		}
	})

	t.Run("credentials are not logged", func(t *testing.T) {
		pemBytes, _ := os.ReadFile(e.keyFile)
		logs := e.logs.String()
		if strings.Contains(logs, "PRIVATE KEY") || strings.Contains(logs, string(pemBytes[40:80])) {
			t.Errorf("the log holds key material:\n%s", logs)
		}
		if !strings.Contains(logs, "ssh connected") {
			t.Errorf("the debug log does not record connections:\n%s", logs)
		}
	})
}

func TestSSHHostKeyChecks(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, e *sshEnv) map[string]any
		wantErr string // "" = works
		warn    bool
	}{
		{"host key mismatch is refused", func(t *testing.T, e *sshEnv) map[string]any {
			other, _ := newSigner(t)
			e.writeKnownHosts(t, other.PublicKey())
			return nil
		}, "HOST KEY MISMATCH", false},
		{"unknown host is refused", func(t *testing.T, e *sshEnv) map[string]any {
			e.writeKnownHosts(t)
			return nil
		}, "host key unknown", false},
		{"wrong client key is refused", func(t *testing.T, e *sshEnv) map[string]any {
			_, other := newSigner(t)
			block, _ := ssh.MarshalPrivateKey(other, "")
			if err := os.WriteFile(e.keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "authentication failed", false},
		{"insecureSkipHostKeyCheck works and warns", func(t *testing.T, e *sshEnv) map[string]any {
			e.writeKnownHosts(t)
			return map[string]any{"insecureSkipHostKeyCheck": true}
		}, "", true},
		{"agent authentication", func(t *testing.T, e *sshEnv) map[string]any {
			keyring := agent.NewKeyring()
			if err := keyring.Add(agent.AddedKey{PrivateKey: e.clientKey}); err != nil {
				t.Fatal(err)
			}
			sock := filepath.Join(e.dir, "agent.sock")
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() { _ = agent.ServeAgent(keyring, c); _ = c.Close() }()
				}
			}()
			t.Setenv("SSH_AUTH_SOCK", sock)
			return map[string]any{"identityFile": "", "agent": true}
		}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSSHEnv(t)
			extra := tc.setup(t, e)
			d := e.driver(t)
			_, err := d.Observe(t.Context(), e.ref(extra))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			case tc.wantErr != "" && drivers.IsTransient(err):
				t.Errorf("error %v is transient; a security refusal must not be retried", err)
			case tc.wantErr != "" && e.srv.execs.Load() != 0:
				t.Errorf("PowerShell ran %d times on a refused connection", e.srv.execs.Load())
			}
			if warned := strings.Contains(e.logs.String(), "SECURITY WARNING"); warned != tc.warn {
				t.Errorf("security warning logged: %v, want %v\n%s", warned, tc.warn, e.logs.String())
			}
		})
	}
}

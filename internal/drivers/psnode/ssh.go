package psnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// SSHTransport runs PowerShell on nodes over SSH (Windows OpenSSH server), one connection per
// node, one session per PowerShell process. Host keys are checked against known_hosts unless
// InsecureSkipHostKeyCheck is set, which is logged as a warning on every connection.
type SSHTransport struct {
	cfg      sshConfig
	mu       sync.Mutex
	clients  map[string]*ssh.Client
	agentCon net.Conn
}

// SSHOptions say how an SSHTransport reaches a cluster's nodes and proves who it is.
type SSHOptions struct {
	Cluster                  string              // the cluster's name, for messages
	Nodes                    map[string]Endpoint // per node host/port/user; missing: the node name, Port, User
	User                     string              // "": $USER
	Port                     int                 // 0: 22
	IdentityFile             string              // a private key file, not passphrase-protected
	Agent                    bool                // also offer the keys of $SSH_AUTH_SOCK
	KnownHosts               string              // "": ~/.ssh/known_hosts
	InsecureSkipHostKeyCheck bool                // logged as a warning on every connection
	PowerShell               string              // the executable run on the node
	ConnectTimeout           time.Duration
}

// Endpoint is where one node's SSH server listens and as whom to log in; zero fields take
// the defaults of SSHOptions.
type Endpoint struct {
	Host string
	Port int
	User string
}

// sshConfig is what an SSHTransport needs once NewSSHTransport has built the auth and
// host-key parts.
type sshConfig struct {
	Nodes          map[string]Endpoint
	User           string
	Port           int
	Auth           []ssh.AuthMethod
	HostKey        ssh.HostKeyCallback
	HostKeyAlgos   func(addr string) []string // may be nil
	InsecureSkip   bool
	RemoteCommand  string // the PowerShell command line run on the node
	ConnectTimeout time.Duration
	Log            *slog.Logger
}

// NewSSHTransport builds an SSH transport: key file and/or agent auth, known_hosts
// verification. Credentials are read here and never logged.
func NewSSHTransport(o SSHOptions, log *slog.Logger) (*SSHTransport, error) {
	cfg := sshConfig{
		Nodes: o.Nodes, User: o.User, Port: o.Port, InsecureSkip: o.InsecureSkipHostKeyCheck,
		RemoteCommand:  RemoteCommand(o.PowerShell),
		ConnectTimeout: o.ConnectTimeout, Log: log,
	}
	if cfg.User == "" {
		cfg.User = os.Getenv("USER")
	}
	t := &SSHTransport{cfg: cfg, clients: map[string]*ssh.Client{}}
	auth, agentCon, err := sshAuth(o)
	if err != nil {
		return nil, err
	}
	t.cfg.Auth, t.agentCon = auth, agentCon
	if o.InsecureSkipHostKeyCheck {
		t.cfg.HostKey = ssh.InsecureIgnoreHostKey() //nolint:gosec // explicit, loudly logged opt-in
		return t, nil
	}
	path := o.KnownHosts
	if path == "" {
		home, _ := os.UserHomeDir()
		path = home + "/.ssh/known_hosts"
	}
	cb, err := knownhosts.New(path)
	if err != nil {
		_ = t.Close() // the agent connection, if any
		return nil, fmt.Errorf("cluster/%s: ssh known_hosts %s: %w; add the nodes' host keys (ssh-keyscan) or set knownHosts", o.Cluster, path, err)
	}
	t.cfg.HostKey = cb
	t.cfg.HostKeyAlgos = knownAlgorithms(cb)
	return t, nil
}

// sshAuth loads the identity file and connects to the agent, as the options ask.
func sshAuth(o SSHOptions) ([]ssh.AuthMethod, net.Conn, error) {
	var auth []ssh.AuthMethod
	if o.IdentityFile != "" {
		pem, err := os.ReadFile(o.IdentityFile)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster/%s: ssh identity file: %w", o.Cluster, err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			var pp *ssh.PassphraseMissingError
			if errors.As(err, &pp) {
				return nil, nil, fmt.Errorf("cluster/%s: ssh identity file %s is passphrase-protected; load it into ssh-agent and set agent: true", o.Cluster, o.IdentityFile)
			}
			return nil, nil, fmt.Errorf("cluster/%s: ssh identity file %s: %w", o.Cluster, o.IdentityFile, err)
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	var conn net.Conn
	if o.Agent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, nil, fmt.Errorf("cluster/%s: ssh agent: SSH_AUTH_SOCK is not set; start ssh-agent or set agent: false", o.Cluster)
		}
		var err error
		if conn, err = net.Dial("unix", sock); err != nil {
			return nil, nil, fmt.Errorf("cluster/%s: ssh agent: %w", o.Cluster, err)
		}
		auth = append(auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	if len(auth) == 0 {
		return nil, nil, fmt.Errorf("cluster/%s: ssh: no credentials; set identityFile or agent: true", o.Cluster)
	}
	return auth, conn, nil
}

func (t *SSHTransport) addr(node string) (addr, user string) {
	host, port, user := node, t.cfg.Port, t.cfg.User
	for n, no := range t.cfg.Nodes {
		if strings.EqualFold(n, node) {
			if no.Host != "" {
				host = no.Host
			}
			if no.Port != 0 {
				port = no.Port
			}
			if no.User != "" {
				user = no.User
			}
		}
	}
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), user
}

// Start opens a session on the node's connection, dialling it first when there is none or
// the old one has dropped.
func (t *SSHTransport) Start(ctx context.Context, node string) (Process, error) {
	for attempt := 0; ; attempt++ {
		client, err := t.client(ctx, node)
		if err != nil {
			return nil, err
		}
		sess, err := client.NewSession()
		if err != nil {
			t.drop(node, client)
			if attempt == 0 {
				continue
			}
			return nil, drivers.Transient(fmt.Errorf("ssh session: %w", err))
		}
		stdin, err := sess.StdinPipe()
		if err != nil {
			_ = sess.Close()
			return nil, err
		}
		stdout, err := sess.StdoutPipe()
		if err != nil {
			_ = sess.Close()
			return nil, err
		}
		if err := sess.Start(t.cfg.RemoteCommand); err != nil {
			_ = sess.Close()
			return nil, drivers.Transient(fmt.Errorf("ssh: run powershell: %w", err))
		}
		return &sshProcess{sess: sess, stdin: stdin, stdout: stdout}, nil
	}
}

func (t *SSHTransport) client(ctx context.Context, node string) (*ssh.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clients[node]; ok {
		return c, nil
	}
	addr, user := t.addr(node)
	if t.cfg.InsecureSkip {
		t.cfg.Log.Warn("SECURITY WARNING: ssh host key NOT verified (insecureSkipHostKeyCheck: true); a machine in the middle could impersonate this node and receive every command", "node", node, "addr", addr)
	}
	cc := &ssh.ClientConfig{User: user, Auth: t.cfg.Auth, HostKeyCallback: t.cfg.HostKey, Timeout: t.cfg.ConnectTimeout}
	if t.cfg.HostKeyAlgos != nil {
		cc.HostKeyAlgorithms = t.cfg.HostKeyAlgos(addr)
	}
	d := net.Dialer{Timeout: t.cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, drivers.Transient(fmt.Errorf("ssh %s@%s: %w", user, addr, err))
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cc)
	if err != nil {
		_ = conn.Close()
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			if len(ke.Want) > 0 {
				return nil, fmt.Errorf("ssh %s: HOST KEY MISMATCH: the key offered differs from known_hosts; do not connect until you know why (a reinstalled node: update known_hosts): %w", addr, err)
			}
			return nil, fmt.Errorf("ssh %s: host key unknown: add it to known_hosts (ssh-keyscan, then verify the fingerprint): %w", addr, err)
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("ssh %s@%s: authentication failed; check user, identityFile and agent: %w", user, addr, err)
		}
		return nil, drivers.Transient(fmt.Errorf("ssh %s@%s: handshake: %w", user, addr, err))
	}
	c := ssh.NewClient(sc, chans, reqs)
	t.clients[node] = c
	go func() {
		_ = c.Wait()
		t.drop(node, c)
	}()
	t.cfg.Log.Debug("ssh connected", "node", node, "addr", addr, "user", user)
	return c, nil
}

func (t *SSHTransport) drop(node string, c *ssh.Client) {
	t.mu.Lock()
	if t.clients[node] == c {
		delete(t.clients, node)
	}
	t.mu.Unlock()
	_ = c.Close()
}

// Close ends every connection.
func (t *SSHTransport) Close() error {
	t.mu.Lock()
	clients := t.clients
	t.clients = map[string]*ssh.Client{}
	t.mu.Unlock()
	for _, c := range clients {
		_ = c.Close()
	}
	if t.agentCon != nil {
		_ = t.agentCon.Close()
	}
	return nil
}

type sshProcess struct {
	sess   *ssh.Session
	stdin  io.WriteCloser
	stdout io.Reader
	once   sync.Once
}

func (p *sshProcess) Stdin() io.Writer  { return p.stdin }
func (p *sshProcess) Stdout() io.Reader { return p.stdout }
func (p *sshProcess) Close() error {
	p.once.Do(func() {
		_ = p.stdin.Close()
		_ = p.sess.Close()
	})
	return nil
}

// knownAlgorithms lists, per address, the host-key algorithms known_hosts has keys for, so
// the server is asked for a key that can be verified (not one of another type).
func knownAlgorithms(cb ssh.HostKeyCallback) func(addr string) []string {
	return func(addr string) []string {
		var ke *knownhosts.KeyError
		err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey{})
		if !errors.As(err, &ke) || len(ke.Want) == 0 {
			return nil
		}
		var algos []string
		for _, k := range ke.Want {
			switch k.Key.Type() {
			case ssh.KeyAlgoRSA:
				algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
			default:
				algos = append(algos, k.Key.Type())
			}
		}
		return algos
	}
}

// probeKey is a key no known_hosts line matches; verifying it yields the known keys.
type probeKey struct{}

func (probeKey) Type() string                        { return "tlreconcile-probe" }
func (probeKey) Marshal() []byte                     { return []byte("tlreconcile-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

var _ Transport = (*SSHTransport)(nil)

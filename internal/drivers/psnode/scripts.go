package psnode

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"path"
	"sort"
	"strings"
	"unicode/utf16"
)

//go:embed scripts/bootstrap.ps1 scripts/host.ps1
var bootstrapFS embed.FS

// Scripts is a driver's catalog of embedded PowerShell scripts: one host loop, which the
// bootstrap stub reads as its first stdin line, and the request scripts, each sent by name
// as constant text. The driver owns the files; psnode only reads them.
type Scripts struct {
	fsys   fs.FS
	dir    string
	host   string
	shared bool // the host loop is psnode's, preceded by the driver's helpers file host
}

// NewScripts reads the scripts NAME.ps1 in dir of fsys (typically an embed.FS); host names
// the host loop among them.
func NewScripts(fsys fs.FS, dir, host string) Scripts {
	return Scripts{fsys: fsys, dir: dir, host: host}
}

// NewHostScripts is NewScripts for a driver that runs psnode's shared host loop
// (scripts/host.ps1: the frame protocol, Stop-Tlr and the quiet preferences): the host loop
// a session sends is the driver's helpers file dir/helpers.ps1 followed by that loop, so the
// helpers are defined before the loop starts and every request script sees them.
func NewHostScripts(fsys fs.FS, dir, helpers string) Scripts {
	return Scripts{fsys: fsys, dir: dir, host: helpers, shared: true}
}

// SharedHostLoop is the text of psnode's shared host loop, byte for byte.
func SharedHostLoop() []byte {
	b, _ := bootstrapFS.ReadFile("scripts/host.ps1")
	return b
}

// Text returns the text of the named script ("observe", "create-vm", ...).
func (s Scripts) Text(name string) ([]byte, bool) {
	b, err := fs.ReadFile(s.fsys, path.Join(s.dir, name+".ps1"))
	if err != nil {
		return nil, false
	}
	return b, true
}

// Names lists every script that is sent as a request, sorted (the host loop is not among them).
func (s Scripts) Names() []string {
	entries, _ := fs.ReadDir(s.fsys, s.dir)
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".ps1")
		if !ok || n == s.host {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Identify names the request script whose text is exactly text.
// A fake host uses it to learn which operation a request asks for.
func (s Scripts) Identify(text []byte) (string, bool) {
	want := sha256.Sum256(text)
	for _, n := range s.Names() {
		b, _ := s.Text(n)
		if sha256.Sum256(b) == want {
			return n, true
		}
	}
	return "", false
}

// Host is the host loop's text: the driver's helpers and the shared loop for a catalog of
// NewHostScripts, the driver's own file for one of NewScripts.
func (s Scripts) Host() []byte {
	b, _ := s.Text(s.host)
	if !s.shared {
		return b
	}
	out := make([]byte, 0, len(b)+1+len(SharedHostLoop()))
	out = append(out, b...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, SharedHostLoop()...)
}

// HostLine is the first line written to a new PowerShell process: the host loop, base64.
func (s Scripts) HostLine() string {
	return base64.StdEncoding.EncodeToString(s.Host()) + "\n"
}

// BootstrapArgs are the arguments after the PowerShell executable: no profile, no prompts,
// and the constant bootstrap stub as -EncodedCommand (base64 of UTF-16LE, as PowerShell
// expects), which reads the host loop from stdin.
func BootstrapArgs() []string {
	stub, _ := bootstrapFS.ReadFile("scripts/bootstrap.ps1")
	u := utf16.Encode([]rune(strings.TrimSpace(string(stub))))
	b := make([]byte, 0, 2*len(u))
	for _, r := range u {
		b = append(b, byte(r), byte(r>>8))
	}
	return []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-EncodedCommand", base64.StdEncoding.EncodeToString(b)}
}

// RemoteCommand is the command line run on a node over SSH: the PowerShell executable, no
// profile, and the constant bootstrap stub. It holds no user value.
func RemoteCommand(exe string) string {
	return exe + " " + strings.Join(BootstrapArgs(), " ")
}

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

//go:embed scripts/bootstrap.ps1
var bootstrapFS embed.FS

// Scripts is a driver's catalog of embedded PowerShell scripts: one host loop, which the
// bootstrap stub reads as its first stdin line, and the request scripts, each sent by name
// as constant text. The driver owns the files; psnode only reads them.
type Scripts struct {
	fsys fs.FS
	dir  string
	host string
}

// NewScripts reads the scripts NAME.ps1 in dir of fsys (typically an embed.FS); host names
// the host loop among them.
func NewScripts(fsys fs.FS, dir, host string) Scripts {
	return Scripts{fsys: fsys, dir: dir, host: host}
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

// Host is the host loop's text.
func (s Scripts) Host() []byte {
	b, _ := s.Text(s.host)
	return b
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

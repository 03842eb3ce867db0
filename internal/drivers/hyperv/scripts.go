package hyperv

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"sort"
	"strings"
	"unicode/utf16"
)

//go:embed scripts/*.ps1
var scriptFS embed.FS

// Script names besides the op names (drivers.OpKind strings are script names too).
const (
	ScriptObserve    = "observe"
	ScriptNodeStatus = "node-status"
	ScriptFindVM     = "find-vm"
	scriptHost       = "host"
	scriptBootstrap  = "bootstrap"
)

// ScriptText returns the embedded text of the named script ("observe", "create-vm", ...).
func ScriptText(name string) ([]byte, bool) {
	b, err := scriptFS.ReadFile("scripts/" + name + ".ps1")
	if err != nil {
		return nil, false
	}
	return b, true
}

// ScriptNames lists every embedded script that is sent as a request, sorted
// (the host loop and the bootstrap stub are not among them).
func ScriptNames() []string {
	entries, _ := scriptFS.ReadDir("scripts")
	var names []string
	for _, e := range entries {
		n := strings.TrimSuffix(e.Name(), ".ps1")
		if n == scriptHost || n == scriptBootstrap {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IdentifyScript names the embedded request script whose text is exactly text.
// A fake host uses it to learn which operation a request asks for.
func IdentifyScript(text []byte) (string, bool) {
	want := sha256.Sum256(text)
	for _, n := range ScriptNames() {
		b, _ := ScriptText(n)
		if sha256.Sum256(b) == want {
			return n, true
		}
	}
	return "", false
}

// HostScript is the host loop that the bootstrap stub reads as its first stdin line.
func HostScript() []byte {
	b, _ := ScriptText(scriptHost)
	return b
}

// HostLine is the first line written to a new PowerShell process: the host loop, base64.
func HostLine() string {
	return base64.StdEncoding.EncodeToString(HostScript()) + "\n"
}

// BootstrapArgs are the arguments after the PowerShell executable: no profile, no prompts,
// and the constant bootstrap stub as -EncodedCommand (base64 of UTF-16LE, as PowerShell
// expects), which reads the host loop from stdin.
func BootstrapArgs() []string {
	stub, _ := ScriptText(scriptBootstrap)
	u := utf16.Encode([]rune(strings.TrimSpace(string(stub))))
	b := make([]byte, 0, 2*len(u))
	for _, r := range u {
		b = append(b, byte(r), byte(r>>8))
	}
	return []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-EncodedCommand", base64.StdEncoding.EncodeToString(b)}
}

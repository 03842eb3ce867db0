package guestagent

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

// Command runs `tlreconcile guest ARGS` (attest --nonce HEX [--format json],
// activate --credential BASE64) on s, as a Run Command script line carries
// them: stdout, the exit code (2: bad arguments) and stderr. The CLI and the
// simulated guest both run it, so both speak the same protocol.
func Command(s *Session, args []string) (stdout string, code int, stderr string) {
	if len(args) == 0 {
		return "", 2, "tlreconcile guest: say attest or activate\n"
	}
	flags, err := parseFlags(args[1:])
	if err != nil {
		return "", 2, "tlreconcile guest " + args[0] + ": " + err.Error() + "\n"
	}
	switch args[0] {
	case "attest":
		return attestCommand(s, flags)
	case "activate":
		return activateCommand(s, flags)
	}
	return "", 2, fmt.Sprintf("tlreconcile guest: unknown command %q: say attest or activate\n", args[0])
}

// parseFlags reads --name value and --name=value pairs.
func parseFlags(args []string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "--")
		if !ok || name == "" {
			return nil, fmt.Errorf("unexpected argument %q", args[i])
		}
		if k, v, has := strings.Cut(name, "="); has {
			out[k] = v
			continue
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("--%s needs a value", name)
		}
		out[name] = args[i+1]
		i++
	}
	return out, nil
}

func attestCommand(s *Session, flags map[string]string) (string, int, string) {
	if f := flags["format"]; f != "" && f != "json" {
		return "", 2, fmt.Sprintf("tlreconcile guest attest: --format %q: the attestation is JSON (--format json)\n", f)
	}
	nonce, err := hex.DecodeString(flags["nonce"])
	if err != nil || len(nonce) == 0 {
		return "", 2, "tlreconcile guest attest: --nonce HEX: the verifier's nonce, 8 to 64 bytes in hex\n"
	}
	ev, err := s.Attest(nonce)
	if err != nil {
		return "", 1, err.Error() + "\n"
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return "", 1, err.Error() + "\n"
	}
	return string(b) + "\n", 0, ""
}

func activateCommand(s *Session, flags map[string]string) (string, int, string) {
	var cred attest.EncryptedCredential
	raw, err := base64.StdEncoding.DecodeString(flags["credential"])
	if err == nil {
		err = json.Unmarshal(raw, &cred)
	}
	if err != nil {
		return "", 2, "tlreconcile guest activate: --credential BASE64: the verifier's challenge (base64 of its JSON): " + err.Error() + "\n"
	}
	secret, err := s.Activate(cred)
	if err != nil {
		return "", 1, err.Error() + "\n"
	}
	return base64.StdEncoding.EncodeToString(secret) + "\n", 0, ""
}

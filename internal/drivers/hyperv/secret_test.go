package hyperv_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
)

// TestSecretNeverPrints: the guest password reaches the node's script in the request's JSON,
// and no way Go formats a Payload (an error, a debug log line) shows it.
func TestSecretNeverPrints(t *testing.T) {
	const pw = "Gu3st-pa55!word"
	p := hyperv.Payload{VM: "tl", GuestUser: "svc", GuestPassword: hyperv.Secret(pw), AgentArgs: []string{"attest"}}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("request", "payload", p, "pw", p.GuestPassword)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("request", "payload", p, "pw", p.GuestPassword)
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprintf("%s %q %x", p.GuestPassword, p.GuestPassword, p.GuestPassword), fmt.Sprint(&p), logged.String()} {
		if strings.Contains(s, pw) || strings.Contains(s, fmt.Sprintf("%x", pw)) {
			t.Errorf("the password is printed: %s", s)
		}
	}
	// The JSON (what ConvertFrom-Json, a cmdlet a host may log, sees) never holds it, nor does
	// a Secret marshalled on its own; the script gets it on the line after the request.
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := json.Marshal(p.GuestPassword)
	if strings.Contains(string(b), pw) || strings.Contains(string(s), pw) {
		t.Errorf("the password is in the JSON: %s %s", b, s)
	}
	if got, ok := hyperv.AttestRequest(&hyperv.Options{}, "tl", pw, []string{"attest"}).SecretLine(); !ok || got != pw {
		t.Errorf("the script would not get the password: %q, %t", got, ok)
	}
	if _, ok := p.SecretLine(); ok {
		t.Error("a payload not made for attest.ps1 sends a secret line the script would not read")
	}
}

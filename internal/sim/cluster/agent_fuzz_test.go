package cluster_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// FuzzDefaultAgent: any script from outside runs without panicking, exits
// 0, 1 or 127, says "command not found" exactly when it exits 127, and never
// echoes a parameter it was not given in the script.
func FuzzDefaultAgent(f *testing.F) {
	for _, s := range []string{"hostname", "echo a b", "tpm-ek", "nope\nhostname", "# x\n\n", "\x00\xff", "echo $p"} {
		f.Add(s, "hostname")
	}
	f.Fuzz(func(t *testing.T, script, commandID string) {
		g := &cluster.Guest{Name: "g", ComputerName: "host-1"}
		res, err := cluster.DefaultAgent{}.Run(context.Background(), g,
			cluster.RunRequest{Script: script, CommandID: commandID, Parameters: map[string]string{"p": "SECRET-PARAM"}})
		if err != nil {
			t.Fatalf("a guest without a TPM failed the channel: %v", err)
		}
		switch res.ExitCode {
		case 0, 1, 127:
		default:
			t.Fatalf("exit code %d", res.ExitCode)
		}
		if (res.ExitCode == 127) != strings.Contains(res.Stderr, "command not found") {
			t.Fatalf("exit %d with stderr %q", res.ExitCode, res.Stderr)
		}
		if strings.Contains(res.Stdout, "SECRET-PARAM") && !strings.Contains(script+commandID, "SECRET-PARAM") {
			t.Fatal("a parameter was spliced into the output")
		}
	})
}

package azurelocal

import (
	"context"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/guestagent"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// The simulated guests of the embedded platform run tlreconcile's guest
// agent: the same internal/guestagent code as `tlreconcile guest` in a real
// guest, over the vTPM's command channel, with the AK blob kept bound to the
// vTPM. Every other command goes to the platform's DefaultAgent.

// NoAgentMarker is what a simulated guest keeps when tlreconcile's agent is
// not installed in it (`tlreconcile sim guest-agent --remove`).
const NoAgentMarker = "tlreconcile-guest-agent-removed"

type embeddedAgent struct{}

// EmbeddedGuestAgent is the guest agent of the embedded platform's guests,
// for `sim serve`, which serves the same platform to other tools.
func EmbeddedGuestAgent() cluster.GuestAgent { return embeddedAgent{} }

func (embeddedAgent) Run(ctx context.Context, g *cluster.Guest, req cluster.RunRequest) (cluster.RunResult, error) {
	args := strings.Fields(req.Script)
	if len(args) < 2 || args[0] != "tlreconcile" || args[1] != "guest" {
		return cluster.DefaultAgent{}.Run(ctx, g, req)
	}
	if _, removed := g.Kept(NoAgentMarker); removed {
		return cluster.RunResult{ExitCode: 127, Stderr: "tlreconcile: command not found\n"}, nil
	}
	ch := g.Channel()
	if ch == nil {
		return cluster.RunResult{ExitCode: 1, Stderr: "tlreconcile guest: this VM has no TPM\n"}, nil
	}
	s, err := guestagent.NewSession(ch.(guestagent.Channel))
	if err != nil {
		return cluster.RunResult{}, err
	}
	defer s.Close()
	out, code, msg := guestagent.Command(s, args[2:])
	return cluster.RunResult{ExitCode: code, Stdout: out, Stderr: msg}, nil
}

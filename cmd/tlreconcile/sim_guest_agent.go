package main

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers/azurelocal"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simGuestAgentOptions are the flags of `tlreconcile sim guest-agent`.
type simGuestAgentOptions struct {
	azlOptions
	vm              string
	remove, install bool
}

func newSimGuestAgentCmd(root *rootOptions) *cobra.Command {
	o := &simGuestAgentOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "guest-agent --vm NAME (--remove | --install)",
		Short: "Take tlreconcile's attestation agent out of a simulated guest, or put it back",
		Long: `Every simulated guest runs tlreconcile's guest agent ('tlreconcile guest attest'), the same
code a real guest runs, over its vTPM. guest-agent --remove takes it out, as an image without the
agent would be: the next attestation is attestation-unavailable and nothing else changes;
--install puts it back. The VM must be Running (the change is made inside the guest).`,
		Example: `  tlreconcile sim guest-agent --vm web-01 --remove
  tlreconcile sim guest-agent --vm web-01 --install`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "VM whose guest to change (name or VM ID)")
	cmd.Flags().BoolVar(&o.remove, "remove", false, "take the agent out")
	cmd.Flags().BoolVar(&o.install, "install", false, "put the agent back")
	return azlCommand(cmd)
}

// Validate checks the flags before anything is opened.
func (o *simGuestAgentOptions) Validate() error {
	if strings.TrimSpace(o.vm) == "" || o.remove == o.install {
		return errors.New("sim guest-agent: name the VM and say --remove or --install: --vm NAME --remove")
	}
	return nil
}

// Run changes the guest.
func (o *simGuestAgentOptions) Run(ctx context.Context) error {
	return o.change(ctx, func(ctx context.Context, h *cluster.Host) (view.SimChange, error) {
		v, err := o.findVM(ctx, h, o.vm)
		if err != nil {
			return view.SimChange{}, err
		}
		var marker []byte
		what := "tlreconcile's guest agent installed again"
		if o.remove {
			marker, what = []byte("removed"), "tlreconcile's guest agent removed: the next attestation is unavailable"
		}
		err = h.InGuest(ctx, v.VMID, func(g *cluster.Guest) error { return g.Keep(azurelocal.NoAgentMarker, marker) })
		return view.SimChange{Resource: "vm/" + v.Name, Summary: what}, err
	})
}

package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/azurelocal"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
)

// rootOptions are the global flags and the process's streams, shared by every subcommand.
type rootOptions struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	stateDir       string
	noColor        bool
	// drivers replaces the linked drivers (nil: the real ones); tests put
	// the hyperv driver on its fake host here.
	drivers *drivers.Registry
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	return newRoot(&rootOptions{stdin: stdin, stdout: stdout, stderr: stderr})
}

// newRoot builds the command tree on o; tests set o.drivers to reach fakes.
func newRoot(o *rootOptions) *cobra.Command {
	stdin, stdout, stderr := o.stdin, o.stdout, o.stderr
	cmd := &cobra.Command{
		Use:   "tlreconcile",
		Short: "Keep trusted-launch VMs on Azure Local and Hyper-V in the state YAML declares",
		Long: `tlreconcile validates desired-state YAML for trusted-launch VMs (Secure Boot, vTPM,
vTPM state transfer, VBS) against a JSON Schema and Azure Local's trusted-launch rules,
observes the real Hyper-V and vTPM state through a driver, and plans and applies an
ordered, guarded change that never destroys vTPM secrets unless asked.

Exit codes: 0 success and nothing to change, 1 error, 2 changes present
(plan --detailed-exitcode).`,
		Example: `  # check the YAML, see what would change, then change it
  tlreconcile validate -f desired/
  tlreconcile plan -f desired/
  tlreconcile apply -f desired/

  # keep the clusters following a folder
  tlreconcile watch desired/

  # rehearse on a simulated cluster: lose a vTPM in a failover
  tlreconcile sim failover --vm avd-01 --to node2 --lose-vtpm`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	defStateDir := os.Getenv("TLRECONCILE_STATE_DIR")
	if defStateDir == "" {
		defStateDir = ".tlreconcile"
	}
	cmd.PersistentFlags().StringVar(&o.stateDir, "state-dir", defStateDir, "directory for the sim cluster, locks and journals (env TLRECONCILE_STATE_DIR)")
	cmd.PersistentFlags().BoolVar(&o.noColor, "no-color", false, "never colour output (NO_COLOR is respected too)")

	cmd.AddCommand(
		newVersionCmd(o),
		newValidateCmd(o),
		newSchemaCmd(o),
		newApplyCmd(o),
		newPlanCmd(o),
		newShowCmd(o),
		newWatchCmd(o),
		newSimCmd(o),
		newGuestCmd(o),
		newAttestCmd(o),
	)
	return cmd
}

// registry returns the drivers this binary links (or the test's).
func (o *rootOptions) registry() *drivers.Registry {
	if o.drivers != nil {
		return o.drivers
	}
	r := drivers.NewRegistry()
	r.Register(azurelocal.EmbeddedName, azurelocal.EmbeddedFactory)
	r.Register(hyperv.Name, hyperv.Factory)
	r.Register(azurelocal.Name, azurelocal.Factory)
	return r
}

// color reports whether w may receive ANSI colour.
func (o *rootOptions) color(w io.Writer) bool {
	if o.noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

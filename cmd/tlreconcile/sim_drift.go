package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simDriftOptions are the flags of `tlreconcile sim drift`.
type simDriftOptions struct {
	azlOptions
	vm       string
	sets     []string
	settings []driftSetting // parsed in Validate
}

// driftSetting is one --set FIELD=VALUE, parsed.
type driftSetting struct {
	field, value string
	apply        func(ctx context.Context, h *cluster.Host, vmID string) error
}

// driftFields are what `sim drift` can change, as an administrator on the
// owner node would (Hyper-V Manager, Set-VMFirmware, Set-VM, icacls): changes
// ARM does not make, so only the node shows them.
// Processors and memory are not among them: the driver reads those from ARM
// (the hardwareProfile), so a node-side change would be drift nobody sees;
// 'sim portal-edit' changes them the way an edit in the Azure portal does.
var driftFields = []string{"secureBoot", "power", "fileAccess"}

func newSimDriftCmd(root *rootOptions) *cobra.Command {
	o := &simDriftOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "drift --vm NAME --set FIELD=VALUE...",
		Short: "Change a VM on its owner node behind ARM's back (drift)",
		Long: `drift changes a VM of the simulated Azure Local the way an administrator with local tools
on its owner node would, behind Azure Resource Manager's back: the next plan shows the drift.
Fields:
  secureBoot=true|false   Set-VMFirmware -EnableSecureBoot (false is allowed while running,
                          as the incident it stands for; true needs the VM Off)
  power=Running|Off       Start-VM / Stop-VM
  fileAccess=violation    icacls granting Everyone read on the VM's state files
The settings apply in the order given; the first that the platform refuses stops the rest
and is named. The vTPM and its key cannot be set: lose them with 'sim failover --lose-vtpm'
or 'sim delete-key'. Processors and memory are ARM's: change them with 'sim portal-edit'.
The Arc resource bridge VM cannot be changed.`,
		Example: `  tlreconcile sim drift --vm web-01 --set secureBoot=false
  tlreconcile sim drift --vm web-01 --set power=Off
  tlreconcile sim drift --vm web-01 --set fileAccess=violation`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "VM to change (name or VM ID)")
	cmd.Flags().StringArrayVar(&o.sets, "set", nil, "FIELD=VALUE, repeatable: "+strings.Join(driftFields, ", "))
	return azlCommand(cmd)
}

// Validate parses every --set before the platform is opened, so a typo in
// the third one does not leave the first two applied.
func (o *simDriftOptions) Validate() error {
	if strings.TrimSpace(o.vm) == "" || len(o.sets) == 0 {
		return errors.New("sim drift: name the VM and what to change: --vm NAME --set FIELD=VALUE")
	}
	o.settings = o.settings[:0]
	for _, s := range o.sets {
		st, err := parseDrift(s)
		if err != nil {
			return fmt.Errorf("sim drift: --set %q: %w", s, err)
		}
		o.settings = append(o.settings, st)
	}
	return nil
}

// parseDrift reads one FIELD=VALUE into the platform call that makes it.
func parseDrift(s string) (driftSetting, error) {
	field, value, ok := strings.Cut(s, "=")
	if !ok || field == "" || value == "" {
		return driftSetting{}, fmt.Errorf("want FIELD=VALUE, one of the fields %s", strings.Join(driftFields, ", "))
	}
	st := driftSetting{field: field, value: value}
	switch field {
	case "secureBoot":
		on, err := strconv.ParseBool(value)
		if err != nil {
			return st, errors.New("secureBoot takes true or false")
		}
		st.apply = func(ctx context.Context, h *cluster.Host, id string) error {
			if on {
				return h.EnableSecureBoot(ctx, id)
			}
			return h.DisableSecureBoot(ctx, id)
		}
	case "power":
		return parsePowerDrift(st)
	case "fileAccess":
		if value != "violation" {
			return st, errors.New("fileAccess takes violation (restoring access is what apply does)")
		}
		st.apply = func(ctx context.Context, h *cluster.Host, id string) error {
			return h.GrantStateFileAccess(ctx, id, "Everyone")
		}
	case "processors", "memoryMB":
		return st, fmt.Errorf("%s is ARM's setting (the hardwareProfile): change it with 'tlreconcile sim portal-edit --vm NAME --set %s=%s'", field, field, value)
	default:
		return st, fmt.Errorf("unknown field %q: the fields are %s", field, strings.Join(driftFields, ", "))
	}
	return st, nil
}

func parsePowerDrift(st driftSetting) (driftSetting, error) {
	switch st.value {
	case "Running":
		st.apply = func(ctx context.Context, h *cluster.Host, id string) error { return h.StartVM(ctx, id) }
	case "Off":
		st.apply = func(ctx context.Context, h *cluster.Host, id string) error { return h.StopVM(ctx, id) }
	default:
		return st, errors.New("power takes Running or Off")
	}
	return st, nil
}

// Run applies the settings in order and says what drifted.
func (o *simDriftOptions) Run(ctx context.Context) error {
	return o.change(ctx, func(ctx context.Context, h *cluster.Host) (view.SimChange, error) {
		v, err := o.findVM(ctx, h, o.vm)
		if err != nil {
			return view.SimChange{}, err
		}
		for i, st := range o.settings {
			if err := st.apply(ctx, h, v.VMID); err != nil {
				done := ""
				if i > 0 {
					done = " (" + strings.Join(o.sets[:i], ", ") + " did apply)"
				}
				return view.SimChange{}, fmt.Errorf("vm/%s: --set %s=%s: %w%s", v.Name, st.field, st.value, err, done)
			}
		}
		return view.SimChange{Resource: "vm/" + v.Name, Summary: "drifted " + strings.Join(o.sets, ", ")}, nil
	})
}

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simARMFaultOptions are the flags of `tlreconcile sim arm-fault`.
type simARMFaultOptions struct {
	root        *rootOptions
	fault       arm.Fault
	list, clear bool
	format      string
	set         func(name string) bool // whether a flag was given
}

func newSimARMFaultCmd(root *rootOptions) *cobra.Command {
	o := &simARMFaultOptions{root: root}
	cmd := &cobra.Command{
		Use:   "arm-fault --operation OPERATION [--throttle N [--retry-after D]] [--latency D] [--transient N [--status CODE]] [--fail-lro N] [--output-limit BYTES] | --list | --clear",
		Short: "Throttle, slow or fail requests of the simulated ARM (sim serve)",
		Long: `arm-fault makes the simulated ARM of 'sim serve' misbehave as Azure Resource Manager does,
for the requests of one operation (an operationId of Microsoft's REST spec, such as
VirtualMachineInstances_CreateOrUpdate or Machines_Get; case-insensitive) or of every
request (--operation '*'):
  --throttle N     answer the next N requests 429 TooManyRequests with Retry-After
                   (--retry-after, default 1s), as ARM's throttling does;
  --latency D      delay every request by D until the fault is cleared;
  --transient N    answer the next N requests with a 5xx error (--status, default 503);
  --fail-lro N     let the next N long-running operations the requests start end Failed;
  --output-limit B keep only the last B bytes of the output of the run commands the
                   requests start (--operation MachineRunCommands_CreateOrUpdate), as
                   Azure's instance view of a VM run command keeps the last 4,096 bytes:
                   a guest attestation that long arrives cut short (attestation-unavailable).
Faults are kept in --state-dir, so a running 'sim serve' applies them from its next request;
counted ones wear off as they are used. --list shows the faults in effect, --clear removes
them all. 'sim platform' lists them too.`,
		Example: `  tlreconcile sim arm-fault --operation VirtualMachineInstances_CreateOrUpdate --throttle 2 --retry-after 5s
  tlreconcile sim arm-fault --operation '*' --latency 300ms
  tlreconcile sim arm-fault --operation Machines_Get --transient 3 --status 500
  tlreconcile sim arm-fault --operation VirtualMachineInstances_Start --fail-lro 1
  tlreconcile sim arm-fault --operation MachineRunCommands_CreateOrUpdate --output-limit 4096
  tlreconcile sim arm-fault --list
  tlreconcile sim arm-fault --clear`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.fault.Operation, "operation", "", "operationId the fault applies to, or * for every ARM request")
	f.IntVar(&o.fault.Throttle, "throttle", 0, "answer the next N requests 429 with Retry-After")
	f.DurationVar(&o.fault.RetryAfter, "retry-after", 0, "the Retry-After of throttled answers (default 1s)")
	f.DurationVar(&o.fault.Latency, "latency", 0, "delay every matching request by this long")
	f.IntVar(&o.fault.Transient, "transient", 0, "answer the next N requests with a transient 5xx error")
	f.IntVar(&o.fault.Status, "status", 0, "the status of transient errors, 500-599 (default 503)")
	f.IntVar(&o.fault.FailAsync, "fail-lro", 0, "let the next N long-running operations end Failed")
	f.IntVar(&o.fault.OutputLimit, "output-limit", 0, "keep only the last BYTES bytes of a run command's output")
	f.BoolVar(&o.list, "list", false, "list the faults in effect")
	f.BoolVar(&o.clear, "clear", false, "remove every injected fault")
	f.StringVar(&o.format, "format", view.FormatText, "output of --list: text or json")
	o.set = func(name string) bool { return cmd.Flags().Changed(name) }
	_ = cmd.RegisterFlagCompletionFunc("operation", cobra.FixedCompletions(append(arm.Operations(), "*"), cobra.ShellCompDirectiveNoFileComp))
	return azlCommand(cmd)
}

// faultFlags are the flags that describe a fault.
var faultFlags = []string{"operation", "throttle", "retry-after", "latency", "transient", "status", "fail-lro", "output-limit"}

// Validate checks the flag combination and the fault before anything is opened.
func (o *simARMFaultOptions) Validate() error {
	var given []string
	for _, n := range faultFlags {
		if o.set != nil && o.set(n) {
			given = append(given, "--"+n)
		}
	}
	switch {
	case o.list && o.clear:
		return errors.New("sim arm-fault: --list or --clear, not both")
	case (o.list || o.clear) && len(given) > 0:
		return fmt.Errorf("sim arm-fault: --list and --clear take no fault flags (%s given)", strings.Join(given, ", "))
	case o.list || o.clear:
		return oneOf("sim arm-fault", "format", o.format, view.FormatText, view.FormatJSON)
	case o.fault.Operation == "":
		return errors.New("sim arm-fault: name the operation the fault applies to: --operation OPERATION (an operationId such as Machines_Get, or '*'), or use --list or --clear")
	}
	f, err := arm.ValidateFault(o.fault)
	if err != nil {
		return fmt.Errorf("sim arm-fault: %s", strings.TrimPrefix(err.Error(), "arm fault: "))
	}
	o.fault = f
	return nil
}

// Run injects, lists or clears.
func (o *simARMFaultOptions) Run(context.Context) error {
	admin := arm.OpenAdmin(o.root.stateDir)
	switch {
	case o.list:
		faults, err := admin.Faults()
		if err != nil {
			return err
		}
		return view.SimARMFaults(o.root.stdout, o.format, faults)
	case o.clear:
		n, err := admin.ClearFaults()
		if err != nil {
			return err
		}
		return view.SimChanged(o.root.stdout, view.SimChange{Resource: "arm", Summary: fmt.Sprintf("%d fault(s) cleared", n)})
	}
	f, err := admin.InjectFault(o.fault)
	if err != nil {
		return err
	}
	effects := view.SimPlatformFaultEffects(view.SimPlatformFaults([]arm.Fault{f})[0])
	return view.SimChanged(o.root.stdout, view.SimChange{Resource: "arm/" + f.Operation, Summary: "fault injected: " + strings.Join(effects, ", ")})
}

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simInjectOptions are the flags of `tlreconcile sim inject`.
type simInjectOptions struct {
	simOptions
	op         string
	fail       int
	failAlways bool
	latency    time.Duration
	clear      bool
}

func newSimInjectCmd(root *rootOptions) *cobra.Command {
	o := &simInjectOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "inject (--op OP [--fail N | --fail-always] [--latency D] | --clear)",
		Short: "Make driver ops fail or slow down, for every process using the cluster",
		Long: `inject stores a fault for one op (or --op '*' for every op without its own fault) in the
cluster directory, so the next tlreconcile apply or watch meets it: --fail N fails the next
N calls with a transient error (apply retries them), --fail-always fails every call with a
permanent error, --latency delays every call. A new fault for the same op replaces the old
one; --clear removes them all. Ops: ` + opNames() + `.`,
		Example: `  tlreconcile sim inject --op start-vm --fail 2
  tlreconcile sim inject --op set-secure-boot --fail-always
  tlreconcile sim inject --op '*' --latency 20ms
  tlreconcile sim inject --clear`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&o.op, "op", "", "op to disturb, or '*' for all")
	f.IntVar(&o.fail, "fail", 0, "fail the next N calls with a transient error")
	f.BoolVar(&o.failAlways, "fail-always", false, "fail every call with a permanent error")
	f.DurationVar(&o.latency, "latency", 0, "delay every call by this long (e.g. 50ms)")
	f.BoolVar(&o.clear, "clear", false, "remove every injected fault")
	_ = cmd.RegisterFlagCompletionFunc("op", cobra.FixedCompletions(append(strings.Split(opNames(), ", "), "*"), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// opNames lists every op kind for the help text, so it never falls behind
// drivers.AllOps.
func opNames() string {
	names := make([]string, 0, len(drivers.AllOps))
	for _, k := range drivers.AllOps {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// fault is the fault the flags describe.
func (o *simInjectOptions) fault() sim.Fault {
	return sim.Fault{Op: drivers.OpKind(o.op), Fail: o.fail, FailAlways: o.failAlways, Latency: o.latency}
}

// Validate checks the fault with the driver's own rules before it is stored.
func (o *simInjectOptions) Validate() error {
	if o.clear {
		if o.op != "" || o.fail != 0 || o.failAlways || o.latency != 0 {
			return errors.New("sim inject: --clear removes every fault and takes no other flag")
		}
		return nil
	}
	if o.op == "" {
		return errors.New("sim inject: name the op: --op OP (or --clear)")
	}
	if o.fail == 0 && !o.failAlways && o.latency == 0 {
		return errors.New("sim inject: say what to inject: --fail N, --fail-always and/or --latency D")
	}
	if err := o.fault().Validate(); err != nil {
		return fmt.Errorf("sim inject: %w", err)
	}
	return nil
}

// Run stores the fault, or removes every fault with --clear.
func (o *simInjectOptions) Run(context.Context) error {
	return o.change(func(d *sim.Driver, cluster string) (view.SimChange, error) {
		if o.clear {
			err := d.ClearFaults(cluster)
			return view.SimChange{Resource: "cluster/" + cluster, Summary: "faults cleared"}, err
		}
		err := d.Inject(cluster, o.fault())
		return view.SimChange{Resource: "cluster/" + cluster, Summary: "fault injected for " + o.op}, err
	})
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// simOptions are the flags every `tlreconcile sim` subcommand shares.
type simOptions struct {
	root    *rootOptions
	cluster string
}

func (o *simOptions) addClusterFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "sim cluster to act on (may be omitted when exactly one exists)")
}

// open returns the sim driver and the cluster name to act on.
func (o *simOptions) open() (*sim.Driver, string, error) {
	d, err := sim.New(o.root.driverConfig())
	if err != nil {
		return nil, "", err
	}
	name, err := d.ResolveCluster(o.cluster)
	if err != nil {
		return nil, "", err
	}
	return d, name, nil
}

// change opens the cluster, lets act change it and prints the one line act
// returns, saying what changed; nothing is printed when act fails.
func (o *simOptions) change(act func(d *sim.Driver, cluster string) (string, error)) error {
	d, name, err := o.open()
	if err != nil {
		return err
	}
	msg, err := act(d, name)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(o.root.stdout, msg)
	return err
}

func newSimCmd(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Create and disturb simulated Azure Local clusters (the sim driver)",
		Long: `The sim driver keeps simulated Azure Local clusters under <state-dir>/sim/<cluster>/:
nodes with IgvmAgent and live-migration IPsec, Hyper-V VMs with Hyper-V's rules, and a real
TPM 2.0 behind every vTPM. These commands create a cluster and do to it what no plan would:
drift a VM's settings, fail it over (with or without its vTPM state), stop a node's IgvmAgent,
inject op failures and latency, or create a VM behind tlreconcile's back. They are for tests,
demos and rehearsing incidents; every change is written to disk, so the next plan, apply or
watch sees it.`,
		Example: `  tlreconcile sim init --cluster hci-west --nodes node1,node2,node3
  tlreconcile sim create-unmanaged --vm legacy-01 --running
  tlreconcile sim failover --vm avd-01 --to node2 --lose-vtpm
  tlreconcile sim show`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(
		newSimInitCmd(root), newSimShowCmd(root), newSimDriftCmd(root), newSimFailoverCmd(root),
		newSimAgentCmd(root), newSimIPsecCmd(root), newSimInjectCmd(root), newSimCreateUnmanagedCmd(root),
	)
	return cmd
}

// --- init ---

type simInitOptions struct {
	simOptions
	nodes     []string
	backend   string
	filenames []string
}

func newSimInitCmd(root *rootOptions) *cobra.Command {
	o := &simInitOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "init (--cluster NAME --nodes a,b | -f PATH)",
		Short: "Create a sim cluster: every node Up, IgvmAgent running, live-migration IPsec off",
		Long: `init creates a fresh simulated Azure Local cluster, either from flags or from every
Cluster document with driver: sim in the YAML under -f. Running it again for an existing
cluster with the same nodes changes nothing. Observing a Cluster document (plan, apply, show)
creates its sim cluster too; init is for starting one by hand.`,
		Example: `  tlreconcile sim init --cluster hci-west --nodes node1,node2,node3
  tlreconcile sim init --cluster lab --nodes n1,n2 --vtpm-backend swtpm
  tlreconcile sim init -f examples/basic`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringSliceVar(&o.nodes, "nodes", nil, "node names, comma-separated")
	cmd.Flags().StringVar(&o.backend, "vtpm-backend", "", "vTPM backend: reference (the default: in-process reference TPM) or swtpm (one swtpm process per vTPM); with -f the Cluster document's options.vtpmBackend chooses")
	cmd.Flags().StringArrayVarP(&o.filenames, "filename", "f", nil, "YAML file or directory whose sim Cluster documents to create, repeatable")
	return cmd
}

func (o *simInitOptions) Validate() error {
	if len(o.filenames) > 0 {
		if o.cluster != "" || len(o.nodes) > 0 {
			return errors.New("sim init: give either -f PATH or --cluster with --nodes, not both")
		}
		if o.backend != "" {
			return errors.New("sim init: --vtpm-backend does not apply with -f PATH: set options: {vtpmBackend: swtpm} in the Cluster document instead")
		}
		return nil
	}
	if o.cluster == "" || len(o.nodes) == 0 {
		return errors.New("sim init: name the cluster and its nodes (--cluster hci-west --nodes node1,node2) or read them from YAML with -f PATH")
	}
	if o.backend == "" {
		return nil // the reference TPM
	}
	return oneOf("sim init", "vtpm-backend", o.backend, sim.BackendReference, sim.BackendSwtpm)
}

func (o *simInitOptions) Run(context.Context) error {
	d, err := sim.New(o.root.driverConfig())
	if err != nil {
		return err
	}
	backend := o.backend
	if backend == "" {
		backend = sim.BackendReference
	}
	refs := []drivers.ClusterRef{{Name: o.cluster, Driver: sim.Name, Nodes: o.nodes, Options: map[string]any{"vtpmBackend": backend}}}
	if len(o.filenames) > 0 {
		desired, diags := spec.Load(spec.LoadOptions{Paths: o.filenames, Stdin: o.root.stdin})
		if diags.HasErrors() {
			return fmt.Errorf("sim init: the YAML has errors, fix them first (see `tlreconcile validate -f %s`): %w", strings.Join(o.filenames, " -f "), diags.Err())
		}
		refs = refs[:0]
		for _, c := range desired.Clusters {
			if c.Driver == sim.Name {
				refs = append(refs, drivers.ClusterRef{Name: c.Name, Driver: c.Driver, Nodes: c.Nodes, Options: c.Options})
			}
		}
		if len(refs) == 0 {
			return fmt.Errorf("sim init: no Cluster document with driver: sim under %s: add one or use --cluster and --nodes", strings.Join(o.filenames, ", "))
		}
	}
	for _, ref := range refs {
		created, err := d.Init(ref)
		if err != nil {
			return err
		}
		verb := "exists already"
		if created {
			verb = "created"
		}
		if _, err := fmt.Fprintf(o.root.stdout, "cluster/%s: %s (nodes %s)\n", ref.Name, verb, strings.Join(ref.Nodes, ", ")); err != nil {
			return err
		}
	}
	return nil
}

// --- show ---

type simShowOptions struct {
	simOptions
	format string
}

func newSimShowCmd(root *rootOptions) *cobra.Command {
	o := &simShowOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print a sim cluster as the sim driver observes it, with injected faults",
		Long: `show observes a sim cluster exactly as plan and apply do (vTPM identities included)
and prints its nodes, VMs and injected faults. For the findings tlreconcile draws from an
observation, use tlreconcile show -f PATH.`,
		Example: `  tlreconcile sim show
  tlreconcile sim show --cluster hci-west --format json | jq '.observed.vms[].vtpm_identity'`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.format, "format", "text", "output format: text or json")
	return cmd
}

func (o *simShowOptions) Validate() error {
	return oneOf("sim show", "format", o.format, "text", "json")
}

// simShowJSON is `sim show --format json`.
type simShowJSON struct {
	Backend  string             `json:"vtpm_backend"`
	Observed *drivers.Observed  `json:"observed"`
	Faults   []sim.Fault        `json:"faults"`
	Ref      drivers.ClusterRef `json:"ref"`
}

func (o *simShowOptions) Run(ctx context.Context) error {
	d, name, err := o.open()
	if err != nil {
		return err
	}
	ref, err := d.Ref(name)
	if err != nil {
		return err
	}
	obs, err := d.Observe(ctx, ref)
	if err != nil {
		return err
	}
	faults, err := d.Faults(name)
	if err != nil {
		return err
	}
	if faults == nil {
		faults = []sim.Fault{}
	}
	backend, _ := ref.Options["vtpmBackend"].(string)
	if o.format == "json" {
		enc := json.NewEncoder(o.root.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(simShowJSON{Backend: backend, Observed: obs, Faults: faults, Ref: ref})
	}
	return renderSimShow(o.root.stdout, backend, obs, faults)
}

// renderSimShow writes the text form of `sim show`.
func renderSimShow(w io.Writer, backend string, obs *drivers.Observed, faults []sim.Fault) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster/%s (sim, vTPM backend %s)\n\n", obs.Cluster, backend)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tIGVMAGENT\tMIGRATION-IPSEC")
	for _, n := range obs.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.State, n.IgvmAgent, simOnOff(n.MigrationIPsec))
	}
	_ = tw.Flush()
	b.WriteString("\n")
	if len(obs.VMs) == 0 {
		b.WriteString("no VMs\n")
	} else {
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VM\tNODE\tPOWER\tGEN\tSECURITY\tCPU\tMEMORY\tSECURE-BOOT\tTPM\tKEY-PROT\tVBS\tENCRYPT\tFILES\tVTPM-ID\tMANAGED")
		for _, v := range obs.VMs {
			sb := "off"
			if v.SecureBoot {
				sb = v.SecureBootTemplate
			}
			tpm := simOnOff(v.TPMEnabled)
			if v.TPMEnabled && v.VTPMInitialized {
				tpm = "on, initialised"
			}
			id := "-"
			switch {
			case len(v.VTPMIdentity) >= 12:
				id = v.VTPMIdentity[:12]
			case v.TPMEnabled:
				id = "unknown"
			}
			managed := "no"
			if v.Annotations != nil {
				managed = v.Annotations.ManagedBy
			}
			vbs := "allowed"
			if v.VBSOptOut {
				vbs = "opted out"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d MB\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				v.Name, v.Node, v.Power, v.Generation, v.SecurityType, v.Processors, v.MemoryMB, sb, tpm,
				simOnOff(v.KeyProtector), vbs, simOnOff(v.EncryptState), v.FileAccess, id, managed)
		}
		_ = tw.Flush()
	}
	if len(faults) > 0 {
		b.WriteString("\ninjected faults (clear with `tlreconcile sim inject --clear`):\n")
		for _, f := range faults {
			var what []string
			if f.FailAlways {
				what = append(what, "fail always")
			}
			if f.Fail > 0 {
				what = append(what, fmt.Sprintf("fail next %d", f.Fail))
			}
			if f.Latency > 0 {
				what = append(what, "latency "+f.Latency.String())
			}
			if len(what) == 0 {
				what = append(what, "used up")
			}
			fmt.Fprintf(&b, "  %s: %s\n", f.Op, strings.Join(what, ", "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func simOnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// --- drift ---

type simDriftOptions struct {
	simOptions
	vm   string
	sets []string
}

func newSimDriftCmd(root *rootOptions) *cobra.Command {
	o := &simDriftOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "drift --vm NAME --set FIELD=VALUE...",
		Short: "Change a VM's observed settings behind tlreconcile's back",
		Long: `drift changes observed fields of a VM the way an administrator or a failure would,
without Hyper-V's rules: the next plan shows the drift. All --set values apply together
or not at all. Fields: ` + strings.Join(sim.DriftFields, ", ") + `.
The vTPM identity cannot be set; lose it with sim failover --lose-vtpm.`,
		Example: `  tlreconcile sim drift --cluster hci-west --vm avd-01 --set secureBoot=false
  tlreconcile sim drift --vm avd-01 --set processors=2 --set fileAccess=violation`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "VM to change")
	cmd.Flags().StringArrayVar(&o.sets, "set", nil, "FIELD=VALUE, repeatable")
	return cmd
}

func (o *simDriftOptions) Validate() error {
	if o.vm == "" || len(o.sets) == 0 {
		return errors.New("sim drift: name the VM and what to change: --vm NAME --set FIELD=VALUE")
	}
	for _, s := range o.sets {
		if _, err := sim.ParseSetting(s); err != nil {
			return fmt.Errorf("sim drift: --set: %w", err)
		}
	}
	return nil
}

func (o *simDriftOptions) Run(ctx context.Context) error {
	var settings []sim.Setting
	for _, s := range o.sets {
		st, _ := sim.ParseSetting(s) // checked in Validate
		settings = append(settings, st)
	}
	return o.change(func(d *sim.Driver, cluster string) (string, error) {
		err := d.Drift(ctx, cluster, o.vm, settings)
		return fmt.Sprintf("vm/%s: drifted %s", o.vm, strings.Join(o.sets, ", ")), err
	})
}

// --- failover ---

type simFailoverOptions struct {
	simOptions
	vm, to   string
	loseVTPM bool
}

func newSimFailoverCmd(root *rootOptions) *cobra.Command {
	o := &simFailoverOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "failover --vm NAME --to NODE [--lose-vtpm]",
		Short: "Fail a VM over to another node, keeping or losing its vTPM state",
		Long: `failover moves a VM as a node failure would: no live migration and no agent check on
the way. A running VM restarts on the target when that node can unlock its guest state,
otherwise it stays Off. With vTPM state transfer working the vTPM identity survives;
--lose-vtpm simulates it failing, so the VM comes back with a new vTPM identity.`,
		Example: `  tlreconcile sim failover --vm avd-01 --to node2
  tlreconcile sim failover --cluster hci-west --vm avd-01 --to node3 --lose-vtpm`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "VM to fail over")
	cmd.Flags().StringVar(&o.to, "to", "", "node it lands on")
	cmd.Flags().BoolVar(&o.loseVTPM, "lose-vtpm", false, "lose the vTPM state in the failover (new vTPM identity)")
	return cmd
}

func (o *simFailoverOptions) Validate() error {
	if o.vm == "" || o.to == "" {
		return errors.New("sim failover: name the VM and the target node: --vm NAME --to NODE")
	}
	return nil
}

func (o *simFailoverOptions) Run(ctx context.Context) error {
	return o.change(func(d *sim.Driver, cluster string) (string, error) {
		msg, err := d.Failover(ctx, cluster, o.vm, o.to, o.loseVTPM)
		return fmt.Sprintf("vm/%s: %s", o.vm, msg), err
	})
}

// --- agent ---

type simAgentOptions struct {
	simOptions
	node, state string
}

func newSimAgentCmd(root *rootOptions) *cobra.Command {
	o := &simAgentOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "agent --node NODE --state running|stopped|absent",
		Short: "Set the IgvmAgent service state of a node",
		Long: `agent sets a node's IgvmAgent. Stopped: trusted-launch VMs cannot start on or move to
the node and their vTPM identity there is unknown; the plan starts the agent again.
Absent: the node is blocked for trusted-launch VMs until it is redeployed.`,
		Example: `  tlreconcile sim agent --node node2 --state stopped
  tlreconcile sim agent --cluster hci-west --node node3 --state absent`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.node, "node", "", "node whose agent to set")
	cmd.Flags().StringVar(&o.state, "state", "", "running, stopped or absent")
	return cmd
}

func (o *simAgentOptions) Validate() error {
	if o.node == "" {
		return errors.New("sim agent: name the node: --node NODE")
	}
	return oneOf("sim agent", "state", o.state, string(drivers.AgentRunning), string(drivers.AgentStopped), string(drivers.AgentAbsent))
}

func (o *simAgentOptions) Run(context.Context) error {
	return o.change(func(d *sim.Driver, cluster string) (string, error) {
		err := d.SetAgent(cluster, o.node, drivers.AgentState(o.state))
		return fmt.Sprintf("node/%s: IgvmAgent %s", o.node, o.state), err
	})
}

// --- ipsec ---

type simIPsecOptions struct {
	simOptions
	node  string
	state string
}

func newSimIPsecCmd(root *rootOptions) *cobra.Command {
	o := &simIPsecOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:     "ipsec --node NODE --state on|off",
		Short:   "Turn a node's live-migration IPsec rules on or off",
		Example: `  tlreconcile sim ipsec --node node1 --state off`,
		Args:    cobra.NoArgs,
		RunE:    runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.node, "node", "", "node to change")
	cmd.Flags().StringVar(&o.state, "state", "", "on or off")
	return cmd
}

func (o *simIPsecOptions) Validate() error {
	if o.node == "" || o.state != "on" && o.state != "off" {
		return errors.New("sim ipsec: name the node and the state: --node NODE --state on|off")
	}
	return nil
}

func (o *simIPsecOptions) Run(context.Context) error {
	return o.change(func(d *sim.Driver, cluster string) (string, error) {
		err := d.SetIPsec(cluster, o.node, o.state == "on")
		return fmt.Sprintf("node/%s: live-migration IPsec %s", o.node, o.state), err
	})
}

// --- inject ---

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
	return cmd
}

func opNames() string {
	names := make([]string, 0, len(drivers.AllOps))
	for _, k := range drivers.AllOps {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

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
	f := sim.Fault{Op: drivers.OpKind(o.op), Fail: o.fail, FailAlways: o.failAlways, Latency: o.latency}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("sim inject: %w", err)
	}
	return nil
}

func (o *simInjectOptions) Run(context.Context) error {
	return o.change(func(d *sim.Driver, cluster string) (string, error) {
		if o.clear {
			err := d.ClearFaults(cluster)
			return fmt.Sprintf("cluster/%s: faults cleared", cluster), err
		}
		err := d.Inject(cluster, sim.Fault{Op: drivers.OpKind(o.op), Fail: o.fail, FailAlways: o.failAlways, Latency: o.latency})
		return fmt.Sprintf("cluster/%s: fault injected for %s", cluster, o.op), err
	})
}

// --- create-unmanaged ---

type simCreateUnmanagedOptions struct {
	simOptions
	vm         string
	node       string
	generation int
	running    bool
}

func newSimCreateUnmanagedCmd(root *rootOptions) *cobra.Command {
	o := &simCreateUnmanagedOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "create-unmanaged --vm NAME [--generation 1|2] [--node NODE] [--running]",
		Short: "Create a VM outside tlreconcile (no annotations), as an administrator would",
		Long: `create-unmanaged creates a VM without tlreconcile's annotations. tlreconcile reports
such VMs and never touches them. Generation 2 VMs get trusted launch with Secure Boot, a
key protector and a vTPM; Generation 1 VMs are Standard.`,
		Example: `  tlreconcile sim create-unmanaged --vm legacy-01
  tlreconcile sim create-unmanaged --vm old-01 --generation 1 --node node2 --running`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "name of the new VM")
	cmd.Flags().StringVar(&o.node, "node", "", "node to create it on (default: the first that can host it)")
	cmd.Flags().IntVar(&o.generation, "generation", 2, "Hyper-V generation: 1 or 2")
	cmd.Flags().BoolVar(&o.running, "running", false, "start it after creating it")
	return cmd
}

func (o *simCreateUnmanagedOptions) Validate() error {
	if o.vm == "" {
		return errors.New("sim create-unmanaged: name the VM: --vm NAME")
	}
	if !slices.Contains([]int{1, 2}, o.generation) {
		return fmt.Errorf("sim create-unmanaged: --generation %d: use 1 or 2", o.generation)
	}
	return nil
}

func (o *simCreateUnmanagedOptions) Run(ctx context.Context) error {
	return o.change(func(d *sim.Driver, cluster string) (string, error) {
		err := d.CreateUnmanaged(ctx, cluster, o.vm, sim.UnmanagedVM{Generation: o.generation, Node: o.node, Running: o.running})
		return fmt.Sprintf("vm/%s: created outside tlreconcile (Generation %d)", o.vm, o.generation), err
	})
}

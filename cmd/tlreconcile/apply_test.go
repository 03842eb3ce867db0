package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/azurelocal"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// applyBin is the tlreconcile binary TestMain builds once, for tests where a
// process must really die or two processes must really race for the lock.
var applyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tlreconcile-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	applyBin = filepath.Join(dir, "tlreconcile")
	if out, err := exec.Command("go", "build", "-o", applyBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// applyEnv is a desired-state folder and a sim state dir for one test.
type applyEnv struct {
	t     *testing.T
	dir   string
	state string
}

const applyClusterYAML = `apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  driver: sim
  nodes: [node1, node2]
  liveMigration: {encryption: ipsec}
`

type vmDoc struct {
	name       string
	processors int
	template   string
	standard   bool   // a Standard VM (no vTPM) instead of a trusted-launch one
	extra      string // more spec lines, indented two spaces
}

func (v vmDoc) yaml() string {
	if v.processors == 0 {
		v.processors = 2
	}
	if v.template == "" {
		v.template = spec.TemplateMicrosoftWindows
	}
	security, vtpm := "TrustedLaunch", "true"
	if v.standard {
		security, vtpm = "Standard", "false"
	}
	return fmt.Sprintf(`---
apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata: {name: %s, cluster: c1}
spec:
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  securityType: %s
  processors: %d
  memoryMB: 4096
  secureBoot: {enabled: true, template: %s}
  vtpm: {enabled: %s}
  vbs: true
  encryptStateAndMigrationTraffic: true
  power: Running
`, v.name, security, v.processors, v.template, vtpm) + v.extra
}

func newApplyEnv(t *testing.T, vms ...vmDoc) *applyEnv {
	t.Helper()
	root := t.TempDir()
	e := &applyEnv{t: t, dir: filepath.Join(root, "desired"), state: filepath.Join(root, "state")}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.write(vms...)
	return e
}

func (e *applyEnv) write(vms ...vmDoc) {
	e.t.Helper()
	var b strings.Builder
	b.WriteString(applyClusterYAML)
	for _, v := range vms {
		b.WriteString(v.yaml())
	}
	if err := os.WriteFile(filepath.Join(e.dir, "desired.yaml"), []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// command prepares the real binary with this env's state dir.
func (e *applyEnv) command(args ...string) *exec.Cmd {
	cmd := exec.Command(applyBin, append([]string{"--state-dir", e.state, "--no-color"}, args...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	return cmd
}

// run runs the binary to completion and returns stdout, stderr and exit code.
func (e *applyEnv) run(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := e.command(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// mustApply applies the desired state and fails the test unless it succeeds.
func (e *applyEnv) mustApply(extra ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(append([]string{"apply", "-f", e.dir, "--auto-approve", "--retry-base", "1ms", "--retry-max", "5ms"}, extra...)...)
	if code != 0 {
		e.t.Fatalf("apply exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	return out
}

// converged asserts that another apply finds nothing to change.
func (e *applyEnv) converged() {
	e.t.Helper()
	out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve")
	if code != 0 || !strings.Contains(out, "No changes.") {
		e.t.Fatalf("not converged: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// sim runs a `tlreconcile sim` incident on this env's simulated Azure Local
// (the platform driver: sim runs on) and fails the test unless it succeeds.
func (e *applyEnv) sim(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(append([]string{"sim"}, args...)...)
	if code != 0 {
		e.t.Fatalf("sim %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// inject makes ARM misbehave for every process using this env's platform:
// the flags of `sim arm-fault`, e.g. "--operation", "*", "--latency", "150ms".
func (e *applyEnv) inject(flags ...string) {
	e.t.Helper()
	e.sim(append([]string{"arm-fault"}, flags...)...)
}

// clearFaults makes ARM well again.
func (e *applyEnv) clearFaults() {
	e.t.Helper()
	e.sim("arm-fault", "--clear")
}

// drift changes vm behind ARM's back with `sim drift --set` settings.
func (e *applyEnv) drift(vm string, sets ...string) {
	e.t.Helper()
	args := []string{"drift", "--vm", vm}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	e.sim(args...)
}

// applyRef is the cluster of applyClusterYAML as the driver sees it.
var applyRef = drivers.ClusterRef{Name: "c1", Driver: azurelocal.EmbeddedName, Nodes: []string{"node1", "node2"}}

// observer is the azurelocal driver on this env's embedded platform, the
// driver the binary runs for driver: sim; the test closes it.
func (e *applyEnv) observer() *azurelocal.Driver {
	e.t.Helper()
	d, err := azurelocal.EmbeddedFactory(drivers.Config{StateDir: e.state})
	if err != nil {
		e.t.Fatal(err)
	}
	az := d.(*azurelocal.Driver)
	e.t.Cleanup(func() { _ = az.Close() })
	return az
}

// observe is the cluster as the driver sees it now.
func (e *applyEnv) observe() *drivers.Observed {
	e.t.Helper()
	obs, err := e.observer().Observe(context.Background(), applyRef)
	if err != nil {
		e.t.Fatalf("observe cluster/c1: %v", err)
	}
	return obs
}

// workloads are the VMs of obs that tlreconcile may manage (the Arc
// resource bridge left out).
func workloads(obs *drivers.Observed) []drivers.VM {
	var out []drivers.VM
	for _, v := range obs.VMs {
		if !v.Infrastructure {
			out = append(out, v)
		}
	}
	return out
}

func (e *applyEnv) vm(name string) *drivers.VM {
	e.t.Helper()
	vm, err := e.observer().ObserveVM(context.Background(), applyRef, name)
	if err != nil {
		e.t.Fatalf("observe vm/%s: %v", name, err)
	}
	return vm
}

// otherNode is a node of c1 that vm is not on: where a failover can take it.
func (e *applyEnv) otherNode(vm string) string {
	e.t.Helper()
	on := e.vm(vm).Node
	for _, n := range applyRef.Nodes {
		if n != on {
			return n
		}
	}
	e.t.Fatalf("vm/%s is on %s and c1 has no other node", vm, on)
	return ""
}

// savePlan makes a plan file with `tlreconcile plan -out`.
func (e *applyEnv) savePlan(extra ...string) string {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "plan.json")
	args := append([]string{"plan", "-f", e.dir, "-out", path}, extra...)
	if _, stderr, code := e.run(args...); code != 0 {
		e.t.Fatalf("plan -out exited %d: %s", code, stderr)
	}
	return path
}

func TestApplyConvergesAndReportsJSON(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"}, vmDoc{name: "b"})
	out := e.mustApply("--format", "json")
	var last apply.Event
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if err := json.Unmarshal([]byte(line), &last); err != nil {
			t.Fatalf("stdout line %d is not a JSON event: %v\n%s", i+1, err, line)
		}
	}
	if last.Kind != apply.EventRunFinished || last.Report == nil || last.Report.Counts.Succeeded != 4 {
		t.Errorf("last event %+v, want run-finished with 4 succeeded (2 nodes, 2 VMs)", last)
	}
	e.converged()
	if _, err := os.Stat(filepath.Join(e.state, apply.JournalFile)); err == nil {
		if b, _ := os.ReadFile(filepath.Join(e.state, apply.JournalFile)); len(b) != 0 {
			t.Errorf("journal not cleared after success: %s", b)
		}
	}
}

func TestApplyRefusesWithoutTerminal(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"})
	_, errOut, code := e.run("apply", "-f", e.dir)
	if code != 1 || !strings.Contains(errOut, "no terminal to ask for approval, nothing was applied: re-run with --auto-approve") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if vms := workloads(e.observe()); len(vms) != 0 {
		t.Errorf("something was created without approval: %+v", vms)
	}
}

func TestApplyAsksOnTerminal(t *testing.T) {
	tests := []struct {
		answer string
		want   int
	}{{"yes\n", 0}, {"no\n", 1}, {"", 1}}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.answer), func(t *testing.T) {
			e := newApplyEnv(t, vmDoc{name: "a"})
			var out, errOut bytes.Buffer
			root := &rootOptions{stdin: strings.NewReader(tt.answer), stdout: &out, stderr: &errOut, stateDir: e.state, noColor: true}
			o := &applyOptions{root: root, filenames: []string{e.dir}, parallelism: 2, format: "text", progress: progressAuto, outIsTerminal: writerIsTerminal,
				retry: apply.Retry{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond}, isTerminal: func(io.Reader) bool { return true }}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			err := o.Run(context.Background())
			if got := exitCode(err); got != tt.want {
				t.Errorf("exit %d, want %d (err %v)\n%s", got, tt.want, err, errOut.String())
			}
			if !strings.Contains(errOut.String(), "Only 'yes' is accepted") {
				t.Errorf("no question asked:\n%s", errOut.String())
			}
		})
	}
}

func TestApplyValidate(t *testing.T) {
	ok := func() applyOptions {
		return applyOptions{filenames: []string{"d"}, parallelism: 10, format: "text", progress: progressAuto, retry: apply.Retry{Attempts: 5, Base: time.Millisecond, Max: time.Second}}
	}
	tests := []struct {
		name string
		mod  func(*applyOptions)
		want string
	}{
		{"fine", func(*applyOptions) {}, ""},
		{"nothing", func(o *applyOptions) { o.filenames = nil }, "nothing to apply"},
		{"both", func(o *applyOptions) { o.planFile = "p.json" }, "not both"},
		{"target with plan file", func(o *applyOptions) { o.filenames, o.planFile, o.targets = nil, "p.json", []string{"vm/a"} }, "pass them to `tlreconcile plan`"},
		{"format", func(o *applyOptions) { o.format = "yaml" }, `--format "yaml" is unknown`},
		{"parallelism", func(o *applyOptions) { o.parallelism = 0 }, "--parallelism 0 must be 1 or more"},
		{"progress", func(o *applyOptions) { o.progress = "yes" }, `--progress "yes" is unknown; use auto, always or never`},
		{"progress never with json", func(o *applyOptions) { o.progress, o.format = progressNever, "json" }, ""},
		{"progress always with json", func(o *applyOptions) { o.progress, o.format = progressAlways, "json" }, "--format json writes only JSON lines"},
		{"target", func(o *applyOptions) { o.targets = []string{"a"} }, `--target "a": write vm/NAME`},
		{"accept", func(o *applyOptions) { o.acceptIdentity = []string{"vm/a"} }, ""},
		{"stdin without auto-approve", func(o *applyOptions) { o.filenames = []string{"d", "-"} }, "cannot answer the approval question"},
		{"stdin with auto-approve", func(o *applyOptions) { o.filenames, o.autoApprove = []string{"-"}, true }, ""},
		{"accept without vm/", func(o *applyOptions) { o.acceptIdentity = []string{"vm/"} }, `--accept-vtpm-identity "vm/": write vm/NAME`},
		{"accept with plan file", func(o *applyOptions) { o.filenames, o.planFile, o.acceptIdentity = nil, "p.json", []string{"vm/a"} }, "--accept-vtpm-identity shape a new plan"},
		{"lock timeout", func(o *applyOptions) { o.lockTimeout = -time.Second }, "--lock-timeout -1s"},
		{"retry", func(o *applyOptions) { o.retry.Base = time.Hour }, "retry base 1h0m0s is above retry max 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok()
			tt.mod(&o)
			err := o.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestApplyPermanentFailure: a step that always fails stops its VM's change,
// the VM the plan stopped is running again, other VMs finish, exit 1; a re-run
// after the fault is cleared converges.
func TestApplyPermanentFailure(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"}, vmDoc{name: "b"})
	e.mustApply()
	e.write(vmDoc{name: "a", processors: 4}, vmDoc{name: "b"}, vmDoc{name: "c"})
	e.inject("--operation", "VirtualMachineInstances_Update", "--fail-lro", "1000")
	out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve", "--retry-base", "1ms", "--retry-max", "2ms")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"vm/a/set-hardware: failed", "power: started again", "✓ vm/c", "✗ vm/a", "1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if a := e.vm("a"); a.Power != drivers.PowerRunning {
		t.Errorf("vm/a is %s, want Running again", a.Power)
	}
	e.clearFaults()
	e.mustApply()
	e.converged()
	if a := e.vm("a"); a.Processors != 4 || a.Power != drivers.PowerRunning {
		t.Errorf("vm/a: %d processors, %s", a.Processors, a.Power)
	}
}

// TestApplySIGKILLResumes kills a slow apply with SIGKILL mid-run; the re-run
// must converge without creating any VM a second time.
func TestApplySIGKILLResumes(t *testing.T) {
	var vms []vmDoc
	for _, n := range []string{"a", "b", "c", "d"} {
		vms = append(vms, vmDoc{name: n})
	}
	e := newApplyEnv(t, vms...)
	// Create the cluster, then slow every op down so the kill lands mid-run.
	e.run("apply", "-f", e.dir) // refuses (no terminal) but observes: the sim cluster now exists
	e.inject("--operation", "*", "--latency", "150ms")
	cmd := e.command("apply", "-f", e.dir, "--auto-approve", "--parallelism", "2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Only completed steps count: apply journals an identity-changing step
	// (create-vm among them) as pending before it runs, and a create that was
	// only pending when the kill landed may rightly run again.
	completed := func(entries []apply.Entry) []apply.Entry {
		var out []apply.Entry
		for _, en := range entries {
			if !en.Pending {
				out = append(out, en)
			}
		}
		return out
	}
	journal := filepath.Join(e.state, apply.JournalFile)
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, _ := apply.ReadJournalFile(e.state)
		var creates int
		for _, en := range completed(entries) {
			if en.Op == drivers.OpCreateVM {
				creates++
			}
		}
		if creates >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the journal %s never showed two creates", journal)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	all, err := apply.ReadJournalFile(e.state)
	if err != nil {
		t.Fatal(err)
	}
	before := completed(all)
	created := map[string]bool{}
	for _, en := range before {
		if en.Op == drivers.OpCreateVM {
			created[en.Resource] = true
		}
	}
	if len(before) == 0 || len(before) >= 4*7+2 {
		t.Fatalf("journal has %d entries: the kill did not land mid-run", len(before))
	}

	e.clearFaults()
	out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve", "--format", "json")
	if code != 0 {
		t.Fatalf("re-run exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "resuming: the journal holds") {
		t.Errorf("re-run did not say it resumes:\n%s", errOut)
	}
	if !strings.Contains(errOut, "reclaimed the lock left by pid") {
		t.Errorf("re-run did not reclaim the killed holder's lock:\n%s", errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev apply.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if ev.Kind == apply.EventStepStarted && ev.Op == drivers.OpCreateVM && created[ev.Resource] {
			t.Errorf("%s was created again after the kill", ev.Resource)
		}
	}
	e.converged()
	for _, n := range []string{"a", "b", "c", "d"} {
		vm := e.vm(n)
		if vm.Power != drivers.PowerRunning || vm.Annotations == nil || vm.Annotations.VTPMIdentity != vm.VTPMIdentity {
			t.Errorf("vm/%s: %s, annotations %+v, identity %s", n, vm.Power, vm.Annotations, vm.VTPMIdentity)
		}
	}
}

// TestApplyLockHeld: while one apply runs, a second waits --lock-timeout and
// then fails naming the holder.
func TestApplyLockHeld(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"}, vmDoc{name: "b"})
	e.run("apply", "-f", e.dir)
	e.inject("--operation", "*", "--latency", "100ms")
	first := e.command("apply", "-f", e.dir, "--auto-approve")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Wait() }()
	lockPath := filepath.Join(e.state, apply.LockFile)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(lockPath)
		if h, ok, _ := apply.ParseHolder(b); ok && h.PID == first.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatal("the first apply never recorded itself in the lock file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	_, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve", "--lock-timeout", "300ms")
	if code != 1 {
		t.Fatalf("second apply exit %d, want 1\n%s", code, errOut)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("second apply gave up after %s, before --lock-timeout", waited)
	}
	for _, want := range []string{fmt.Sprintf("held by pid %d", first.Process.Pid), "tlreconcile --state-dir", "raise --lock-timeout"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// TestApplyStalePlan: drift between plan and apply makes the saved plan stale;
// apply refuses it naming what moved and changes nothing.
func TestApplyStalePlan(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"}, vmDoc{name: "b"})
	e.mustApply()
	e.write(vmDoc{name: "a", processors: 4}, vmDoc{name: "b"})
	path := e.savePlan()
	e.drift("b", "power=Off")
	_, errOut, code := e.run("apply", path)
	if code != 1 || !strings.Contains(errOut, "is stale") || !strings.Contains(errOut, "vm/c1/b") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if a := e.vm("a"); a.Processors != 2 {
		t.Errorf("a stale plan changed vm/a: %d processors", a.Processors)
	}
	// A fresh plan applies as saved, without asking.
	out, errOut, code := e.run("apply", e.savePlan())
	if code != 0 {
		t.Fatalf("fresh plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if a := e.vm("a"); a.Processors != 4 {
		t.Errorf("vm/a: %d processors after the fresh plan", a.Processors)
	}
}

// TestApplyDestructiveNeedsFlag: the security profile of an Azure Local VM
// is fixed at create, so turning vm/a into a Standard VM replaces it, and the
// delete that destroys its vTPM is refused without --allow-destructive,
// naming the step, with nothing changed (not even the unrelated vm/b);
// allowed, it converges on the new VM.
func TestApplyDestructiveNeedsFlag(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"}, vmDoc{name: "b"})
	e.mustApply()
	oldID := e.vm("a").VTPMIdentity
	e.write(vmDoc{name: "a", standard: true}, vmDoc{name: "b", processors: 4})
	out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "vm/a/delete-vm is destructive: nothing was applied; re-run with --allow-destructive") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if a, b := e.vm("a"), e.vm("b"); a.VTPMIdentity != oldID || a.Power != drivers.PowerRunning || b.Processors != 2 {
		t.Errorf("something changed: a %s %s, b %d processors", a.VTPMIdentity, a.Power, b.Processors)
	}
	e.mustApply("--allow-destructive")
	e.converged()
	a := e.vm("a")
	if a.SecurityType != spec.SecurityStandard || a.TPMEnabled || a.Annotations == nil || a.Power != drivers.PowerRunning {
		t.Errorf("vm/a after the allowed replace: security %s, vTPM %v, annotations %+v, %s", a.SecurityType, a.TPMEnabled, a.Annotations, a.Power)
	}
}

// TestApplySIGINTFinishesRunningSteps: an interrupt starts no new step, lets
// running ones finish, reports, exits 1; a re-run converges.
func TestApplySIGINTFinishesRunningSteps(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"}, vmDoc{name: "b"}, vmDoc{name: "c"})
	e.run("apply", "-f", e.dir)
	e.inject("--operation", "*", "--latency", "150ms")
	cmd := e.command("apply", "-f", e.dir, "--auto-approve", "--parallelism", "1")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if entries, _ := apply.ReadJournalFile(e.state); len(entries) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the journal never reached 3 entries")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("interrupted apply: %v, want exit 1\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{"Interrupted: re-run apply to finish.", "skipped: cancelled", "cancelled before it started"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// Every step that started also finished: no "started" without an outcome.
	started := strings.Count(text, ": started\n")
	finished := strings.Count(text, ": done") + strings.Count(text, ": failed")
	if started != finished {
		t.Errorf("%d steps started but %d finished:\n%s", started, finished, text)
	}
	e.clearFaults()
	e.mustApply()
	e.converged()
}

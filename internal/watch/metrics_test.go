package watch_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/watch"
)

// findingSeries is tlreconcile_findings as "rule severity cluster" -> value.
func findingSeries(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams["tlreconcile_findings"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		out[l["rule"]+" "+l["severity"]+" "+l["cluster"]] = m.GetGauge().GetValue()
	}
	return out
}

// A lost vTPM is a finding, not a change: the run's result does not show it
// (a run with nothing else to do is "noop"), so only a findings metric lets
// anyone alert on it. A finding that is resolved leaves the set.
func TestSimFindingsMetric(t *testing.T) {
	e := startSim(t, watch.ModeCorrect, nil)
	e.waitIdle(t)
	writeAtomic(t, filepath.Join(e.dir, "avd-01.yaml"), vmYAML("avd-01", 2))
	e.waitVM(t, "avd-01", "created", func(v *drivers.VM) bool { return v.Annotations != nil && v.Power == drivers.PowerRunning })
	waitFor(t, "the create run to finish", func() bool { st := e.status(t); return !st.Running && st.Pending == "" })

	ctx := context.Background()
	if _, err := e.drv.Failover(ctx, "hci-west", "avd-01", "node1", true); err != nil {
		t.Fatal(err)
	}
	if err := e.drv.SetAgent("hci-west", "node2", drivers.AgentAbsent); err != nil {
		t.Fatal(err)
	}
	runs := e.status(t).Runs
	e.w.Resync()
	var st watch.Status
	waitFor(t, "a run after the failover", func() bool { st = e.status(t); return st.Runs > runs && !st.Running && st.Pending == "" })
	want := map[string]float64{}
	for _, f := range st.LastRun.Findings {
		want[f.Rule+" "+string(f.Severity)+" "+f.Cluster]++
	}
	lost := plan.RuleVTPMStateLost + " error hci-west"
	agent := plan.RuleIgvmAgentAbsent + " warning hci-west"
	if want[lost] != 1 || want[agent] != 1 {
		t.Fatalf("the run after a lost vTPM and a missing agent lacks their findings: %+v", st.LastRun.Findings)
	}
	fams := e.metrics(t)
	if help := fams["tlreconcile_findings"].GetHelp(); !strings.Contains(help, "(error, warning, info)") {
		t.Errorf("tlreconcile_findings HELP %q does not list the severities", help)
	}
	if got := findingSeries(fams); !equalSeries(got, want) {
		t.Fatalf("tlreconcile_findings = %v, want %v (the run's findings)", got, want)
	}

	// The agent is installed again: its finding leaves the metric, the lost vTPM stays.
	if err := e.drv.SetAgent("hci-west", "node2", drivers.AgentRunning); err != nil {
		t.Fatal(err)
	}
	runs = st.Runs
	e.w.Resync()
	waitFor(t, "a run once the agent is back", func() bool { st = e.status(t); return st.Runs > runs && !st.Running && st.Pending == "" })
	got := findingSeries(e.metrics(t))
	if v, ok := got[agent]; ok && v != 0 {
		t.Errorf("tlreconcile_findings{%s} = %v once the agent is back, want 0 or absent: %v", agent, v, got)
	}
	if got[lost] != 1 {
		t.Errorf("tlreconcile_findings{%s} = %v, want 1: %v", lost, got[lost], got)
	}
}

func equalSeries(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// Every value a result label takes is listed in its family's HELP text, and
// the list holds nothing else.
func TestMetricsHelpNamesLabelValues(t *testing.T) {
	e := startSim(t, watch.ModeCorrect, nil)
	e.waitIdle(t)
	writeAtomic(t, filepath.Join(e.dir, "avd-01.yaml"), vmYAML("avd-01", 2))
	e.waitVM(t, "avd-01", "created", func(v *drivers.VM) bool { return v.Annotations != nil })
	waitFor(t, "the create run to finish", func() bool { st := e.status(t); return !st.Running && st.Pending == "" })
	fams := e.metrics(t)
	cases := []struct {
		family string
		values []string
	}{
		{"tlreconcile_reconciles_total", []string{watch.ResultNoop, watch.ResultApplied, watch.ResultDrift, watch.ResultError, watch.ResultSkipped}},
		{"tlreconcile_steps_total", []string{string(apply.StatusSucceeded), string(apply.StatusFailed), string(apply.StatusSkipped), string(apply.StatusBlocked)}},
	}
	for _, tc := range cases {
		t.Run(tc.family, func(t *testing.T) {
			help := fams[tc.family].GetHelp()
			if help == "" {
				t.Fatalf("%s has no HELP (or is not exported before its first sample)", tc.family)
			}
			list := "(" + strings.Join(tc.values, ", ") + ")"
			if !strings.Contains(help, list) {
				t.Errorf("HELP %q does not list the label's values %s", help, list)
			}
		})
	}
}

// promtool, when installed (apt-get install prometheus), finds nothing wrong
// with the exposition: names, HELP, units, counters ending in _total.
func TestMetricsPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	e := startSim(t, watch.ModeCorrect, nil)
	e.waitIdle(t)
	writeAtomic(t, filepath.Join(e.dir, "avd-01.yaml"), vmYAML("avd-01", 2))
	e.waitVM(t, "avd-01", "created", func(v *drivers.VM) bool { return v.Annotations != nil })
	waitFor(t, "the create run to finish", func() bool { st := e.status(t); return !st.Running && st.Pending == "" })
	_, body := e.get(t, "/metrics")
	var ours []string
	for _, line := range strings.SplitAfter(string(body), "\n") {
		if strings.Contains(line, "tlreconcile_") {
			ours = append(ours, line)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(strings.Join(ours, ""))
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s\nchecked:\n%s", err, out, strings.Join(ours, ""))
	}
}

package view_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/golden"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// sampleEvents is one run with every event kind, on a fixed clock.
func sampleEvents() []apply.Event {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(ms int, k apply.EventKind, res, step string, op drivers.OpKind) apply.Event {
		return apply.Event{Time: at(ms), Kind: k, Resource: res, Cluster: "hci-west", StepID: step, Op: op}
	}
	var out []apply.Event
	out = append(out, apply.Event{Time: at(0), Kind: apply.EventRunStarted, Message: "0 cluster/node change(s), 3 VM change(s), parallelism 10"})
	out = append(out, ev(1, apply.EventStepStarted, "vm/avd-01", "vm/avd-01/stop-vm", drivers.OpStopVM))
	e := ev(1500, apply.EventStepDone, "vm/avd-01", "vm/avd-01/stop-vm", drivers.OpStopVM)
	e.Attempt, e.Elapsed, e.Changed = 1, 1499*time.Millisecond, true
	out = append(out, e)
	out = append(out, ev(1501, apply.EventStepStarted, "vm/avd-01", "vm/avd-01/set-secure-boot", drivers.OpSetSecureBoot))
	e = ev(1700, apply.EventStepRetrying, "vm/avd-01", "vm/avd-01/set-secure-boot", drivers.OpSetSecureBoot)
	e.Attempt, e.Delay, e.Error = 1, 180*time.Millisecond, "vm/avd-01: set-secure-boot: injected fault"
	out = append(out, e)
	e = ev(2000, apply.EventStepDone, "vm/avd-01", "vm/avd-01/set-secure-boot", drivers.OpSetSecureBoot)
	e.Attempt, e.Elapsed, e.Changed = 2, 499*time.Millisecond, true
	out = append(out, e)
	e = ev(2100, apply.EventStepFailed, "vm/avd-01", "vm/avd-01/enable-tpm", drivers.OpEnableTPM)
	e.Attempt, e.Elapsed, e.Error = 1, 90*time.Millisecond, "vm/avd-01: enable-tpm: cannot be changed without a valid key protector"
	out = append(out, e)
	e = ev(2101, apply.EventStepSkipped, "vm/avd-01", "vm/avd-01/start-vm", drivers.OpStartVM)
	e.Message = "not run: an earlier step of vm/avd-01 failed"
	out = append(out, e)
	e = ev(2102, apply.EventPowerRestore, "vm/avd-01", "", drivers.OpStartVM)
	e.Message = "left Off: enable-tpm failed and starting the VM could initialise its vTPM in an unintended state"
	out = append(out, e)
	e = ev(2200, apply.EventStepDone, "vm/avd-02", "set-annotations", drivers.OpSetAnnotations)
	e.Attempt, e.Elapsed = 1, 3*time.Millisecond
	out = append(out, e)
	out = append(out, ev(2300, apply.EventVerified, "vm/avd-02", "", ""))
	e = ev(2400, apply.EventVerifyFailed, "vm/avd-03", "", "")
	e.Error = "vm/avd-03: verify: secure_boot is false, want true: the setting did not take"
	out = append(out, e)
	rep := &apply.Report{Started: t0, Finished: at(2500), Resources: []apply.ResourceResult{
		{Resource: "vm/avd-01", Cluster: "hci-west", Action: plan.ActionUpdate, Status: apply.StatusFailed,
			Reason: "vm/avd-01: enable-tpm: cannot be changed without a valid key protector",
			Power:  "left Off: enable-tpm failed and starting the VM could initialise its vTPM in an unintended state",
			Steps: []apply.StepResult{{ID: "stop-vm", Op: drivers.OpStopVM, Status: apply.StatusSucceeded, Attempts: 1},
				{ID: "enable-tpm", Op: drivers.OpEnableTPM, Status: apply.StatusFailed, Attempts: 1}}},
		{Resource: "vm/avd-02", Cluster: "hci-west", Action: plan.ActionCreate, Status: apply.StatusSucceeded, VTPMIdentity: "ab12",
			Steps: []apply.StepResult{{ID: "create-vm", Op: drivers.OpCreateVM, Status: apply.StatusSucceeded, Attempts: 1}}},
		{Resource: "vm/avd-04", Cluster: "hci-west", Action: plan.ActionReplace, Status: apply.StatusBlocked, Reason: "replace: vm/avd-04 is protected", Steps: []apply.StepResult{}},
		{Resource: "vm/avd-05", Cluster: "hci-west", Action: plan.ActionUpdate, Status: apply.StatusSkipped, Reason: "cancelled before it started", Steps: []apply.StepResult{}},
	}}
	rep.Counts = apply.Counts{Succeeded: 1, Failed: 1, Skipped: 1, Blocked: 1}
	out = append(out, apply.Event{Time: at(2500), Kind: apply.EventRunFinished, Elapsed: 2500 * time.Millisecond, Report: rep})
	return out
}

func TestEventsGolden(t *testing.T) {
	tests := []struct {
		name string
		sink func(w *bytes.Buffer) func(apply.Event)
	}{
		{"events.txt", func(w *bytes.Buffer) func(apply.Event) { return view.EventsText(w, false) }},
		{"events-color.txt", func(w *bytes.Buffer) func(apply.Event) { return view.EventsText(w, true) }},
		{"events.jsonl", func(w *bytes.Buffer) func(apply.Event) { return view.EventsJSON(w) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			sink := tt.sink(&buf)
			for _, e := range sampleEvents() {
				sink(e)
			}
			golden.Check(t, filepath.Join("testdata", tt.name+".golden"), buf.Bytes())
		})
	}
}

// TestEventsJSONLines: every line is one self-contained JSON object a CI log
// parser can read back.
func TestEventsJSONLines(t *testing.T) {
	var buf bytes.Buffer
	sink := view.EventsJSON(&buf)
	evs := sampleEvents()
	for _, e := range evs {
		sink(e)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != len(evs) {
		t.Fatalf("%d lines for %d events", len(lines), len(evs))
	}
	for i, l := range lines {
		var back apply.Event
		if err := json.Unmarshal(l, &back); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if back.Kind != evs[i].Kind || !back.Time.Equal(evs[i].Time) || back.Elapsed != evs[i].Elapsed {
			t.Errorf("line %d reads back as %+v, want %+v", i+1, back, evs[i])
		}
	}
}

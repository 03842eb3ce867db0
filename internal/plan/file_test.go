package plan_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// samplePlan has a create waiting for a node step, so Read checks cross-change dependencies.
func samplePlan(t *testing.T) *plan.Plan {
	t.Helper()
	nodes := healthyNodes()
	nodes[1].IgvmAgent = drivers.AgentStopped
	d := desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) { v.Placement.Node = "node2" }), vmSpec("b"))
	return mustBuild(t, d, observedOf(nodes, synced(vmSpec("b"), "node1", id1, func(o *drivers.VM) { o.Processors = 1 })), plan.Options{})
}

func TestWriteReadRoundTrip(t *testing.T) {
	p := samplePlan(t)
	var a bytes.Buffer
	if err := plan.Write(&a, p); err != nil {
		t.Fatal(err)
	}
	back, err := plan.Read(bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	var b bytes.Buffer
	if err := plan.Write(&b, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("plan file changed in a round trip:\n%s\nvs\n%s", a.String(), b.String())
	}
}

// reseal gives an edited plan file body a header that matches it, as a tool
// that knows the format could: Read then checks the content itself.
func reseal(t *testing.T, file string) string {
	t.Helper()
	_, body, ok := strings.Cut(file, "\n")
	if !ok {
		t.Fatal("plan file has no header line")
	}
	sum := sha256.Sum256([]byte(body))
	return fmt.Sprintf(`{"format":"tlreconcile-plan","format_version":%q,"bytes":%d,"sha256":%q}`+"\n%s", plan.FormatVersion, len(body), hex.EncodeToString(sum[:]), body)
}

func TestReadRejects(t *testing.T) {
	var buf bytes.Buffer
	if err := plan.Write(&buf, samplePlan(t)); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	tests := []struct {
		name, from, to, want string
	}{
		{"not json", good[strings.Index(good, "\n")+1:], "{", "not valid plan JSON"},
		{"other format version", `"format_version": "2"`, `"format_version": "1"`, `format_version "1"`},
		{"unknown op", `"op": "set-processor"`, `"op": "format-disk"`, `unknown op "format-disk"`},
		{"unknown action", `"action": "create"`, `"action": "recreate"`, `unknown action "recreate"`},
		{"unknown dependency", `"node/node2/start-igvm-agent"
          ]`, `"node/node9/start-igvm-agent"
          ]`, "unknown step node/node9/start-igvm-agent"},
		{"set-processor without a count", `"vm": "b",
          "params": {
            "processors": 4`, `"vm": "b",
          "params": {
            "processors": 0`, "no processor count"},
		{"duplicate step id", `"id": "vm/b/set-processor"`, `"id": "vm/b/stop-vm"`, "used twice"},
		{"unknown cluster", `"cluster": "c1",
      "action"`, `"cluster": "c9",
      "action"`, `cluster "c9" is not among`},
		{"records_identity on a node step", `"records_identity": false`, `"records_identity": true`, "only set-annotations records a vTPM identity, not start-igvm-agent"},
		{"unknown block code", `"blocked": null`, `"blocked": {"code": "because", "reason": "x"}`, `unknown code "because"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(good, tt.from, tt.to, 1)
			if in == good {
				t.Fatalf("test input not found in the plan file: %q", tt.from)
			}
			_, err := plan.Read(strings.NewReader(in))
			var de *plan.DigestError
			if !errors.As(err, &de) {
				t.Errorf("Read of the edited file = %v, want a *DigestError (the digest no longer matches)", err)
			}
			_, err = plan.Read(strings.NewReader(reseal(t, in)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read of the resealed file = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("cycle", func(t *testing.T) {
		in := strings.Replace(good, `"id": "vm/b/stop-vm",
          "op": "stop-vm",
          "cluster": "c1",
          "vm": "b",
          "depends_on": []`, `"id": "vm/b/stop-vm",
          "op": "stop-vm",
          "cluster": "c1",
          "vm": "b",
          "depends_on": ["vm/b/set-annotations"]`, 1)
		if in == good {
			t.Fatal("test input not found")
		}
		_, err := plan.Read(strings.NewReader(reseal(t, in)))
		var cyc *plan.CycleError
		if !errors.As(err, &cyc) || len(cyc.Edges) == 0 {
			t.Errorf("Read = %v, want a *CycleError listing edges", err)
		}
	})
}

// TestReadChecksTheDigestFirst: an edited, padded or cut file is refused as
// its bytes are read, before anything is decoded, and says what is wrong.
func TestReadChecksTheDigestFirst(t *testing.T) {
	var buf bytes.Buffer
	if err := plan.Write(&buf, samplePlan(t)); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	header, body, _ := strings.Cut(good, "\n")
	tests := []struct{ name, in, want string }{
		{"edited", strings.Replace(good, `"processors": 4`, `"processors": 8`, 1), "its content has sha256"},
		{"padded", good + strings.Repeat(" ", 1<<20), "longer than"},
		{"cut short", good[:len(good)-10], "cut short"},
		{"header announces too much", strings.Replace(header, `"bytes":`, `"bytes":99999`, 1) + "\n" + body, "outside 1 to 128 MiB"},
		{"bare plan JSON", body, "without the plan file header"},
		{"empty", "", "not a plan file"},
		{"YAML", "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\n", "not a plan file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plan.Read(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := plan.Read(strings.NewReader(good)); err != nil {
		t.Fatalf("the untouched file: %v", err)
	}
}

func TestStale(t *testing.T) {
	p := samplePlan(t)
	now := func(mut func(o *drivers.Observed)) map[string]*drivers.Observed {
		nodes := healthyNodes()
		nodes[1].IgvmAgent = drivers.AgentStopped
		o := observedOf(nodes, synced(vmSpec("b"), "node1", id1, func(o *drivers.VM) { o.Processors = 1 }))
		o["c1"].ObservedAt = t0.Add(time.Hour) // time alone is not a change
		if mut != nil {
			mut(o["c1"])
		}
		return o
	}
	tests := []struct {
		name string
		mut  func(o *drivers.Observed)
		want string
	}{
		{"nothing moved", nil, ""},
		{"a VM changed", func(o *drivers.Observed) { o.VMs[0].Power = drivers.PowerOff }, "vm/c1/b: changed since the plan was made"},
		{"a VM appeared", func(o *drivers.Observed) { o.VMs = append(o.VMs, synced(vmSpec("a"), "node2", id2)) }, "vm/c1/a: appeared since the plan was made"},
		{"a VM went", func(o *drivers.Observed) { o.VMs = nil }, "vm/c1/b: gone since the plan was made"},
		{"a node changed", func(o *drivers.Observed) { o.Nodes[1].IgvmAgent = drivers.AgentRunning }, "node/c1/node2: changed since the plan was made"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(plan.Stale(p, now(tt.mut)), "\n")
			if got != tt.want {
				t.Errorf("Stale = %q, want %q", got, tt.want)
			}
		})
	}
	if got := plan.Stale(p, map[string]*drivers.Observed{}); len(got) != 1 || !strings.Contains(got[0], "cluster/c1") {
		t.Errorf("Stale without the cluster = %q", got)
	}
}

func TestObservedSnapshotRoundTrip(t *testing.T) {
	o := observedOf(healthyNodes(), synced(vmSpec("a"), "node1", id1))
	o["c2"] = &drivers.Observed{Cluster: "c2", Driver: "sim", ObservedAt: t0.Add(-time.Hour)}
	var b bytes.Buffer
	if err := plan.WriteObserved(&b, o, nil); err != nil {
		t.Fatal(err)
	}
	back, at, err := plan.ReadObserved(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !at.Equal(t0.Add(-time.Hour)) {
		t.Errorf("observed_at = %v, want the oldest cluster's", at)
	}
	if len(back) != 2 || back["c1"].VMs[0].VTPMIdentity != id1 || back["c2"].VMs == nil {
		t.Errorf("snapshot round trip lost data: %+v", back)
	}
	// A plan from the snapshot is the plan from the live observation.
	d := desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) { v.Processors = 8 }))
	delete(back, "c2")
	delete(o, "c2")
	if a, b := render(mustBuild(t, d, o, plan.Options{})), render(mustBuild(t, d, back, plan.Options{})); a != b {
		t.Errorf("plan from snapshot differs:\n%s\nvs\n%s", b, a)
	}
}

func TestReadObservedRejects(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not json", "nope", "not valid JSON"},
		{"version", `{"format_version":"9","clusters":[]}`, `format_version "9"`},
		{"nameless cluster", `{"format_version":"1","clusters":[{"cluster":""}]}`, "has no name"},
		{"duplicate cluster", `{"format_version":"1","clusters":[{"cluster":"a"},{"cluster":"a"}]}`, "appears twice"},
		{"bad power", `{"format_version":"1","clusters":[{"cluster":"a","vms":[{"name":"v","power":"Exploded"}]}]}`, `unknown power state "Exploded"`},
		{"duplicate vm", `{"format_version":"1","clusters":[{"cluster":"a","vms":[{"name":"v","power":"Off"},{"name":"v","power":"Off"}]}]}`, "vm/v appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := plan.ReadObserved(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadObserved = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	nodes := healthyNodes()
	nodes[1].IgvmAgent = drivers.AgentStopped
	p, err := plan.Build(desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) { v.Placement.Node = "node2" })), observedOf(nodes), plan.Options{})
	if err != nil {
		f.Fatal(err)
	}
	if err := plan.Write(&b, p); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"format_version":"1","changes":[{"resource":"vm/a","cluster":"c","action":"update","steps":[{"id":"x","op":"stop-vm","cluster":"c","vm":"a","depends_on":["x"]}]}],"clusters":[{"name":"c"}]}`))
	f.Add([]byte(`{"format_version":"1","changes":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := plan.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever Read accepts can be ordered, rendered again and read back.
		if _, err := plan.Order(p); err != nil {
			t.Fatalf("Read accepted a plan Order rejects: %v", err)
		}
		var out bytes.Buffer
		if err := plan.Write(&out, p); err != nil {
			t.Fatalf("Write of a plan Read accepted: %v", err)
		}
		if _, err := plan.Read(&out); err != nil {
			t.Fatalf("Read of a plan it wrote: %v", err)
		}
	})
}

func FuzzReadObserved(f *testing.F) {
	var b bytes.Buffer
	if err := plan.WriteObserved(&b, observedOf(healthyNodes(), synced(vmSpec("a"), "node1", id1)), nil); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"format_version":"1","clusters":[null]}`))
	f.Add([]byte(`{"format_version":"1","clusters":[{"cluster":"a","vms":[{"name":"v","power":"Off","annotations":{"managed_by":"tlreconcile"}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		obs, _, err := plan.ReadObserved(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever it accepts, the planner must digest without panicking.
		var clusters []spec.Cluster
		for name := range obs {
			clusters = append(clusters, spec.Cluster{Name: name, Driver: "sim", IgvmAgent: "required", VMFileAccess: "hostAdminsOnly", LiveMigration: spec.LiveMigration{Encryption: "ipsec"}})
		}
		d := &spec.Desired{Clusters: clusters, Catalog: catalog}
		for _, c := range clusters {
			d.VMs = append(d.VMs, vmSpec("v", func(v *spec.VM) { v.Cluster = c.Name }))
		}
		if _, err := plan.Build(d, obs, plan.Options{Prune: true}); err != nil {
			var cyc *plan.CycleError
			if errors.As(err, &cyc) {
				t.Fatalf("planner made a cycle from an observation: %v", err)
			}
		}
	})
}

// TestPlanAndSnapshotNotMixedUp: both files carry format_version "1", so one
// passed where the other belongs must say what it is and what to run instead.
func TestPlanAndSnapshotNotMixedUp(t *testing.T) {
	var planFile, snapshot bytes.Buffer
	if err := plan.Write(&planFile, samplePlan(t)); err != nil {
		t.Fatal(err)
	}
	if err := plan.WriteObserved(&snapshot, observedOf(healthyNodes(), synced(vmSpec("a"), "node1", id1)), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := plan.ReadObserved(bytes.NewReader(planFile.Bytes())); err == nil || !strings.Contains(err.Error(), "this is a plan file") {
		t.Errorf("ReadObserved(plan file) = %v, want it to say it is a plan file", err)
	}
	if _, err := plan.Read(bytes.NewReader(snapshot.Bytes())); err == nil || !strings.Contains(err.Error(), "this is an observed snapshot") {
		t.Errorf("Read(snapshot) = %v, want it to say it is an observed snapshot", err)
	}
}

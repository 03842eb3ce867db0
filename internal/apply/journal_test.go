package apply_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

func TestJournalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j, err := apply.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.Record(apply.Entry{Time: at, Run: "r", Cluster: "c1", Resource: "vm/v", Step: "s", Op: drivers.OpStopVM, Changed: i%2 == 0}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := apply.ReadJournalFile(dir)
	if err != nil || len(got) != 20 {
		t.Fatalf("read back %d entries, err %v; want 20", len(got), err)
	}
	if err := j.Clear(); err != nil {
		t.Fatal(err)
	}
	if err := j.Record(apply.Entry{Run: "r2", Resource: "vm/w"}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	got, _ = apply.ReadJournalFile(dir)
	if len(got) != 1 || got[0].Run != "r2" {
		t.Errorf("after Clear and one Record: %+v, want only the r2 entry", got)
	}
	if e, err := apply.ReadJournalFile(t.TempDir()); e != nil || err != nil {
		t.Errorf("missing journal: %v, %v; want no entries and no error", e, err)
	}
}

func TestReadJournal(t *testing.T) {
	good := `{"run":"1","cluster":"c1","resource":"vm/a","step":"create-vm","op":"create-vm","changed":true,"identity_change":true}`
	timed := `{"time":"2026-01-02T03:04:06Z","run":"1","cluster":"c1","resource":"vm/a","step":"stop-vm","op":"stop-vm"}`
	tests := []struct {
		name    string
		in      string
		n       int
		wantErr string
	}{
		{"empty", "", 0, ""},
		{"one", good + "\n", 1, ""},
		{"torn last line is a killed write", good + "\n" + `{"run":"1","clus`, 1, ""},
		{"blank lines", "\n" + good + "\n\n", 1, ""},
		{"bad middle line", good + "\n{oops\n" + good + "\n", 1, "journal line 2 is not a journal entry"},
		{"bad terminated last line is no torn write", good + "\n{oops\n", 1, "move journal.jsonl aside"},
		{"torn write continued by an older version", good + "\n" + `{"time":"2026-01-02T03:04:05Z","run":"1","clus` + timed + "\n" + good + "\n", 3, ""},
		{"garbage line", strings.Repeat("x", 70000) + "\n", 0, "journal line 1"},
		{"line over 64 KiB", `{"run":"1","cluster":"c1","resource":"vm/` + strings.Repeat("a", 100000) + `","step":"s","op":"stop-vm"}` + "\n" + good + "\n", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apply.ReadJournal(strings.NewReader(tt.in))
			if len(got) != tt.n {
				t.Errorf("%d entries, want %d", len(got), tt.n)
			}
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestReadJournalWarnsTornLastLine: the torn last line is ignored with a
// warning naming it; before, it was ignored silently.
func TestReadJournalWarnsTornLastLine(t *testing.T) {
	good := `{"run":"1","cluster":"c1","resource":"vm/a","step":"create-vm","op":"create-vm"}`
	got, warnings, err := apply.ReadJournalWarn(strings.NewReader(good + "\n" + `{"run":"1","clus`))
	if err != nil || len(got) != 1 || len(warnings) != 1 || !strings.Contains(warnings[0], "journal line 2 is a write cut short") {
		t.Fatalf("entries %d, warnings %q, err %v", len(got), warnings, err)
	}
}

// TestJournalAppendAfterTornTail: a process killed mid-write leaves an
// unterminated line; the next run's entries must not continue it. Before,
// the next Record appended to the torn line and every later read failed
// ("journal line 2 ... edited by hand").
func TestJournalAppendAfterTornTail(t *testing.T) {
	dir := t.TempDir()
	j, err := apply.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record(apply.Entry{Run: "r1", Resource: "vm/a", Op: drivers.OpStopVM}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	f, err := os.OpenFile(filepath.Join(dir, apply.JournalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"time":"2026-01-02T03:04:05Z","run":"r1","clus`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	j, err = apply.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record(apply.Entry{Run: "r2", Resource: "vm/a", Op: drivers.OpStartVM}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	got, warnings, err := apply.ReadJournalFileWarn(dir)
	if err != nil || len(got) != 2 || got[1].Run != "r2" || len(warnings) != 0 {
		t.Fatalf("entries %+v, warnings %q, err %v; want r1 and r2, no warning", got, warnings, err)
	}
}

// TestJournalENOSPC fills a real, small tmpfs so that a Record is cut off
// part-way by ENOSPC; the journal must stay readable and take the next entry
// once there is space again. Before, the partial line stayed, the next entry
// continued it, and every later apply and watch failed to read the journal.
func TestJournalENOSPC(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	j, err := apply.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Record(apply.Entry{Run: "r1", Resource: "vm/a", Op: drivers.OpStopVM}); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	// The journal's first page has room left: the big entry is written
	// part-way before the disk is full.
	big := apply.Entry{Run: "r1", Resource: "vm/" + strings.Repeat("b", 20000), Op: drivers.OpStopVM}
	err = j.Record(big)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Record on a full tmpfs: %v, want ENOSPC", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := j.Record(apply.Entry{Run: "r1", Resource: "vm/c", Op: drivers.OpStartVM}); err != nil {
		t.Fatal(err)
	}
	got, warnings, err := apply.ReadJournalFileWarn(dir)
	if err != nil || len(got) != 2 || got[0].Resource != "vm/a" || got[1].Resource != "vm/c" || len(warnings) != 0 {
		t.Fatalf("after ENOSPC: %d entries, warnings %q, err %v; want vm/a and vm/c", len(got), warnings, err)
	}
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	for range 1 << 10 {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("the tmpfs never filled")
}

func TestAcceptedIdentityChanges(t *testing.T) {
	e := func(res string, op drivers.OpKind, idc bool) apply.Entry {
		return apply.Entry{Cluster: "c1", Resource: res, Op: op, IdentityChange: idc}
	}
	got := apply.AcceptedIdentityChanges([]apply.Entry{
		e("vm/created", drivers.OpCreateVM, true),
		e("vm/reset", drivers.OpEnsureKeyProtector, true),
		e("vm/finished", drivers.OpCreateVM, true),
		e("vm/finished", drivers.OpSetAnnotations, false),
		e("vm/plain", drivers.OpStopVM, false),
		e("node/n1", drivers.OpStartIgvmAgent, true),
	})
	want := map[string]bool{"vm/c1/created": true, "vm/c1/reset": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestAcceptedIdentities: per VM, the last identity-changing entry decides:
// a completed one that read the new identity narrows the acceptance to it; a
// pending one (the process died during the op) or one without a readable
// identity leaves AcceptedIdentityChanges' accept-any; set-annotations and
// delete-vm end both.
func TestAcceptedIdentities(t *testing.T) {
	e := func(res string, op drivers.OpKind, idc, pending bool, id string) apply.Entry {
		return apply.Entry{Cluster: "c1", Resource: res, Op: op, IdentityChange: idc, Pending: pending, NewIdentity: id}
	}
	tests := []struct {
		name    string
		entries []apply.Entry
		wantIDs map[string]string
		wantAny map[string]bool
	}{
		{
			name:    "completed with the identity read after it",
			entries: []apply.Entry{e("vm/a", drivers.OpEnableTPM, true, true, ""), e("vm/a", drivers.OpEnableTPM, true, false, "id-1")},
			wantIDs: map[string]string{"vm/c1/a": "id-1"}, wantAny: map[string]bool{"vm/c1/a": true},
		},
		{
			name:    "pending: the process died during the op",
			entries: []apply.Entry{e("vm/a", drivers.OpEnsureKeyProtector, true, true, "")},
			wantIDs: map[string]string{}, wantAny: map[string]bool{"vm/c1/a": true},
		},
		{
			name:    "completed without a readable identity",
			entries: []apply.Entry{e("vm/a", drivers.OpEnableTPM, true, true, ""), e("vm/a", drivers.OpEnableTPM, true, false, "")},
			wantIDs: map[string]string{}, wantAny: map[string]bool{"vm/c1/a": true},
		},
		{
			name: "a later identity change that is pending widens again",
			entries: []apply.Entry{
				e("vm/a", drivers.OpCreateVM, true, false, "id-1"),
				e("vm/a", drivers.OpEnableTPM, true, true, ""),
			},
			wantIDs: map[string]string{}, wantAny: map[string]bool{"vm/c1/a": true},
		},
		{
			name: "a later identity change that completed replaces the identity",
			entries: []apply.Entry{
				e("vm/a", drivers.OpCreateVM, true, false, ""),
				e("vm/a", drivers.OpEnableTPM, true, true, ""),
				e("vm/a", drivers.OpEnableTPM, true, false, "id-2"),
				e("vm/a", drivers.OpStartVM, false, false, ""),
			},
			wantIDs: map[string]string{"vm/c1/a": "id-2"}, wantAny: map[string]bool{"vm/c1/a": true},
		},
		{
			name: "set-annotations and delete-vm end the acceptance",
			entries: []apply.Entry{
				e("vm/a", drivers.OpEnableTPM, true, false, "id-1"),
				e("vm/a", drivers.OpSetAnnotations, false, false, ""),
				e("vm/b", drivers.OpCreateVM, true, false, "id-b"),
				e("vm/b", drivers.OpDeleteVM, false, false, ""),
			},
			wantIDs: map[string]string{}, wantAny: map[string]bool{},
		},
		{
			name:    "non-VM resources are ignored",
			entries: []apply.Entry{e("node/n1", drivers.OpStartIgvmAgent, true, false, "id-n")},
			wantIDs: map[string]string{}, wantAny: map[string]bool{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apply.AcceptedIdentities(tt.entries); !reflect.DeepEqual(got, tt.wantIDs) {
				t.Errorf("AcceptedIdentities = %v, want %v", got, tt.wantIDs)
			}
			if got := apply.AcceptedIdentityChanges(tt.entries); !reflect.DeepEqual(got, tt.wantAny) {
				t.Errorf("AcceptedIdentityChanges = %v, want %v", got, tt.wantAny)
			}
		})
	}
}

// TestJournalNewIdentityCompatible: journals written before new_identity
// existed still parse (and accept any identity, as they did); the field is
// left out when empty, so entries without it read the same in older builds.
func TestJournalNewIdentityCompatible(t *testing.T) {
	old := `{"time":"2026-01-02T03:04:05Z","run":"1","cluster":"c1","resource":"vm/a","step":"enable-tpm","op":"enable-tpm","changed":true,"identity_change":true}` + "\n"
	entries, err := apply.ReadJournal(strings.NewReader(old))
	if err != nil || len(entries) != 1 {
		t.Fatalf("old line: %d entries, err %v; want 1", len(entries), err)
	}
	if entries[0].NewIdentity != "" || !entries[0].IdentityChange {
		t.Errorf("old line read as %+v", entries[0])
	}
	if ids := apply.AcceptedIdentities(entries); len(ids) != 0 {
		t.Errorf("an old line narrows to %v, want nothing (accept any)", ids)
	}
	if !apply.AcceptedIdentityChanges(entries)["vm/c1/a"] {
		t.Error("an old line no longer accepts vm/a's new identity")
	}

	dir, j := openJournal(t)
	for _, e := range []apply.Entry{
		{Run: "2", Cluster: "c1", Resource: "vm/a", Op: drivers.OpStopVM},
		{Run: "2", Cluster: "c1", Resource: "vm/a", Op: drivers.OpEnableTPM, IdentityChange: true, NewIdentity: "id-1"},
	} {
		if err := j.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || strings.Contains(lines[0], "new_identity") || !strings.Contains(lines[1], `"new_identity":"id-1"`) {
		t.Errorf("journal lines:\n%s\nwant new_identity only on the second", b)
	}
	back, err := apply.ReadJournalFile(dir)
	if err != nil || len(back) != 2 || back[1].NewIdentity != "id-1" {
		t.Errorf("read back %+v, err %v", back, err)
	}
}

// TestRunJournal: a run records each completed step with identity changes
// marked, so that a re-run after a crash can tell the planner.
func TestRunJournal(t *testing.T) {
	dir, j := openJournal(t)
	p := resetPlan("a")
	d := newRec(runningVM("a"))
	d.fail["start-vm a"] = -1
	d.perm["start-vm a"] = true
	if _, _, err := run(t, p, d, apply.Options{AllowDestructive: true, Journal: j}); err == nil {
		t.Fatal("want a failure at start-vm")
	}
	entries, err := apply.ReadJournalFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, e := range entries {
		if !e.Pending {
			steps = append(steps, e.Step)
		}
	}
	if got, want := strings.Join(steps, ","), "vm/a/stop-vm,vm/a/set-secure-boot,vm/a/ensure-key-protector,vm/a/enable-tpm"; got != want {
		t.Errorf("journal steps %s, want %s", got, want)
	}
	if got := apply.AcceptedIdentityChanges(entries); !got["vm/c1/a"] {
		t.Errorf("accepted %v, want c1/a (reset done, annotations not)", got)
	}
	// The reset and the enable-tpm after it read the identity the VM then had.
	for _, e := range entries {
		want := ""
		if !e.Pending && (e.Step == "vm/a/ensure-key-protector" || e.Step == "vm/a/enable-tpm") {
			want = "id-a-reset"
		}
		if e.NewIdentity != want {
			t.Errorf("entry %s (pending %v) records identity %q, want %q", e.Step, e.Pending, e.NewIdentity, want)
		}
	}
	if got := apply.AcceptedIdentities(entries); got["vm/c1/a"] != "id-a-reset" {
		t.Errorf("accepted identities %v, want c1/a: id-a-reset", got)
	}
	if fi, _ := os.Stat(filepath.Join(dir, apply.JournalFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", fi.Mode().Perm())
	}
}

func FuzzReadJournal(f *testing.F) {
	f.Add([]byte(`{"run":"1","cluster":"c1","resource":"vm/a","step":"x","op":"create-vm","identity_change":true}` + "\n"))
	f.Add([]byte("{\n}\n{"))
	f.Add([]byte(`{"time":"not a time"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, _ := apply.ReadJournal(strings.NewReader(string(b)))
		_ = apply.AcceptedIdentityChanges(entries)
		_ = apply.AcceptedIdentities(entries)
	})
}

// TestRunJournalBeforeIdentityChange: a step that gives the VM a new vTPM
// identity is journaled before it runs. A process killed while the driver
// carries it out (the host finishes a Set-VMKeyProtector on its own) must
// still leave a journal that accepts the new identity, or the re-run reports
// "vTPM state lost" for a reset that was asked for and never records it.
func TestRunJournalBeforeIdentityChange(t *testing.T) {
	dir, j := openJournal(t)
	p := resetPlan("a")
	seen := false
	events := func(e apply.Event) {
		if e.Kind != apply.EventStepStarted || e.Op != drivers.OpEnsureKeyProtector {
			return
		}
		seen = true
		entries, err := apply.ReadJournalFile(dir)
		if err != nil {
			t.Error(err)
		}
		if !apply.AcceptedIdentityChanges(entries)["vm/c1/a"] {
			t.Errorf("while the reset runs the journal does not accept vm/a's new identity: %+v", entries)
		}
	}
	d := newRec(runningVM("a"))
	_, err := apply.Run(context.Background(), p, map[string]drivers.Driver{"c1": d},
		apply.Options{AllowDestructive: true, Journal: j, Retry: fastRetry, Events: events})
	if err != nil || !seen {
		t.Fatalf("Run: %v (reset started: %v)", err, seen)
	}
	entries, err := apply.ReadJournalFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := apply.AcceptedIdentityChanges(entries); len(got) != 0 {
		t.Errorf("after set-annotations recorded the identity, accepted %v, want none", got)
	}
}

// noVMObserver hides recDriver's ObserveVM: a driver that can only observe a
// whole cluster.
type noVMObserver struct{ drivers.Driver }

// TestRunJournalIdentityUnreadable: without one-VM observation apply does not
// observe the whole cluster per step; the completed reset records no identity,
// so the re-run accepts any new one, as before the identity was journaled.
func TestRunJournalIdentityUnreadable(t *testing.T) {
	dir, j := openJournal(t)
	p := resetPlan("a")
	d := newRec(runningVM("a"))
	d.fail["set-annotations a"] = -1
	d.perm["set-annotations a"] = true
	if _, err := apply.Run(context.Background(), p, map[string]drivers.Driver{"c1": noVMObserver{d}},
		apply.Options{AllowDestructive: true, Journal: j, Retry: fastRetry}); err == nil {
		t.Fatal("want a failure at set-annotations")
	}
	entries, err := apply.ReadJournalFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.NewIdentity != "" {
			t.Errorf("entry %s records identity %q without one-VM observation", e.Step, e.NewIdentity)
		}
	}
	if ids := apply.AcceptedIdentities(entries); len(ids) != 0 {
		t.Errorf("accepted identities %v, want none", ids)
	}
	if !apply.AcceptedIdentityChanges(entries)["vm/c1/a"] {
		t.Error("the reset's new identity is no longer accepted")
	}
}

// openJournal opens a journal in a fresh state dir, closed when the test ends.
func openJournal(t *testing.T) (string, *apply.Journal) {
	t.Helper()
	dir := t.TempDir()
	j, err := apply.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return dir, j
}

// TestCompactJournal keeps exactly the entries whose acceptance is still open,
// so the acceptances the journal gives do not change.
func TestCompactJournal(t *testing.T) {
	dir, j := openJournal(t)
	entries := []apply.Entry{
		{Cluster: "c1", Resource: "vm/a", Step: "vm/a/enable-tpm", Op: drivers.OpEnableTPM, IdentityChange: true, NewIdentity: "id-a"},
		{Cluster: "c1", Resource: "vm/b", Step: "vm/b/create-vm", Op: drivers.OpCreateVM, IdentityChange: true},
		{Cluster: "c1", Resource: "vm/b", Step: "vm/b/set-annotations", Op: drivers.OpSetAnnotations},
		{Cluster: "c1", Resource: "node/n1", Step: "node/n1/start-igvm-agent", Op: drivers.OpStartIgvmAgent},
		{Cluster: "c1", Resource: "vm/c", Step: "vm/c/stop-vm", Op: drivers.OpStopVM},
	}
	for _, e := range entries {
		if err := j.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	want := apply.JournalAcceptances(entries)
	if err := apply.CompactJournal(dir); err != nil {
		t.Fatal(err)
	}
	got, err := apply.ReadJournalFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Resource != "vm/a" {
		t.Fatalf("compacted journal %+v, want only vm/a's entry", got)
	}
	if acc := apply.JournalAcceptances(got); !reflect.DeepEqual(acc, want) {
		t.Errorf("acceptances after compaction %+v, want %+v", acc, want)
	}
}

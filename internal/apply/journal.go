package apply

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// JournalFile is the journal's name under the state dir.
const JournalFile = "journal.jsonl"

// Entry is one completed step, one JSON object per line.
type Entry struct {
	Time     time.Time      `json:"time"`
	Run      string         `json:"run"`
	Cluster  string         `json:"cluster"`
	Resource string         `json:"resource"`
	Step     string         `json:"step"`
	Op       drivers.OpKind `json:"op"`
	Changed  bool           `json:"changed"`
	// IdentityChange: a planned create, TPM enable/disable or key-protector
	// reset completed, so the VM now has a new vTPM identity on purpose.
	IdentityChange bool `json:"identity_change,omitempty"`
	// Pending: written before an identity-changing step runs, because a
	// process killed while the driver carries it out cannot record its
	// completion (the host may finish it anyway). The step may or may not
	// have completed; a completed one has an entry of its own after this.
	Pending bool `json:"pending,omitempty"`
	// NewIdentity: for a completed IdentityChange step, the vTPM identity the
	// VM had when it was read right after the step ("" when the driver cannot
	// read one VM, the read failed, or the identity is unknown there, e.g. no
	// vTPM or a node that cannot unlock it). A re-run accepts only this
	// identity for the VM (AcceptedIdentities). Journals written before the
	// field existed have none, and keep accepting any new identity.
	NewIdentity string `json:"new_identity,omitempty"`
}

// Journal appends completed steps to <state-dir>/journal.jsonl, fsyncing each,
// so that a run killed at any moment leaves a record of what it finished. It is
// safe for concurrent use. Entries of earlier runs are kept until Clear: a
// re-run after a crash needs them, and may itself be killed.
type Journal struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// OpenJournal opens (creating if needed) the journal in stateDir for appending.
func OpenJournal(stateDir string) (*Journal, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s: %w: check that it is writable", stateDir, err)
	}
	path := filepath.Join(stateDir, JournalFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w: check that the state dir is writable", path, err)
	}
	return &Journal{path: path, f: f}, nil
}

// Path is the journal file's path.
func (j *Journal) Path() string { return j.path }

// Record appends e and fsyncs before returning.
func (j *Journal) Record(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("journal %s: closed", j.path)
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	return nil
}

// Clear empties the journal: call it once a run has fully converged.
func (j *Journal) Clear() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("journal %s: closed", j.path)
	}
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("journal %s: clear: %w", j.path, err)
	}
	return j.f.Sync()
}

// Close closes the journal file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// maxJournalLine bounds one journal line; longer lines are reported, not read.
const maxJournalLine = 64 << 10

// ReadJournal reads journal entries. A torn last line (the process was killed
// mid-write) is ignored; any other unreadable line is an error naming its line
// number, and the entries read so far are returned with it.
func ReadJournal(r io.Reader) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxJournalLine)
	var out []Entry
	var bad error
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if bad != nil { // the bad line was not the last one
			return out, bad
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			bad = fmt.Errorf("journal line %d: %w: remove the journal if the state dir was edited by hand", n, err)
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("journal line %d: %w", n+1, err)
	}
	return out, nil // a bad last line is a torn write
}

// ReadJournalFile reads the journal in stateDir; a missing journal has no entries.
func ReadJournalFile(stateDir string) ([]Entry, error) {
	f, err := os.Open(filepath.Join(stateDir, JournalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	return ReadJournal(f)
}

// vmKey is the entry's VM key (drivers.Resource.Key), as the planner's
// identity acceptances use it; ok is false for node and cluster entries.
func (e Entry) vmKey() (key string, ok bool) {
	r, err := drivers.ParseResource(e.Cluster, e.Resource)
	if err != nil || r.Kind != drivers.KindVM {
		return "", false
	}
	return r.Key(), true
}

// AcceptedIdentityChanges returns the VM keys (drivers.Resource.Key) whose vTPM identity
// changed through a planned step (create, TPM enable/disable, key-protector
// reset) that completed or was pending when the run ended, and whose
// set-annotations did not run afterwards: the
// planner must record their new identity instead of reporting it lost
// (plan.Acceptances.Any). Pass AcceptedIdentities(entries)
// with it, which narrows the keys whose journal says what the new identity
// is to that identity.
func AcceptedIdentityChanges(entries []Entry) map[string]bool {
	out := map[string]bool{}
	for _, e := range entries {
		key, ok := e.vmKey()
		if !ok {
			continue
		}
		switch {
		case e.IdentityChange:
			out[key] = true
		case e.Op == drivers.OpSetAnnotations:
			delete(out, key)
		case e.Op == drivers.OpDeleteVM:
			delete(out, key)
		}
	}
	return out
}

// AcceptedIdentities narrows AcceptedIdentityChanges: it returns, for the
// VM keys (drivers.Resource.Key) whose last identity-changing entry completed and recorded
// the identity the VM had right after it (Entry.NewIdentity), that identity;
// the planner accepts a changed identity for such a VM only when it is this
// one (plan.Acceptances.Only), so an unplanned vTPM loss after the
// step is still reported as vtpm-state-lost.
//
// Keys are left out, and AcceptedIdentityChanges alone keeps accepting any new
// identity for them, when the last identity-changing entry is pending (the
// process died while the driver carried the step out: whether and when the
// vTPM changed is unknown, and it may still change after the process died, as
// a host finishes a Set-VMKeyProtector on its own) or completed without a
// readable identity (the driver cannot read one VM, the read failed, the
// VM has no vTPM, or its node cannot unlock it). That residual window cannot
// be closed from the journal: nothing recorded says which identity the
// planned step produced, and refusing every new identity would report a loss
// for the reset that was asked for and never record it. It ends, as before,
// with the VM's next set-annotations or a fully converged run.
func AcceptedIdentities(entries []Entry) map[string]string {
	out := map[string]string{}
	for _, e := range entries {
		key, ok := e.vmKey()
		if !ok {
			continue
		}
		switch {
		case e.IdentityChange && !e.Pending && e.NewIdentity != "":
			out[key] = e.NewIdentity
		case e.IdentityChange, e.Op == drivers.OpSetAnnotations, e.Op == drivers.OpDeleteVM:
			delete(out, key)
		}
	}
	return out
}

// JournalAcceptances are the vTPM identity acceptances the journal's entries
// give the planner (AcceptedIdentityChanges narrowed by AcceptedIdentities).
func JournalAcceptances(entries []Entry) plan.Acceptances {
	return plan.Acceptances{Any: AcceptedIdentityChanges(entries), Only: AcceptedIdentities(entries)}
}

// ClearJournal empties the journal in stateDir, if there is anything in it:
// the clusters match, so nothing is left to resume.
func ClearJournal(stateDir string) error {
	entries, err := ReadJournalFile(stateDir)
	if err != nil || len(entries) == 0 {
		return err
	}
	j, err := OpenJournal(stateDir)
	if err != nil {
		return err
	}
	defer j.Close()
	return j.Clear()
}

// CompactJournal rewrites the journal in stateDir keeping only the entries
// of VMs whose identity acceptance is still open (AcceptedIdentityChanges),
// so that a daemon whose runs keep a change blocked (and so never clear the
// journal) does not grow it without bound. The acceptances it gives are
// unchanged: every other VM's entries end in a set-annotations or a delete,
// or carry no identity change. The file is replaced atomically.
func CompactJournal(stateDir string) error {
	entries, err := ReadJournalFile(stateDir)
	if err != nil || len(entries) == 0 {
		return err
	}
	open := AcceptedIdentityChanges(entries)
	var b bytes.Buffer
	kept := 0
	for _, e := range entries {
		if key, ok := e.vmKey(); !ok || !open[key] {
			continue
		}
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		b.Write(append(line, '\n'))
		kept++
	}
	if kept == len(entries) {
		return nil
	}
	path := filepath.Join(stateDir, JournalFile)
	tmp, err := os.CreateTemp(stateDir, "."+JournalFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("journal %s: compact: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("journal %s: compact: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("journal %s: compact: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("journal %s: compact: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

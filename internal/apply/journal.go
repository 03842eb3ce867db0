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
//
// Each entry is one write of one whole line. A write that fails part-way (a
// full disk) is cut off again, and OpenJournal cuts off the unterminated tail
// a killed process left, so that the next entry never continues a torn line:
// a torn line followed by entries is damage nobody can read past.
type Journal struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64 // bytes of whole lines in the file
}

// OpenJournal opens (creating if needed) the journal in stateDir for appending.
func OpenJournal(stateDir string) (*Journal, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s: %w: check that it is writable", stateDir, err)
	}
	path := filepath.Join(stateDir, JournalFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w: check that the state dir is writable", path, err)
	}
	size, err := wholeLines(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	return &Journal{path: path, f: f, size: size}, nil
}

// wholeLines cuts off an unterminated last line of f (a write torn by a kill
// or a full disk: it cannot be a completed step, ReadJournal ignores it) and
// returns the size of what is left.
func wholeLines(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if size == 0 {
		return 0, nil
	}
	const chunk = 4096
	buf := make([]byte, chunk)
	for end := size; end > 0; {
		start := max(0, end-chunk)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = start + int64(i) + 1
			if end == size {
				return size, nil
			}
			return end, cutTo(f, end)
		}
		end = start
	}
	return 0, cutTo(f, 0)
}

func cutTo(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("cutting off a torn last line: %w", err)
	}
	return f.Sync()
}

// Path is the journal file's path.
func (j *Journal) Path() string { return j.path }

// Record appends e as one write of one line and fsyncs before returning. When
// the write fails part-way, the partial line is cut off again.
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
		if terr := j.f.Truncate(j.size); terr != nil {
			return fmt.Errorf("journal %s: %w (and the partial line could not be cut off: %v; the next run ignores it)", j.path, err, terr)
		}
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	j.size += int64(len(b))
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
	j.size = 0
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

// ReadJournal reads journal entries; see ReadJournalWarn, whose warnings it drops.
func ReadJournal(r io.Reader) ([]Entry, error) {
	entries, _, err := ReadJournalWarn(r)
	return entries, err
}

// ReadJournalWarn reads journal entries, of any length. A torn last line
// (no newline: the process was killed, or the disk filled, mid-write) cannot
// be a completed step: it is ignored, with a warning. A line that starts
// torn and ends in a whole entry (a torn write the journal of an older
// version continued) keeps that entry, with a warning. Any other unreadable
// line is an error naming its line number, and the entries read so far are
// returned with it.
func ReadJournalWarn(r io.Reader) ([]Entry, []string, error) {
	br := bufio.NewReader(r)
	var out []Entry
	var warnings []string
	for n := 1; ; n++ {
		raw, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return out, warnings, fmt.Errorf("journal line %d: %w", n, rerr)
		}
		torn := rerr != nil // EOF before a newline: the last line, unterminated
		line := bytes.TrimSpace(raw)
		if len(line) > 0 {
			e, warn, err := parseLine(line, n, torn)
			if err != nil {
				return out, warnings, err
			}
			if warn != "" {
				warnings = append(warnings, warn)
			}
			if e != nil {
				out = append(out, *e)
			}
		}
		if rerr != nil {
			return out, warnings, nil
		}
	}
}

// parseLine reads journal line n; torn says it is the unterminated last one.
func parseLine(line []byte, n int, torn bool) (*Entry, string, error) {
	var e Entry
	err := json.Unmarshal(line, &e)
	switch {
	case err == nil:
		return &e, "", nil
	case torn:
		return nil, fmt.Sprintf("journal line %d is a write cut short (the process was killed or the disk was full): ignored, it cannot be a completed step", n), nil
	}
	if i := bytes.LastIndex(line, []byte(`{"time":`)); i > 0 && json.Unmarshal(line[i:], &e) == nil {
		return &e, fmt.Sprintf("journal line %d starts with a write cut short (ignored) and ends in a whole entry (kept)", n), nil
	}
	return nil, "", fmt.Errorf("journal line %d is not a journal entry (%v) and is not the torn last line a killed write leaves: the journal was changed by something else; move journal.jsonl aside and run `tlreconcile plan` to see what the clusters hold now (a vTPM identity the interrupted run changed may then need --accept-vtpm-identity)", n, err)
}

// ReadJournalFile reads the journal in stateDir; a missing journal has no entries.
func ReadJournalFile(stateDir string) ([]Entry, error) {
	entries, _, err := ReadJournalFileWarn(stateDir)
	return entries, err
}

// ReadJournalFileWarn reads the journal in stateDir with ReadJournalWarn.
func ReadJournalFileWarn(stateDir string) ([]Entry, []string, error) {
	f, err := os.Open(filepath.Join(stateDir, JournalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	return ReadJournalWarn(f)
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

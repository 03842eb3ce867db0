package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LockFile is the apply lock's name under the state dir.
const LockFile = "apply.lock"

// Holder is who holds the apply lock, as written in the lock file.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
	Command string    `json:"command"`
}

func (h Holder) String() string {
	return fmt.Sprintf("pid %d on host %s since %s (%s)", h.PID, h.Host, h.Started.Format(time.RFC3339), h.Command)
}

// maxLockFile bounds what is read of a lock file written by someone else.
const maxLockFile = 4096

// ParseHolder reads a lock file's content. Empty content means nobody recorded
// a holder (released cleanly).
func ParseHolder(b []byte) (Holder, bool, error) {
	if len(b) > maxLockFile {
		return Holder{}, false, fmt.Errorf("lock file: %d bytes, more than %d: it was not written by tlreconcile; remove it once no apply runs", len(b), maxLockFile)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return Holder{}, false, nil
	}
	var h Holder
	if err := json.Unmarshal(b, &h); err != nil {
		return Holder{}, false, fmt.Errorf("lock file: %w: remove it once no apply runs", err)
	}
	if h.PID <= 0 {
		return Holder{}, false, fmt.Errorf("lock file: pid %d is not a process id: remove it once no apply runs", h.PID)
	}
	return h, true, nil
}

// LockedError says the lock is held by a live holder and the wait ran out.
type LockedError struct {
	Path   string
	Holder Holder // zero when the holder did not record itself
	Known  bool
	Waited time.Duration
}

func (e *LockedError) Error() string {
	who := "another process (it did not record itself)"
	if e.Known {
		who = e.Holder.String()
	}
	return fmt.Sprintf("%s: held by %s; waited %s: wait for that apply to finish, or raise --lock-timeout", e.Path, who, e.Waited.Round(time.Millisecond))
}

// Lock is a held apply lock.
type Lock struct {
	f    *os.File
	path string
}

// LockOptions steer AcquireLock.
type LockOptions struct {
	Timeout time.Duration // how long to wait for a live holder (0: fail at once)
	Command string        // recorded for whoever finds the lock held
	Notify  func(string)  // told about reclaimed locks and waits (nil: silent)
	// Poll is the interval between attempts while waiting (default 100ms).
	Poll time.Duration
}

// AcquireLock takes the exclusive apply lock <stateDir>/apply.lock, waiting up
// to Timeout for a live holder. The lock is an flock, so a holder that died
// released it; its leftover record is reported through Notify as reclaimed.
func AcquireLock(ctx context.Context, stateDir string, o LockOptions) (*Lock, error) {
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	notify := o.Notify
	if notify == nil {
		notify = func(string) {}
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s: %w: check that it is writable", stateDir, err)
	}
	path := filepath.Join(stateDir, LockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: check that the state dir is writable", path, err)
	}
	start := time.Now()
	told := false
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if ok {
			break
		}
		h, known, _ := readHolder(f)
		if time.Since(start) >= o.Timeout {
			f.Close()
			le := &LockedError{Path: path, Holder: h, Known: known, Waited: time.Since(start)}
			if known && sameHost(h) && !processAlive(h.PID) {
				return nil, fmt.Errorf("%w (pid %d is not running, but another process holds the lock file open)", le, h.PID)
			}
			return nil, le
		}
		if !told {
			who := "another process"
			if known {
				who = h.String()
			}
			notify(fmt.Sprintf("%s: held by %s; waiting up to %s", path, who, o.Timeout))
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("%s: waiting for the lock: %w", path, ctx.Err())
		case <-time.After(o.Poll):
		}
	}
	if h, known, err := readHolder(f); err != nil {
		notify(fmt.Sprintf("%s: replacing an unreadable lock record (%v)", path, err))
	} else if known {
		state := "it is no longer running"
		if sameHost(h) && processAlive(h.PID) && h.PID != os.Getpid() {
			state = "it no longer holds the lock"
		}
		notify(fmt.Sprintf("%s: reclaimed the lock left by %s: %s", path, h, state))
	}
	host, _ := os.Hostname()
	me := Holder{PID: os.Getpid(), Host: host, Started: time.Now().UTC().Truncate(time.Second), Command: o.Command}
	b, _ := json.Marshal(me)
	if err := writeAll(f, append(b, '\n')); err != nil {
		_ = unlock(f)
		f.Close()
		return nil, fmt.Errorf("%s: recording the holder: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Release empties the holder record and releases the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Truncate(0)
	if uerr := unlock(l.f); err == nil {
		err = uerr
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("%s: release: %w", l.path, err)
	}
	return nil
}

func readHolder(f *os.File) (Holder, bool, error) {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, maxLockFile+1))
	if err != nil {
		return Holder{}, false, err
	}
	return ParseHolder(b)
}

func writeAll(f *os.File, b []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	return f.Sync()
}

func sameHost(h Holder) bool {
	host, err := os.Hostname()
	return err == nil && h.Host == host
}

package apply_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
)

func TestLockExclusive(t *testing.T) {
	dir := t.TempDir()
	l1, err := apply.AcquireLock(context.Background(), dir, apply.LockOptions{Command: "tlreconcile apply -f a"})
	if err != nil {
		t.Fatal(err)
	}
	// flock is per open file description: a second open in this process conflicts too.
	var msgs []string
	start := time.Now()
	_, err = apply.AcquireLock(context.Background(), dir, apply.LockOptions{Timeout: 150 * time.Millisecond, Poll: 10 * time.Millisecond,
		Notify: func(s string) { msgs = append(msgs, s) }})
	var le *apply.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second acquire: %v, want a LockedError", err)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Errorf("gave up after %s, before the 150ms timeout", time.Since(start))
	}
	host, _ := os.Hostname()
	for _, want := range []string{"apply.lock: held by pid", "on host " + host, "(tlreconcile apply -f a)", "raise --lock-timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if le.Holder.PID != os.Getpid() || len(msgs) != 1 || !strings.Contains(msgs[0], "waiting up to 150ms") {
		t.Errorf("holder %+v, messages %q", le.Holder, msgs)
	}
	// Released in time: a waiter gets it.
	go func() { time.Sleep(50 * time.Millisecond); l1.Release() }()
	l2, err := apply.AcquireLock(context.Background(), dir, apply.LockOptions{Timeout: 5 * time.Second, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	l2.Release()
	if b, _ := os.ReadFile(filepath.Join(dir, apply.LockFile)); len(b) != 0 {
		t.Errorf("released lock file still names a holder: %s", b)
	}
}

func TestLockReclaimsDeadHolder(t *testing.T) {
	dir := t.TempDir()
	host, _ := os.Hostname()
	// A holder killed with SIGKILL leaves its record; the kernel released its flock.
	dead := apply.Holder{PID: deadPID(t), Host: host, Started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Command: "tlreconcile apply -f x"}
	b, _ := json.Marshal(dead)
	if err := os.WriteFile(filepath.Join(dir, apply.LockFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	l, err := apply.AcquireLock(context.Background(), dir, apply.LockOptions{Notify: func(s string) { msgs = append(msgs, s) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "reclaimed the lock left by pid") || !strings.Contains(msgs[0], "it is no longer running") {
		t.Errorf("messages %q, want one saying the dead holder's lock was reclaimed", msgs)
	}
	got, _ := os.ReadFile(filepath.Join(dir, apply.LockFile))
	h, ok, err := apply.ParseHolder(got)
	if err != nil || !ok || h.PID != os.Getpid() {
		t.Errorf("lock file now %s (%v), want this process", got, err)
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Skipf("cannot start /bin/true: %v", err)
	}
	pid := p.Pid
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestParseHolder(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		known   bool
		wantErr string
	}{
		{"empty", "", false, ""},
		{"whitespace", " \n", false, ""},
		{"holder", `{"pid":12,"host":"h","started":"2026-01-01T00:00:00Z","command":"c"}`, true, ""},
		{"garbage", "hello", false, "remove it once no apply runs"},
		{"zero pid", `{"pid":0}`, false, "pid 0 is not a process id"},
		{"huge", strings.Repeat(" ", 5000), false, "more than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, known, err := apply.ParseHolder([]byte(tt.in))
			if known != tt.known || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("known %v err %v, want %v %q", known, err, tt.known, tt.wantErr)
			}
		})
	}
}

func FuzzParseHolder(f *testing.F) {
	f.Add([]byte(`{"pid":12,"host":"h","started":"2026-01-01T00:00:00Z","command":"c"}`))
	f.Add([]byte(`{"pid":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, known, err := apply.ParseHolder(b)
		if known && (err != nil || h.PID <= 0) {
			t.Errorf("known holder with err %v pid %d", err, h.PID)
		}
		_ = h.String()
	})
}

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSCMActionFor pins what each SCM control request does, on every
// platform; service_windows.go only forwards svc.Cmd values to it.
func TestSCMActionFor(t *testing.T) {
	tests := []struct {
		name string
		ctl  scmControl
		want scmAction
	}{
		{"stop cancels", scmStop, scmCancel},
		{"shutdown cancels", scmShutdown, scmCancel},
		{"preshutdown cancels", scmPreShutdown, scmCancel},
		{"paramchange resyncs", scmParamChange, scmDoResync},
		{"user control 128 resyncs", scmResync, scmDoResync},
		{"interrogate reports the current status", scmInterrogate, scmReport},
		{"pause is ignored (not accepted)", 0x02, scmIgnore},
		{"continue is ignored (not accepted)", 0x03, scmIgnore},
		{"netbindadd is ignored", 0x07, scmIgnore},
		{"user control 129 is ignored", 129, scmIgnore},
		{"zero is ignored", 0, scmIgnore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scmActionFor(tt.ctl); got != tt.want {
				t.Fatalf("scmActionFor(%#x) = %s, want %s", uint32(tt.ctl), got, tt.want)
			}
		})
	}
}

func TestSCMExitCode(t *testing.T) {
	failed := errors.New("watch: http: listen: boom")
	tests := []struct {
		name    string
		err     error
		stopped bool
		want    uint32
	}{
		{"clean stop", nil, true, 0},
		{"loop ended by itself without error", nil, false, 0},
		{"error with no stop request: recovery actions may restart it", failed, false, 1},
		{"step abandoned after a requested stop: never restarted", failed, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scmExitCode(tt.err, tt.stopped); got != tt.want {
				t.Fatalf("scmExitCode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSCMStopWaitHintCoversShutdownTimeout(t *testing.T) {
	if got := scmStopWaitHint(time.Minute); got <= time.Minute {
		t.Fatalf("wait hint %s does not cover --shutdown-timeout 1m", got)
	}
}

func TestWatchLogOutput(t *testing.T) {
	t.Cleanup(func() { _ = debug.SetCrashOutput(nil, debug.CrashOptions{}) })
	tests := []struct {
		name     string
		logFile  string // relative to the test's temp dir
		underSCM bool
		wantFile string // "" means stderr
		wantErr  string
	}{
		{name: "console without --log-file: stderr"},
		{name: "--log-file on a console", logFile: "watch.log", wantFile: "watch.log"},
		{name: "--log-file under the SCM", logFile: "custom.log", underSCM: true, wantFile: "custom.log"},
		{name: "under the SCM without --log-file: the state dir", underSCM: true, wantFile: "state/watch.log"},
		{name: "--log-file in a missing folder", logFile: "missing/watch.log", wantErr: "--log-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var stderr bytes.Buffer
			o := &watchOptions{root: &rootOptions{stderr: &stderr, stateDir: filepath.Join(dir, "state")}}
			if tt.logFile != "" {
				o.logFile = filepath.Join(dir, tt.logFile)
			}
			if tt.wantFile != "" {
				// An existing log is appended to, never truncated.
				_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, tt.wantFile)), 0o700)
				if err := os.WriteFile(filepath.Join(dir, tt.wantFile), []byte("earlier\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			w, closeLog, err := o.logOutput(tt.underSCM)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o.logger(w).Info("hello")
			closeLog()
			if tt.wantFile == "" {
				if !strings.Contains(stderr.String(), "msg=hello") {
					t.Fatalf("stderr = %q, want the log line", stderr.String())
				}
				return
			}
			if stderr.Len() != 0 {
				t.Fatalf("stderr = %q, want nothing: logs go to the file", stderr.String())
			}
			b, err := os.ReadFile(filepath.Join(dir, tt.wantFile))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(b), "earlier\n") || !strings.Contains(string(b), "msg=hello") {
				t.Fatalf("%s = %q, want the earlier line then the new one", tt.wantFile, b)
			}
		})
	}
}

// TestWatchLogFile runs the real binary with --log-file: the log lands in the
// file, not on stderr, and SIGTERM still stops it cleanly.
func TestWatchLogFile(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "avd-01"})
	logPath := filepath.Join(t.TempDir(), "watch.log")
	cmd := e.command("watch", e.dir, "--listen", "", "--log-format", "json", "--log-file", logPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	waitFile := func(want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			b, _ := os.ReadFile(logPath)
			if strings.Contains(string(b), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has no %s within 60s:\n%s", logPath, want, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFile(`"msg":"reconciled"`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
	waitFile(`"msg":"stopped"`)
	if stderr.Len() != 0 {
		t.Fatalf("stderr = %q, want nothing with --log-file", stderr.String())
	}
	if fi, err := os.Stat(logPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log file mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

// TestWindowsBuild cross-compiles the binary for windows/amd64 and vets this
// package for Windows, so service_windows.go (the SCM adapter, which only a
// Windows host can run) cannot rot unnoticed.
func TestWindowsBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles for Windows; skipped under -short")
	}
	env := append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	exe := filepath.Join(t.TempDir(), "tlreconcile.exe")
	for _, args := range [][]string{
		{"build", "-o", exe, "."},
		{"vet", "."},
	} {
		cmd := exec.Command("go", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("GOOS=windows go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("MZ")) {
		t.Fatalf("%s is not a Windows executable", exe)
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/watch"
)

// watchProc is a real `tlreconcile watch` process whose JSON log lines are collected.
type watchProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []map[string]any
	done chan error
}

func startWatch(t *testing.T, e *applyEnv, args ...string) *watchProc {
	t.Helper()
	return startWatchOn(t, e, []string{e.dir}, args...)
}

// startWatchOn is startWatch with the folder given as folder (DIR, or -f DIR).
func startWatchOn(t *testing.T, e *applyEnv, folder []string, args ...string) *watchProc {
	t.Helper()
	cmd := e.command(append(append([]string{"watch"}, folder...), append([]string{"--listen", "127.0.0.1:0", "--log-format", "json", "--debounce", "50ms"}, args...)...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &watchProc{t: t, cmd: cmd, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"msg": sc.Text(), "unparsed": true}
			}
			p.mu.Lock()
			p.logs = append(p.logs, m)
			p.mu.Unlock()
		}
	}()
	go func() {
		<-read // all output is read before Wait closes the pipe
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			for _, l := range p.snapshot() {
				t.Logf("watch log: %v", l)
			}
		}
	})
	return p
}

func (p *watchProc) snapshot() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.logs...)
}

// waitLog waits for a log line, at index from or later, whose fields include want; returns its index.
func (p *watchProc) waitLog(from int, want map[string]string) int {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		logs := p.snapshot()
	next:
		for i := from; i < len(logs); i++ {
			for k, v := range want {
				if s, _ := logs[i][k].(string); s != v {
					continue next
				}
			}
			return i
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("no log line with %v within 60s", want)
	return -1
}

// addr is the listener address the process logged.
func (p *watchProc) addr() string {
	p.t.Helper()
	i := p.waitLog(0, map[string]string{"msg": "serving /healthz /readyz /metrics /status"})
	return p.snapshot()[i]["addr"].(string)
}

func (p *watchProc) wait(within time.Duration) int {
	p.t.Helper()
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		p.t.Fatalf("the process did not exit within %s", within)
		return -1
	}
}

func getStatus(t *testing.T, addr string) watch.Status {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var st watch.Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("/status: %v: %s", err, b)
	}
	return st
}

// TestWatchSIGTERMLetsTheRunningStepFinish: SIGTERM arrives while create-vm is
// slowed down; the step completes, no new step starts, and the process exits 0.
func TestWatchSIGTERMLetsTheRunningStepFinish(t *testing.T) {
	e := newApplyEnv(t)
	e.mustApply() // creates the sim cluster so a fault can be injected
	e.inject("--operation", armCreate, "--latency", "2s")

	p := startWatch(t, e)
	p.waitLog(0, map[string]string{"msg": "reconciled"})
	e.write(vmDoc{name: "avd-01"})
	started := p.waitLog(0, map[string]string{"msg": "step started", "op": "create-vm"})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	t.Logf("exited %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	p.waitLog(started, map[string]string{"msg": "step done", "op": "create-vm"})
	for _, l := range p.snapshot()[started+1:] {
		if l["msg"] == "step started" {
			t.Fatalf("a step started after SIGTERM: %v", l)
		}
	}
	if vm := e.vm("avd-01"); vm == nil || vm.Annotations == nil {
		t.Fatalf("create-vm did not complete: %+v", vm)
	}
}

// TestWatchSIGHUPResyncs sends a real SIGHUP and sees the forced run in /status.
func TestWatchSIGHUPResyncs(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "avd-01"})
	p := startWatch(t, e, "--interval", "1h")
	addr := p.addr()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz not 200 within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if vm := e.vm("avd-01"); vm == nil {
		t.Fatal("the startup run did not create vm/avd-01")
	}
	i := p.waitLog(0, map[string]string{"msg": "reconciled", "trigger": "startup"})
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(i, map[string]string{"msg": "reconciled", "trigger": "signal", "result": "noop"})
	if st := getStatus(t, addr); st.LastRun == nil || st.LastRun.Trigger != watch.TriggerSignal {
		t.Fatalf("/status last run = %+v, want the signal run", st.LastRun)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGINT, want 0", code)
	}
}

func TestWatchValidate(t *testing.T) {
	valid := func() *watchOptions {
		return &watchOptions{dir: "desired", mode: "correct", debounce: watch.DefaultDebounce, interval: watch.DefaultInterval,
			listen: "127.0.0.1:9464", logFormat: "text", logLevel: "info", parallelism: 10,
			lockTimeout: time.Second, shutdownTimeout: time.Minute}
	}
	for name, tc := range map[string]struct {
		set  func(*watchOptions)
		want string // "" = valid
	}{
		"defaults":          {func(*watchOptions) {}, ""},
		"every interface":   {func(o *watchOptions) { o.listen = "0.0.0.0:9464" }, "--listen-any"},
		"every interface 6": {func(o *watchOptions) { o.listen = "[::]:9464" }, "--listen-any"},
		"empty host":        {func(o *watchOptions) { o.listen = ":9464" }, "--listen-any"},
		"asked for any":     {func(o *watchOptions) { o.listen, o.listenAny = "0.0.0.0:9464", true }, ""},
		"no listener":       {func(o *watchOptions) { o.listen = "" }, ""},
		"bad mode":          {func(o *watchOptions) { o.mode = "fix" }, "--mode"},
		"bad log format":    {func(o *watchOptions) { o.logFormat = "xml" }, "--log-format"},
		"bad log level":     {func(o *watchOptions) { o.logLevel = "loud" }, "--log-level"},
		"tiny interval":     {func(o *watchOptions) { o.interval = 10 * time.Millisecond }, "--interval"},
		"zero debounce":     {func(o *watchOptions) { o.debounce = 0 }, "--debounce"},
		"no folder":         {func(o *watchOptions) { o.dir = "" }, "no folder to watch"},
		"-f instead of DIR": {func(o *watchOptions) { o.dir, o.filenames = "", []string{"desired"} }, ""},
		"-f and the same":   {func(o *watchOptions) { o.filenames = []string{"desired"} }, ""},
		"two folders":       {func(o *watchOptions) { o.filenames = []string{"other"} }, "one folder at a time"},
		"-f -":              {func(o *watchOptions) { o.dir, o.filenames = "", []string{"-"} }, "standard input"},
		"negative settle":   {func(o *watchOptions) { o.settle = -time.Second }, "--settle"},
	} {
		t.Run(name, func(t *testing.T) {
			o := valid()
			tc.set(o)
			err := o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want one mentioning %s", err, tc.want)
			}
		})
	}
}

// TestWatchRefusesEveryInterface runs the binary: the refusal comes before any I/O.
func TestWatchRefusesEveryInterface(t *testing.T) {
	e := newApplyEnv(t)
	_, errOut, code := e.run("watch", e.dir, "--listen", "0.0.0.0:0")
	if code != 1 || !strings.Contains(errOut, "--listen-any") {
		t.Fatalf("exit %d, stderr %q; want 1 and a hint about --listen-any", code, errOut)
	}
}

// TestWatchTakesFilenameFlag is issue 14 item 17: every command takes its
// input as -f PATH but watch refused -f ("unknown shorthand flag"); now -f DIR
// is the same as DIR.
func TestWatchTakesFilenameFlag(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "avd-01"})
	p := startWatchOn(t, e, []string{"-f", e.dir})
	p.waitLog(0, map[string]string{"msg": "reconciled", "trigger": "startup"})
	if vm := e.vm("avd-01"); vm == nil {
		t.Fatal("watch -f DIR did not create vm/avd-01")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

// TestWatchExitsNonZeroWhenAVMIsLeftOff is issue 14 item 3 (watch half): a run
// left a VM Off (a processor change stopped it and ARM then failed every
// start). Before, SIGTERM made watch exit 0 as if all were well; now it exits
// 1 and says which VM.
func TestWatchExitsNonZeroWhenAVMIsLeftOff(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "avd-01"})
	e.mustApply()
	e.write(vmDoc{name: "avd-01", processors: 4})
	e.inject("--operation", armStart, "--fail-lro", "1000")
	p := startWatch(t, e)
	p.waitLog(0, map[string]string{"msg": "VM left Off: the run stopped it and could not start it again", "resource": "vm/avd-01"})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 1 {
		t.Fatalf("exit code %d after SIGTERM with vm/avd-01 left Off, want 1", code)
	}
	named := false
	for _, l := range p.snapshot() {
		if msg, _ := l["msg"].(string); strings.Contains(msg, "left Off") && strings.Contains(msg, "vm/avd-01") && l["unparsed"] == true {
			named = true
		}
	}
	if !named {
		t.Fatal("the exit message does not name vm/avd-01")
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
)

// TestApplyProgress: the bar is drawn on a terminal (auto) or when asked
// (always), never into a pipe by default, never with --progress never, and
// --no-color turns off colour only.
func TestApplyProgress(t *testing.T) {
	tests := []struct {
		progress string
		terminal bool
		want     bool
	}{
		{progressAuto, true, true},
		{progressAuto, false, false},
		{progressAlways, false, true},
		{progressNever, true, false},
	}
	for _, tt := range tests {
		name := tt.progress + " on a pipe"
		if tt.terminal {
			name = tt.progress + " on a terminal"
		}
		t.Run(name, func(t *testing.T) {
			e := newApplyEnv(t, vmDoc{name: "a"}, vmDoc{name: "b"})
			var out, errOut bytes.Buffer
			root := &rootOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, stateDir: e.state, noColor: true}
			o := &applyOptions{root: root, filenames: []string{e.dir}, autoApprove: true, parallelism: 2, format: "text", progress: tt.progress,
				retry:         apply.Retry{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond},
				outIsTerminal: func(io.Writer) bool { return tt.terminal }}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := o.Run(context.Background()); err != nil {
				t.Fatalf("apply: %v\n%s", err, errOut.String())
			}
			got := out.String()
			if drew := strings.Contains(got, "\r\x1b[2K"); drew != tt.want {
				t.Fatalf("bar drawn %v, want %v:\n%q", drew, tt.want, got)
			}
			if strings.Contains(got, "\x1b[3") {
				t.Errorf("colour with --no-color:\n%q", got)
			}
			if !tt.want {
				return
			}
			// 2 node steps (igvm agent) and the VM create steps: the last frame is full.
			i := strings.LastIndex(got, "\r\x1b[2K\nApply results")
			if i < 0 || strings.Contains(got[i+1:], "\r") {
				t.Fatalf("the bar is not removed right before the results table:\n%q", got)
			}
			frame := got[strings.LastIndex(got[:i], "\n")+1 : i]
			if !strings.HasPrefix(frame, "[====================] ") || !strings.Contains(frame, " steps · 0 running · ") {
				t.Errorf("last frame %q, want a full bar with nothing running", frame)
			}
		})
	}
}

// TestApplyProgressOnRealTerminal runs the binary under script(1), which gives
// it a real pseudo-terminal: --progress auto must find it and draw the bar,
// with colour still off under NO_COLOR.
func TestApplyProgressOnRealTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) from util-linux is not installed: no pseudo-terminal to run apply on")
	}
	e := newApplyEnv(t, vmDoc{name: "a"})
	args := append([]string{applyBin}, e.command("apply", "-f", e.dir, "--auto-approve", "--retry-base", "1ms", "--retry-max", "5ms").Args[1:]...)
	cmd := exec.Command(script, "-q", "-e", "-c", shellQuote(args), "/dev/null")
	cmd.Env = append(e.command().Env, "COLUMNS=100", "LINES=40")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("apply under script: %v\n%q", err, out.String())
	}
	got := out.String()
	if !strings.Contains(got, "\r\x1b[2K") || !strings.Contains(got, " steps · ") {
		t.Fatalf("no progress bar on a terminal:\n%q", got)
	}
	if strings.Contains(got, "\x1b[3") {
		t.Errorf("colour under NO_COLOR:\n%q", got)
	}
	if !strings.Contains(got, "\r\x1b[2K\r\nApply results") { // the pty turns \n into \r\n
		t.Errorf("the bar is not removed before the results table:\n%q", got)
	}
}

// shellQuote joins args into one sh -c command line.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// Command tlreconcile keeps trusted-launch VMs on Azure Local and Hyper-V in the
// state that YAML files declare.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// A closed output pipe (apply ... | head) must not kill the process between
	// a stop-vm and its start-vm: with SIGPIPE ignored, writes fail with EPIPE
	// and the run finishes its steps (and restarts what it stopped).
	signal.Ignore(syscall.SIGPIPE)
	// The first SIGINT or SIGTERM ends ctx: no new step starts, running
	// steps and a vTPM reset's window finish, power is restored (apply says
	// what it waits for). The second aborts at once.
	abort := make(chan os.Signal, 2)
	signal.Notify(abort, os.Interrupt, syscall.SIGTERM)
	go abortOnSecond(abort)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

// abortOnSecond exits at the second signal on sigs (both registrations see
// the first, which signal.NotifyContext turns into a cancelled context), with
// 128 + the signal's number as a shell reports a process killed by it.
func abortOnSecond(sigs <-chan os.Signal) {
	<-sigs
	sig := <-sigs
	fmt.Fprintf(os.Stderr, "\n%s again: aborting at once, without waiting for running steps; re-run the same command to resume (the journal knows what finished)\n", sig)
	code := 1
	if s, ok := sig.(syscall.Signal); ok {
		code = 128 + int(s)
	}
	os.Exit(code)
}

// exitCode maps a command's error to the process exit code, in one place:
// 0 success and nothing to change, 1 error, 2 changes present (--detailed-exitcode).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && !ee.silent {
			fmt.Fprintln(os.Stderr, "Error:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "Error:", err)
	return 1
}

// exitError carries a non-default exit code. silent means the command has
// already told the user everything (diagnostics, a plan) and main prints nothing more.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// errChanges is returned by plan --detailed-exitcode when the plan has changes.
var errChanges = &exitError{code: 2, silent: true}

// errReported is returned when the command already printed why it failed.
var errReported = &exitError{code: 1, silent: true}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"
)

// This file is the platform-neutral half of running `tlreconcile watch` under
// the Windows Service Control Manager (SCM): which control request does what,
// what the SCM is told on the way out, and where logs go when a service has no
// console. It is tested on every platform; service_windows.go only adapts it to
// golang.org/x/sys/windows/svc, and service_other.go is the no-op elsewhere.

// scmControl is a service control code as the SCM sends it (SERVICE_CONTROL_*
// in winsvc.h, svc.Cmd in x/sys). Windows fixes the values;
// service_windows.go does not compile if they ever differ from svc's.
type scmControl uint32

const (
	scmStop        scmControl = 0x01
	scmInterrogate scmControl = 0x04
	scmShutdown    scmControl = 0x05
	scmParamChange scmControl = 0x06
	scmPreShutdown scmControl = 0x0F
	// scmResync is tlreconcile's own control code (128 to 255 belong to the
	// service), sent with `sc.exe control NAME 128`; it needs no accept flag.
	scmResync scmControl = 128
)

// scmAction is what the watcher does for one control request.
type scmAction int

const (
	// scmIgnore: a control tlreconcile does not handle; it changes nothing.
	scmIgnore scmAction = iota
	// scmCancel: cancel the loop's context; the running step finishes, no new
	// one starts, and the SCM sees StopPending, then Stopped.
	scmCancel
	// scmDoResync: run now, as SIGHUP does on Linux.
	scmDoResync
	// scmReport: answer with the current status.
	scmReport
)

func (a scmAction) String() string {
	switch a {
	case scmCancel:
		return "cancel"
	case scmDoResync:
		return "resync"
	case scmReport:
		return "report"
	}
	return "ignore"
}

// scmActionFor maps an SCM control request to the watcher's action. Shutdown
// and PreShutdown stop the loop like Stop: at PreShutdown Windows still waits
// (up to the service's preshutdown timeout) for the running step, at Shutdown
// only briefly.
func scmActionFor(c scmControl) scmAction {
	switch c {
	case scmStop, scmShutdown, scmPreShutdown:
		return scmCancel
	case scmParamChange, scmResync:
		return scmDoResync
	case scmInterrogate:
		return scmReport
	}
	return scmIgnore
}

// scmStopWaitHint is the wait hint sent with StopPending: the watcher waits up
// to --shutdown-timeout for the running step and then stops its HTTP server,
// so the SCM is told that plus a margin rather than assuming a hang.
func scmStopWaitHint(shutdownTimeout time.Duration) time.Duration {
	return shutdownTimeout + 15*time.Second
}

// scmExitCode is the service-specific exit code reported with Stopped. After
// a requested stop it is 0 even when the running step had to be abandoned (the
// log says so): with `sc.exe failureflag NAME 1` a non-zero code triggers the
// recovery actions, and those must never restart a service an administrator
// or a shutdown stopped.
func scmExitCode(err error, stopRequested bool) uint32 {
	if err == nil || stopRequested {
		return 0
	}
	return 1
}

// logFileName is where watch logs under the SCM when --log-file is not given.
const logFileName = "watch.log"

// logOutput returns where watch writes its logs and how to close it:
// --log-file when given; otherwise, under the SCM, which gives a service no
// console, watch.log in the state dir; otherwise stderr. Files are appended
// to (0600) and never rotated. Under the SCM a crash's stack trace is appended
// to the log too, since stderr goes nowhere.
func (o *watchOptions) logOutput(underSCM bool) (io.Writer, func(), error) {
	path := o.logFile
	if path == "" {
		if !underSCM {
			return o.root.stderr, func() {}, nil
		}
		if err := os.MkdirAll(o.root.stateDir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("watch: state dir: %w", err)
		}
		path = filepath.Join(o.root.stateDir, logFileName)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("watch: --log-file: %w: create its folder or choose another path", err)
	}
	if underSCM {
		_ = debug.SetCrashOutput(f, debug.CrashOptions{})
	}
	return f, func() { _ = f.Close() }, nil
}

// startService connects the loop to the SCM when underSCM is true: the
// returned context is cancelled by Stop, Shutdown or PreShutdown, ParamChange
// and control 128 call resync, and done(err) reports Stopped with err's exit
// code once Run is over. Otherwise it returns ctx as it is and a done that
// does nothing: signals drive the loop, as before.
func startService(ctx context.Context, underSCM bool, log *slog.Logger, resync func(), shutdownTimeout time.Duration) (context.Context, func(error), error) {
	if !underSCM {
		return ctx, func(error) {}, nil
	}
	return serveSCM(ctx, log, resync, shutdownTimeout)
}

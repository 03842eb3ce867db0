//go:build windows

package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sys/windows/svc"
)

// The control codes service.go maps are the SCM's: an index that is not 0
// does not compile.
var _ = [1]struct{}{}[scmStop^scmControl(svc.Stop)|
	scmInterrogate^scmControl(svc.Interrogate)|
	scmShutdown^scmControl(svc.Shutdown)|
	scmParamChange^scmControl(svc.ParamChange)|
	scmPreShutdown^scmControl(svc.PreShutdown)]

// underSCM reports whether the SCM started this process; an error in finding
// out means a console, where signals work.
func underSCM() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// scmHandler is the svc.Handler of `tlreconcile watch`.
type scmHandler struct {
	log      *slog.Logger
	resync   func()
	cancel   context.CancelFunc
	stopHint time.Duration
	running  chan struct{} // closed once the SCM was told Running
	finished chan error    // Run's result, sent by done
}

// serveSCM runs the SCM dispatcher in a goroutine (it blocks for the service's
// life) and returns once the SCM was told Running; done hands Run's result to
// Execute and waits until the SCM was told Stopped.
func serveSCM(ctx context.Context, log *slog.Logger, resync func(), shutdownTimeout time.Duration) (context.Context, func(error), error) {
	ctx, cancel := context.WithCancel(ctx)
	h := &scmHandler{log: log, resync: resync, cancel: cancel, stopHint: scmStopWaitHint(shutdownTimeout),
		running: make(chan struct{}), finished: make(chan error, 1)}
	exited := make(chan error, 1)
	// The name is ignored for a service in its own process, so any name given
	// to New-Service works.
	go func() { exited <- svc.Run("tlreconcile", h) }()
	select {
	case <-h.running:
	case err := <-exited:
		cancel()
		return nil, nil, fmt.Errorf("watch: connect to the service control manager: %w", err)
	}
	log.Info("running as a Windows service")
	return ctx, func(err error) {
		cancel()
		if err != nil {
			log.Error("stopped with an error", "err", err)
		}
		h.finished <- err
		if err := <-exited; err != nil {
			log.Error("service control manager", "err", err)
		}
	}, nil
}

// Execute reports Running, maps each control request with scmActionFor, and
// returns (reporting Stopped) once Run is over.
func (h *scmHandler) Execute(_ []string, reqs <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.Running,
		Accepts: svc.AcceptStop | svc.AcceptShutdown | svc.AcceptPreShutdown | svc.AcceptParamChange}
	close(h.running)
	stopping := false
	for {
		select {
		case r := <-reqs:
			switch scmActionFor(scmControl(r.Cmd)) {
			case scmCancel:
				if !stopping {
					stopping = true
					h.log.Info("service control: stop", "control", uint32(r.Cmd))
					h.cancel()
					status <- svc.Status{State: svc.StopPending, WaitHint: uint32(h.stopHint.Milliseconds())}
				}
			case scmDoResync:
				h.log.Info("service control: resync", "control", uint32(r.Cmd))
				h.resync()
			case scmReport:
				status <- r.CurrentStatus
			default:
				h.log.Debug("service control ignored", "control", uint32(r.Cmd))
			}
		case err := <-h.finished:
			return true, scmExitCode(err, stopping)
		}
	}
}

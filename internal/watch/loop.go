package watch

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/fsnotify/fsnotify"
)

// loop is the state of one Run: the tree being watched (nil while the folder
// is gone), the timers, and whether a reconcile is running or waiting. Only
// Run's goroutine touches it, so it needs no lock; what /status shows goes
// through the Watcher's mutex.
type loop struct {
	w   *Watcher
	ctx context.Context
	t   *tree

	resync                *time.Ticker
	debounce, retry, poll *timer
	firstEvent            time.Time     // first file event of the current burst
	retryDelay            time.Duration // next wait after a failed run

	running bool
	held    Trigger      // the trigger of a run that waited for the files to settle
	pending Trigger      // the one run requested while another runs
	done    chan outcome // the running reconcile's result
}

func (w *Watcher) newLoop(ctx context.Context, t *tree) *loop {
	return &loop{
		w: w, ctx: ctx, t: t,
		resync:   time.NewTicker(w.o.Interval),
		debounce: newTimer(), retry: newTimer(), poll: newTimer(),
		retryDelay: w.o.RetryDelay,
		done:       make(chan outcome, 1),
	}
}

// close releases the timers and the file watches.
func (l *loop) close() {
	l.resync.Stop()
	l.debounce.stop()
	l.retry.stop()
	l.poll.stop()
	if l.t != nil {
		l.t.close()
	}
}

// run waits for the next thing to do until ctx is done. Every wake-up is
// handled by one small method, so the select reads as the list of triggers.
func (l *loop) run() error {
	for {
		var events <-chan fsnotify.Event
		var errs <-chan error
		if l.t != nil {
			events, errs = l.t.fw.Events, l.t.fw.Errors
		}
		select {
		case <-l.ctx.Done():
			return l.shutdown()
		case ev, ok := <-events:
			if ok {
				l.onEvent(ev)
			}
		case err, ok := <-errs:
			if ok {
				l.onLostEvents(err)
			}
		case <-l.debounce.c():
			l.debounce.fired()
			l.firstEvent = time.Time{}
			tr := TriggerFiles
			if l.held != "" {
				tr, l.held = l.held, ""
			}
			l.request(tr)
		case <-l.resync.C:
			l.request(TriggerResync)
		case <-l.w.hup:
			l.request(TriggerSignal)
		case <-l.retry.c():
			l.retry.fired()
			l.request(TriggerRetry)
		case <-l.poll.c():
			l.poll.fired()
			l.onPoll()
		case out := <-l.done:
			l.onDone(out)
		}
	}
}

// shutdown lets a running reconcile finish, for at most ShutdownTimeout: it
// sees ctx done and starts no new step, so waiting is short unless a driver
// call hangs.
func (l *loop) shutdown() error {
	w := l.w
	if !l.running {
		w.log.Info("stopped")
		return nil
	}
	w.log.Info("stopping: letting the running step finish", "timeout", w.o.ShutdownTimeout)
	select {
	case <-l.done:
		w.setRunning(false)
		w.log.Info("stopped")
		return nil
	case <-time.After(w.o.ShutdownTimeout):
		return fmt.Errorf("watch: the running reconcile did not finish within %s of the stop signal; it was abandoned (the apply journal under the state dir lets the next run resume)", w.o.ShutdownTimeout)
	}
}

// start runs one reconcile in the background; its outcome arrives on done.
func (l *loop) start(tr Trigger) {
	l.running = true
	l.w.setRunning(true)
	go func() { l.done <- l.w.runOnce(l.ctx, tr) }()
}

// request starts a run now, or, while one runs, keeps the first trigger asked
// for meanwhile: runs are level-based, so one more run covers them all.
func (l *loop) request(tr Trigger) {
	if !l.running {
		l.start(tr)
		return
	}
	if l.pending == "" {
		l.pending = tr
	}
	w := l.w
	w.mu.Lock()
	w.st.Pending = l.pending
	w.st.Coalesced++
	w.mu.Unlock()
	w.m.coalesced.Inc()
}

// onEvent debounces a relevant file event: the run starts once the tree has
// been quiet for Debounce, or 10 debounces after the burst began, so a tree
// that never goes quiet is still reconciled.
func (l *loop) onEvent(ev fsnotify.Event) {
	if !l.t.relevant(ev) {
		return
	}
	now := time.Now()
	if l.firstEvent.IsZero() {
		l.firstEvent = now
	}
	d := l.w.o.Debounce
	if until := l.firstEvent.Add(10 * l.w.o.Debounce).Sub(now); until < d {
		d = max(until, 0)
	}
	l.debounce.reset(d)
}

// onLostEvents handles a watcher error (queue overflow): events were lost,
// so watch every folder again and re-read the whole tree.
func (l *loop) onLostEvents(err error) {
	w := l.w
	w.log.Warn("file events were lost; re-reading the whole folder", "err", err)
	if aerr := l.t.add(l.t.real); aerr != nil {
		w.log.Warn("cannot re-watch folder", "dir", w.root, "err", aerr)
	}
	l.debounce.reset(w.o.Debounce)
}

// onPoll looks for a vanished watched folder again and, once it is back and
// watchable, watches it and runs.
func (l *loop) onPoll() {
	w := l.w
	if fi, err := os.Stat(w.root); err != nil || !fi.IsDir() {
		l.poll.reset(rootPoll)
		return
	}
	nt, err := newTree(w.root, w.log)
	if err != nil {
		w.log.Warn("the watched folder is back but cannot be watched yet", "dir", w.root, "err", err)
		l.poll.reset(rootPoll)
		return
	}
	l.t = nt
	w.log.Info("the watched folder is back", "dir", w.root)
	l.request(TriggerFiles)
}

// rewatch makes the watches again after the root symlink was pointed at
// another folder, and re-reads it.
func (l *loop) rewatch() {
	w := l.w
	nt, err := newTree(w.root, w.log)
	if err != nil {
		w.log.Warn("the watched folder's link changed but its new target cannot be watched yet", "dir", w.root, "err", err)
		return
	}
	l.t.close()
	l.t = nt
	w.log.Info("the watched folder's link now leads elsewhere: watching the new target", "dir", w.root, "target", nt.real)
	l.debounce.reset(w.o.Debounce)
}

// onDone records a finished run: a vanished folder is polled for, a failure
// is retried with a doubling delay (capped at Interval), and a run requested
// meanwhile starts.
func (l *loop) onDone(out outcome) {
	l.running = false
	l.w.setRunning(false)
	switch {
	case out.missing && l.t != nil:
		l.t.close() // its watches died with the folder
		l.t = nil
		l.poll.reset(rootPoll)
	case l.t != nil && l.t.stale():
		l.rewatch()
	}
	if out.settle > 0 {
		if l.held == "" {
			l.held = out.trigger
		}
		l.debounce.reset(out.settle)
	}
	l.scheduleRetry(out)
	if l.pending != "" {
		tr := l.pending
		l.pending = ""
		l.w.mu.Lock()
		l.w.st.Pending = ""
		l.w.mu.Unlock()
		l.start(tr)
	}
}

// scheduleRetry arms the retry timer after a failed run and disarms it after
// any other, resetting the delay; a missing folder is polled, not retried.
func (l *loop) scheduleRetry(out outcome) {
	if out.failed && !out.missing {
		l.retry.reset(l.retryDelay)
		l.retryDelay = min(2*l.retryDelay, l.w.o.Interval)
		return
	}
	l.retry.stop()
	l.retryDelay = l.w.o.RetryDelay
}

// timer is a stoppable one-shot whose channel is nil while disarmed, so an idle
// loop wakes for nothing.
type timer struct{ t *time.Timer }

func newTimer() *timer { return &timer{} }

func (t *timer) reset(d time.Duration) {
	t.stop()
	t.t = time.NewTimer(d)
}

func (t *timer) stop() {
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
}

func (t *timer) fired() { t.t = nil }

func (t *timer) c() <-chan time.Time {
	if t.t == nil {
		return nil
	}
	return t.t.C
}

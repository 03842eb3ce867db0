package watch

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// DefaultSettle is how long a file that lost VM documents must stay unchanged
// before a run acts on the loss (Options.Settle).
const DefaultSettle = 3 * time.Second

// settle decides whether the input just read may be acted on now, or must wait
// (the returned duration, with why). A file still being written can be valid
// YAML that simply ends early: acting on it would delete, with --prune, the
// VMs of its unwritten tail and recreate them with new vTPMs a second later.
// So a run waits while any file was written within the last Debounce (a read
// only of files quiet for the debounce), and while a VM that the last valid
// state declared is missing and the file that declared it changed within
// Settle (or vanished less than Settle ago). A tree that is never quiet is
// still read after 10 debounces; a loss is never acted on before Settle.
func (w *Watcher) settle(in Input, now time.Time) (time.Duration, string) {
	wait, why := w.quiet(in.Files, now)
	if lw, lwhy := w.lost(in, now); lw > wait {
		wait, why = lw, lwhy
	}
	if wait <= 0 {
		w.quietSince = time.Time{}
		return 0, ""
	}
	return wait, why
}

// quiet is the wait until every file has gone Debounce without a write.
func (w *Watcher) quiet(files []string, now time.Time) (time.Duration, string) {
	if w.quietSince.IsZero() {
		w.quietSince = now
	} else if now.Sub(w.quietSince) >= 10*w.o.Debounce {
		return 0, "" // never quiet: read anyway, as the debounce promises
	}
	var wait time.Duration
	var busy string
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			continue // gone since the read: its event triggers another run
		}
		if age := now.Sub(fi.ModTime()); age >= 0 && age < w.o.Debounce && w.o.Debounce-age > wait {
			wait, busy = w.o.Debounce-age, f
		}
	}
	if wait == 0 {
		return 0, ""
	}
	return wait, fmt.Sprintf("%s was written %s ago; waiting until it has been quiet for %s", busy, (w.o.Debounce - wait).Round(time.Millisecond), w.o.Debounce)
}

// lost is the wait before VMs missing from a recently changed file may be
// acted on. The first read that misses them starts the clock for a file that
// is gone altogether (it has no time of its own).
func (w *Watcher) lost(in Input, now time.Time) (time.Duration, string) {
	w.mu.Lock()
	last := w.lastValid
	w.mu.Unlock()
	if !in.Valid() || last == nil {
		return 0, "" // an invalid input is never acted on anyway
	}
	have := map[string]bool{}
	for _, v := range in.Desired.VMs {
		have[vmKey(v)] = true
	}
	settle := max(w.o.Settle, 2*w.o.Debounce)
	var wait time.Duration
	var missing []string
	gone := map[string]time.Time{}
	for _, v := range last.VMs {
		if have[vmKey(v)] || v.Pos.File == "" {
			continue
		}
		changed, ok := w.changedAt(v.Pos.File, now, gone)
		if !ok {
			continue
		}
		if left := settle - now.Sub(changed); left > 0 {
			wait = max(wait, left)
			missing = append(missing, vmKey(v))
		}
	}
	w.gone = gone
	if wait == 0 {
		return 0, ""
	}
	slices.Sort(missing)
	return wait, fmt.Sprintf("%s no longer declared by files changed in the last %s; waiting for them to settle before acting", strings.Join(missing, ", "), settle)
}

// changedAt is when file last changed: its modification time, or for a file
// that is gone, when a read first missed it (remembered in gone).
func (w *Watcher) changedAt(file string, now time.Time, gone map[string]time.Time) (time.Time, bool) {
	fi, err := os.Stat(file)
	if err == nil {
		return fi.ModTime(), true
	}
	if !os.IsNotExist(err) {
		return time.Time{}, false
	}
	at, seen := w.gone[file]
	if !seen {
		at = now
	}
	gone[file] = at
	return at, true
}

func vmKey(v spec.VM) string { return "vm/" + v.Cluster + "/" + v.Name }

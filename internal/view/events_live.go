package view

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tlreconcile/tlreconcile/internal/apply"
)

const (
	// eraseLine returns to the start of the line and clears it: the bar is
	// redrawn in place and removed before each event line.
	eraseLine = "\r\x1b[2K"
	// barCells is the width of the bar between its brackets.
	barCells = 20
	// defaultRefresh redraws the elapsed time at the bar's 0.1s resolution.
	defaultRefresh = 100 * time.Millisecond
)

// progress is the live text view: the event lines of EventsText, with a
// status line kept below them. Its counts come from events alone: the total
// from run-started, settled steps from step-done, step-failed and
// step-skipped (Steps of them when the event settles a whole resource).
type progress struct {
	w       io.Writer
	paint   func(string, string) string
	width   int
	refresh time.Duration
	now     func() time.Time

	mu       sync.Mutex // guards everything below and every write to w
	start    time.Time  // run-started time; zero before the run
	total    int
	settled  int
	running  map[string]bool // resource + " " + step ID
	failed   map[string]bool // resources with a failed step or verification
	last     time.Duration   // elapsed time last shown: never goes backwards
	shown    bool            // a bar is on the screen now
	bar      string          // what it shows
	finished bool
	stop     chan struct{} // closed to stop the refresh goroutine
	done     chan struct{} // closed by the refresh goroutine when it returns
}

func newProgress(w io.Writer, o EventsTextOptions, paint func(string, string) string) *progress {
	p := &progress{w: w, paint: paint, width: o.Width, refresh: o.Refresh, now: o.Now}
	if p.refresh == 0 {
		p.refresh = defaultRefresh
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// event erases the bar, writes the event's text, updates the counts and
// draws the bar again, in one write; run-finished removes the bar for good
// and waits for the refresh goroutine to end.
func (p *progress) event(e apply.Event) {
	text := eventText(e, p.paint)
	p.mu.Lock()
	var b strings.Builder
	if p.shown {
		b.WriteString(eraseLine)
		p.shown = false
	}
	b.WriteString(text)
	p.count(e)
	var wait chan struct{}
	switch {
	case e.Kind == apply.EventRunFinished:
		p.finished = true
		if p.stop != nil {
			close(p.stop)
			wait, p.stop = p.done, nil
		}
	case !p.start.IsZero():
		p.bar = p.render(e.Time.Sub(p.start))
		b.WriteString(p.bar)
		p.shown = true
	}
	if e.Kind == apply.EventRunStarted && p.refresh > 0 && p.stop == nil {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.tick(p.stop, p.done)
	}
	_, _ = io.WriteString(p.w, b.String())
	p.mu.Unlock()
	if wait != nil {
		<-wait // outside the lock: a tick may be waiting for it
	}
}

// count updates the counters; run-started begins a new run.
func (p *progress) count(e apply.Event) {
	key := e.Resource + " " + e.StepID
	switch e.Kind {
	case apply.EventRunStarted:
		p.start, p.total, p.settled, p.last, p.finished = e.Time, e.Steps, 0, 0, false
		p.running, p.failed = map[string]bool{}, map[string]bool{}
	case apply.EventStepStarted:
		p.running[key] = true
	case apply.EventStepDone, apply.EventStepFailed, apply.EventStepSkipped:
		if e.StepID != "" {
			delete(p.running, key)
			p.settled++
		} else {
			p.settled += e.Steps
		}
		if e.Kind == apply.EventStepFailed {
			p.failed[e.Resource] = true
		}
	case apply.EventVerifyFailed:
		p.failed[e.Resource] = true
	}
}

// tick redraws the bar between events so its elapsed time keeps moving. It
// returns when stop is closed (run-finished), and draws nothing once the
// run has finished.
func (p *progress) tick(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(p.refresh)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		if p.shown && !p.finished {
			if bar := p.render(p.now().Sub(p.start)); bar != p.bar {
				p.bar = bar
				_, _ = io.WriteString(p.w, eraseLine+bar)
			}
		}
		p.mu.Unlock()
	}
}

// render is the status line, without a newline:
// "[=========>          ] 23/51 steps · 3 running · 1 failed · 4.2s".
func (p *progress) render(d time.Duration) string {
	p.last = max(p.last, d)
	done := p.settled
	head := fmt.Sprintf("%d steps", done)
	if p.total > 0 {
		done = min(done, p.total)
		head = fmt.Sprintf("%s %d/%d steps", bar(done, p.total), done, p.total)
	}
	running := fmt.Sprintf("%d running", len(p.running))
	failed := ""
	if n := len(p.failed); n > 0 {
		failed = fmt.Sprintf("%d failed", n)
	}
	elapsed := clock(p.last)
	join := func() string {
		var parts []string
		for _, s := range []string{head, running, failed, elapsed} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, " · ")
	}
	if p.width > 0 {
		// Stay one column short of the width (a line that fills the last
		// column leaves some terminals waiting to wrap): drop the elapsed
		// time, then the running count, then the failed count.
		for _, drop := range []*string{&elapsed, &running, &failed} {
			if utf8.RuneCountInString(join()) < p.width {
				break
			}
			*drop = ""
		}
		if r := []rune(join()); len(r) >= p.width {
			return string(r[:max(p.width-1, 0)])
		}
	}
	if failed != "" {
		failed = p.paint(ansiRed, failed)
	}
	return join()
}

// bar draws done of total as "[=====>    ]".
func bar(done, total int) string {
	n := done * barCells / total
	if n >= barCells {
		return "[" + strings.Repeat("=", barCells) + "]"
	}
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", barCells-n-1) + "]"
}

// clock is the bar's elapsed time: 0.1s steps under a minute, then 1m05s.
func clock(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Truncate(100*time.Millisecond).Seconds())
	}
	d = d.Truncate(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int((d%time.Minute)/time.Second))
}

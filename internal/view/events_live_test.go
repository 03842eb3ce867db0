package view_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/golden"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

const eraseLine = "\r\x1b[2K"

// liveEvents is sampleEvents with the counts a progress bar reads: the run's
// step total, and one whole resource skipped without running.
func liveEvents() []apply.Event {
	evs := sampleEvents()
	evs[0].Steps = 7
	last := evs[len(evs)-1]
	skipped := apply.Event{Time: last.Time.Add(-50 * time.Millisecond), Kind: apply.EventStepSkipped, Resource: "vm/avd-05", Cluster: "hci-west",
		Message: "cancelled before it started", Steps: 2}
	return append(evs[:len(evs)-1:len(evs)-1], skipped, last)
}

// screen replays output the way a terminal shows it: "\r\x1b[2K" clears the
// line under the cursor. The live view must use no other control (a bare
// "\r" would leave the end of a longer line behind). It returns the
// finished lines and what is left on the cursor's line.
func screen(t *testing.T, out string) (lines []string, current string) {
	t.Helper()
	var cur strings.Builder
	for len(out) > 0 {
		switch {
		case strings.HasPrefix(out, eraseLine):
			cur.Reset()
			out = out[len(eraseLine):]
		case out[0] == '\r':
			t.Fatalf("bare carriage return before %q", out)
		case out[0] == '\n':
			lines = append(lines, cur.String())
			cur.Reset()
			out = out[1:]
		default:
			cur.WriteByte(out[0])
			out = out[1:]
		}
	}
	return lines, cur.String()
}

// frames are the bar lines drawn, in order.
func frames(out string) []string {
	var fs []string
	for _, chunk := range strings.Split(out, eraseLine) {
		if i := strings.LastIndexByte(chunk, '\n'); i >= 0 {
			chunk = chunk[i+1:]
		}
		if chunk != "" {
			fs = append(fs, chunk)
		}
	}
	return fs
}

func TestEventsLiveGolden(t *testing.T) {
	for _, color := range []bool{false, true} {
		name := "events-live.txt"
		if color {
			name = "events-live-color.txt"
		}
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			sink := view.EventsTextWith(&buf, view.EventsTextOptions{Color: color, Live: true, Refresh: -1})
			for _, e := range liveEvents() {
				sink(e)
			}
			golden.Check(t, filepath.Join("testdata", name+".golden"), buf.Bytes())
		})
	}
}

// TestEventsLiveLeavesNoTrace: on a terminal the live view shows exactly the
// lines of the plain view; the bar is only ever on the last line and is gone
// when the results table is printed, at any width.
func TestEventsLiveLeavesNoTrace(t *testing.T) {
	for _, width := range []int{0, 80, 40, 12} {
		for _, color := range []bool{false, true} {
			t.Run(fmt.Sprintf("width %d color %v", width, color), func(t *testing.T) {
				var plain, live bytes.Buffer
				plainSink := view.EventsText(&plain, color)
				liveSink := view.EventsTextWith(&live, view.EventsTextOptions{Color: color, Live: true, Width: width, Refresh: -1})
				for _, e := range liveEvents() {
					plainSink(e)
					liveSink(e)
				}
				lines, cur := screen(t, live.String())
				if cur != "" {
					t.Errorf("bar left on the screen after the run: %q", cur)
				}
				if got := strings.Join(lines, "\n") + "\n"; got != plain.String() {
					t.Errorf("screen differs from the plain view:\n%s\nwant:\n%s", got, plain.String())
				}
				fs := frames(live.String())
				if len(fs) != len(liveEvents())-1 {
					t.Errorf("%d bar frames for %d events before run-finished", len(fs), len(liveEvents())-1)
				}
				for _, f := range fs {
					if n := utf8.RuneCountInString(f); width > 0 && !color && n >= width {
						t.Errorf("frame %q is %d columns, the terminal %d", f, n, width)
					}
				}
			})
		}
	}
}

func TestEventsLiveFrame(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		total int
		width int
		want  string
	}{
		{"counted", 51, 0, "[=========>          ] 23/51 steps · 3 running · 1 failed · 4.2s"},
		{"wide enough", 51, 66, "[=========>          ] 23/51 steps · 3 running · 1 failed · 4.2s"},
		{"no room for the time", 51, 64, "[=========>          ] 23/51 steps · 3 running · 1 failed"},
		{"no room for running", 51, 50, "[=========>          ] 23/51 steps · 1 failed"},
		{"only the bar", 51, 40, "[=========>          ] 23/51 steps"},
		{"cut", 51, 10, "[========"},
		{"no total", 0, 0, "23 steps · 3 running · 1 failed · 4.2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			sink := view.EventsTextWith(&buf, view.EventsTextOptions{Live: true, Width: tt.width, Refresh: -1})
			sink(apply.Event{Time: t0, Kind: apply.EventRunStarted, Steps: tt.total})
			at := t0.Add(4290 * time.Millisecond)
			for i := range 23 {
				step := fmt.Sprintf("s%d", i)
				sink(apply.Event{Time: at, Kind: apply.EventStepStarted, Resource: "vm/a", StepID: step})
				switch {
				case i == 0:
					sink(apply.Event{Time: at, Kind: apply.EventStepFailed, Resource: "vm/a", StepID: step})
				case i < 18:
					sink(apply.Event{Time: at, Kind: apply.EventStepDone, Resource: "vm/a", StepID: step})
				}
			}
			sink(apply.Event{Time: at, Kind: apply.EventStepSkipped, Resource: "vm/b", Steps: 3})
			sink(apply.Event{Time: at, Kind: apply.EventStepRetrying, Resource: "vm/a", StepID: "s20", Attempt: 1})
			sink(apply.Event{Time: at, Kind: apply.EventStepDone, Resource: "vm/a", StepID: "s22"})
			sink(apply.Event{Time: at, Kind: apply.EventStepDone, Resource: "vm/a", StepID: "s21"})
			fs := frames(buf.String())
			if got := fs[len(fs)-1]; got != tt.want {
				t.Errorf("frame\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer that the test may read while the refresh
// goroutine writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestEventsLiveConcurrent: events from many goroutines and the refresh
// goroutine share the terminal without a race or a torn line; the elapsed
// time moves while no event comes; after run-finished nothing more is drawn.
func TestEventsLiveConcurrent(t *testing.T) {
	const vms, steps = 20, 5
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var since atomic.Int64 // the test's clock, as nanoseconds after t0
	var w syncBuffer
	sink := view.EventsTextWith(&w, view.EventsTextOptions{Live: true, Refresh: time.Millisecond,
		Now: func() time.Time { return t0.Add(time.Duration(since.Load())) }})
	sink(apply.Event{Time: t0, Kind: apply.EventRunStarted, Message: "concurrent", Steps: vms * steps})
	var wg sync.WaitGroup
	for v := range vms {
		wg.Go(func() {
			res := fmt.Sprintf("vm/%02d", v)
			for s := range steps {
				step := fmt.Sprintf("step-%d", s)
				sink(apply.Event{Time: t0.Add(time.Second), Kind: apply.EventStepStarted, Resource: res, StepID: step})
				sink(apply.Event{Time: t0.Add(time.Second), Kind: apply.EventStepDone, Resource: res, StepID: step, Changed: true})
			}
		})
	}
	wg.Wait()

	since.Store(int64(7 * time.Second))
	want := "[====================] 100/100 steps · 0 running · 7.0s"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasSuffix(w.String(), eraseLine+want) {
		if time.Now().After(deadline) {
			fs := frames(w.String())
			t.Fatalf("the bar never showed %q between events; last frame %q", want, fs[len(fs)-1])
		}
		time.Sleep(time.Millisecond)
	}

	sink(apply.Event{Time: t0.Add(8 * time.Second), Kind: apply.EventRunFinished, Elapsed: 8 * time.Second})
	out := w.String()
	time.Sleep(20 * time.Millisecond) // twenty refresh periods
	if after := w.String(); after != out {
		t.Errorf("drawn after run-finished: %q", after[len(out):])
	}
	lines, cur := screen(t, out)
	if cur != "" {
		t.Errorf("bar left on the screen after the run: %q", cur)
	}
	if len(lines) != 2+2*vms*steps || lines[len(lines)-1] != "12:00:08 apply finished (8s)" {
		t.Errorf("%d lines ending %q, want %d ending with apply finished", len(lines), lines[len(lines)-1], 2+2*vms*steps)
	}
	for _, l := range lines[1 : len(lines)-1] {
		if !strings.HasPrefix(l, "12:00:01 vm/") || strings.Contains(l, "steps ·") {
			t.Fatalf("torn line %q", l)
		}
	}
}

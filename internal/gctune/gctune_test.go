package gctune_test

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/gctune"
)

const mib = 1 << 20

// gcPercent reads GOGC without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func memoryLimit() int64 { return debug.SetMemoryLimit(-1) }

// known sets GOGC and the limit to values the test recognises, and puts the
// process's own back afterwards.
func known(t *testing.T, percent int, limit int64) {
	t.Helper()
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	prevGC, prevLimit := debug.SetGCPercent(percent), debug.SetMemoryLimit(limit)
	t.Cleanup(func() { debug.SetGCPercent(prevGC); debug.SetMemoryLimit(prevLimit) })
}

func TestStartAndStop(t *testing.T) {
	known(t, 77, 1<<40)
	stop := gctune.Start(gctune.Settings{Floor: 512 * mib, Percent: 100})
	if p := gcPercent(); p != -1 {
		t.Errorf("while started: GOGC %d, want -1 (off: the limit paces the collector)", p)
	}
	if l := memoryLimit(); l != 512*mib {
		t.Errorf("while started with a small heap: limit %d, want the floor %d", l, 512*mib)
	}
	stop()
	stop() // twice is harmless
	if p, l := gcPercent(), memoryLimit(); p != 77 || l != 1<<40 {
		t.Errorf("after stop: GOGC %d, limit %d; want 77 and %d restored", p, l, int64(1<<40))
	}
}

func TestLeavesTheUsersSettings(t *testing.T) {
	for _, tc := range []struct {
		name, env, value string
		floor            int64
	}{
		{name: "GOGC set", env: "GOGC", value: "50", floor: 64 * mib},
		{name: "GOMEMLIMIT set", env: "GOMEMLIMIT", value: "1GiB", floor: 64 * mib},
		{name: "no floor", floor: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known(t, 77, 1<<40)
			if tc.env != "" {
				t.Setenv(tc.env, tc.value)
			}
			stop := gctune.Start(gctune.Settings{Floor: tc.floor, Percent: 100})
			defer stop()
			if p, l := gcPercent(), memoryLimit(); p != 77 || l != 1<<40 {
				t.Errorf("GOGC %d, limit %d; want 77 and %d untouched", p, l, int64(1<<40))
			}
		})
	}
}

// TestLimitFollowsTheLiveHeap: a live heap above the floor raises the limit
// to live × (100+Percent)/100 (so the collector never runs back to back),
// and the limit comes down to the floor when that heap is freed.
func TestLimitFollowsTheLiveHeap(t *testing.T) {
	known(t, 100, 1<<40)
	const floor, live = 16 * mib, 96 * mib
	stop := gctune.Start(gctune.Settings{Floor: floor, Percent: 100})
	defer stop()

	keep := make([][]byte, live/mib)
	for i := range keep {
		keep[i] = make([]byte, mib)
		keep[i][0] = byte(i)
	}
	if l := waitLimit(t, func(l int64) bool { return l >= 2*live }); l < 2*live {
		t.Fatalf("with %d MiB live: limit %d MiB, want at least %d MiB", live/mib, l/mib, 2*live/mib)
	}
	runtime.KeepAlive(keep)
	keep = nil
	if l := waitLimit(t, func(l int64) bool { return l < live }); l >= live {
		t.Fatalf("after the heap was freed: limit %d MiB, want back under %d MiB", l/mib, live/mib)
	}
	_ = keep

	stop()
	before := memoryLimit()
	runtime.GC()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if l := memoryLimit(); l != before {
		t.Errorf("after stop a collection moved the limit from %d to %d", before, l)
	}
}

// waitLimit collects until ok(limit) holds or two seconds pass; the limit
// moves in a finalizer, which runs shortly after a collection.
func waitLimit(t *testing.T, ok func(int64) bool) int64 {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		if l := memoryLimit(); ok(l) || time.Now().After(deadline) {
			return l
		}
	}
}

// TestOverlappingStarts: two commands in one process (as the CLI tests run
// them) share the tuner, whatever the order they stop in; the settings found
// before the first come back after the last, not the first's.
func TestOverlappingStarts(t *testing.T) {
	for _, order := range []string{"first stops first", "second stops first"} {
		t.Run(order, func(t *testing.T) {
			known(t, 77, 1<<40)
			stop1 := gctune.Start(gctune.Settings{Floor: 256 * mib, Percent: 100})
			stop2 := gctune.Start(gctune.Settings{Floor: 512 * mib, Percent: 100})
			if l := memoryLimit(); l != 512*mib {
				t.Errorf("with both started: limit %d MiB, want the larger floor 512 MiB", l/mib)
			}
			if order == "first stops first" {
				stop1()
			} else {
				stop2()
			}
			if p := gcPercent(); p != -1 {
				t.Errorf("with one still running: GOGC %d, want -1", p)
			}
			stop1()
			stop2()
			if p, l := gcPercent(), memoryLimit(); p != 77 || l != 1<<40 {
				t.Errorf("after both stopped: GOGC %d, limit %d; want 77 and %d", p, l, int64(1<<40))
			}
		})
	}
}

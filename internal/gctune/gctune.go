package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Settings say how much memory a command may use before the collector runs.
type Settings struct {
	// Floor is the memory the runtime may map (heap, stacks, metadata: what
	// debug.SetMemoryLimit counts) before the collector runs at all.
	Floor int64
	// Percent is GOGC above the floor: once the live heap needs more than the
	// floor, the runtime may grow to live × (100+Percent)/100 before the next
	// collection, so a big input never makes the collector run back to back.
	Percent int
}

// The runtime/metrics names the limit is computed from.
const (
	metricLive     = "/gc/heap/live:bytes"
	metricTotal    = "/memory/classes/total:bytes"
	metricReleased = "/memory/classes/heap/released:bytes"
	metricObjects  = "/memory/classes/heap/objects:bytes"
	metricUnused   = "/memory/classes/heap/unused:bytes"
	metricFree     = "/memory/classes/heap/free:bytes"
)

// tuner moves the memory limit after every collection. The runtime has a
// limit and a percentage but no floor, so GOGC is off and the limit is
// recomputed from the live heap each cycle, from a finalizer the collector
// runs once per cycle.
type tuner struct {
	s         Settings
	mu        sync.Mutex // guards stopped and the limit against a finalizer running late
	stopped   bool
	prevGC    int
	prevLimit int64
	samples   []metrics.Sample
}

// sentinel is garbage the moment it is made; its finalizer marks the end of
// a collection. It holds a pointer so the tiny allocator never batches it.
type sentinel struct{ t *tuner }

// process is the one tuner of the process, behind its mutex: the
// collector's settings are process-wide, so commands that overlap (tests run
// several in one process) share one tuner, and the last to stop restores
// what the first found. The only package-level state, and it is the
// runtime's own, mirrored.
var process struct {
	mu    sync.Mutex
	users int
	t     *tuner
}

// Start applies s to the whole process until stop is called; stop restores
// the previous GOGC and memory limit once every overlapping Start has
// stopped (an overlapping Start with a higher floor raises it). It changes
// nothing (and stop does nothing) when GOGC or GOMEMLIMIT is set in the
// environment, or when s has no floor.
func Start(s Settings) (stop func()) {
	if s.Floor <= 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	process.mu.Lock()
	defer process.mu.Unlock()
	if process.users == 0 {
		process.t = start(s)
	} else {
		process.t.raise(s)
	}
	process.users++
	return sync.OnceFunc(func() {
		process.mu.Lock()
		defer process.mu.Unlock()
		if process.users--; process.users == 0 {
			process.t.stop()
			process.t = nil
		}
	})
}

func start(s Settings) *tuner {
	t := &tuner{s: s, samples: []metrics.Sample{
		{Name: metricLive}, {Name: metricTotal}, {Name: metricReleased},
		{Name: metricObjects}, {Name: metricUnused}, {Name: metricFree},
	}}
	t.mu.Lock()
	t.prevLimit = debug.SetMemoryLimit(t.limit())
	t.prevGC = debug.SetGCPercent(-1)
	t.mu.Unlock()
	t.arm()
	return t
}

// raise lets an overlapping Start's larger floor or percentage apply.
func (t *tuner) raise(s Settings) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.Floor, t.s.Percent = max(t.s.Floor, s.Floor), max(t.s.Percent, s.Percent)
	debug.SetMemoryLimit(t.limit())
}

func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{t: t}, func(s *sentinel) { s.t.collected() })
}

// collected runs after each collection: it sets the next limit and re-arms.
func (t *tuner) collected() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	debug.SetMemoryLimit(t.limit())
	t.arm()
}

func (t *tuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	debug.SetGCPercent(t.prevGC)
	debug.SetMemoryLimit(t.prevLimit)
}

// limit is max(floor, what the runtime maps besides the heap + the live heap
// grown by Percent).
func (t *tuner) limit() int64 {
	metrics.Read(t.samples)
	v := make([]int64, len(t.samples))
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = int64(s.Value.Uint64())
		}
	}
	live, total, released, objects, unused, free := v[0], v[1], v[2], v[3], v[4], v[5]
	overhead := max(total-released-objects-unused-free, 0)
	return max(t.s.Floor, overhead+live*int64(100+max(t.s.Percent, 0))/100)
}

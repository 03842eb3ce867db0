package arm

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// Fault is an injected misbehaviour of ARM for the requests of one
// operation. Faults are kept in the state dir, so a fault injected by one
// process (an incident command) is seen by the server of another.
type Fault struct {
	// Operation is the operationId of Microsoft's spec the fault applies to,
	// e.g. "VirtualMachineInstances_CreateOrUpdate" or "Machines_Get";
	// "*" applies it to every ARM request (not to the identity endpoint).
	Operation string `json:"operation"`
	// Latency delays every matching request.
	Latency time.Duration `json:"latency,omitempty"`
	// Throttle answers the next Throttle matching requests with 429 and a
	// Retry-After of RetryAfter (default one second).
	Throttle   int           `json:"throttle,omitempty"`
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
	// Transient answers the next Transient matching requests with Status
	// (default 503 ServiceUnavailable), after any throttled ones.
	Transient int `json:"transient,omitempty"`
	Status    int `json:"status,omitempty"`
	// FailAsync makes the next FailAsync long-running operations the
	// matching requests start end Failed.
	FailAsync int `json:"failAsync,omitempty"`
	// OutputLimit keeps only the last OutputLimit bytes of the output of
	// the run commands the matching requests start, as Azure's instance
	// view of a VM run command keeps only the last 4,096 bytes
	// (learn.microsoft.com/azure/virtual-machines/windows/run-command,
	// Restrictions; the Arc machine run command's own limit is not in its
	// spec or docs); it lasts until the faults are cleared.
	OutputLimit int `json:"outputLimit,omitempty"`
}

func (f Fault) spent() bool {
	return f.Latency == 0 && f.Throttle <= 0 && f.Transient <= 0 && f.FailAsync <= 0 && f.OutputLimit <= 0
}

// effect is what the faults make of one request.
type effect struct {
	latency     time.Duration
	throttle    bool
	retryAfter  time.Duration
	status      int // a transient failure
	failAsync   bool
	outputLimit int // the smallest OutputLimit that matched; 0: none
}

func (s *Server) faultsPath() string { return filepath.Join(s.store.root, "faults.json") }

// Inject adds a fault; it applies to requests from now on, in this process
// and any other serving the same state dir.
func (s *Server) Inject(f Fault) error {
	if f.Operation == "" {
		return errors.New("arm: inject fault: operation is required (an operationId such as VirtualMachineInstances_CreateOrUpdate, or *)")
	}
	return s.updateFaults(func(fs []Fault) []Fault { return append(fs, f) })
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() error {
	return s.updateFaults(func([]Fault) []Fault { return nil })
}

// Faults returns the faults still in effect.
func (s *Server) Faults() ([]Fault, error) {
	var out []Fault
	_, err := simfs.ReadJSON(s.faultsPath(), &out)
	return out, err
}

func (s *Server) updateFaults(fn func([]Fault) []Fault) error {
	unlock, err := simfs.Lock(s.faultsPath() + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	var faults []Fault
	if _, err := simfs.ReadJSON(s.faultsPath(), &faults); err != nil {
		return err
	}
	return simfs.WriteJSON(s.faultsPath(), fn(faults))
}

// consume takes what the faults for operation do to this request, counting
// down the faults it uses.
func (s *Server) consume(operation string) (effect, error) {
	var eff effect
	if _, err := os.Stat(s.faultsPath()); errors.Is(err, fs.ErrNotExist) {
		return eff, nil
	}
	err := s.updateFaults(func(faults []Fault) []Fault {
		kept := faults[:0]
		for _, f := range faults {
			if f.Operation == "*" || strings.EqualFold(f.Operation, operation) {
				f = eff.take(f)
			}
			if !f.spent() {
				kept = append(kept, f)
			}
		}
		return kept
	})
	return eff, err
}

// take applies one matching fault to e and returns it counted down.
func (e *effect) take(f Fault) Fault {
	e.latency += f.Latency
	switch {
	case e.throttle || e.status != 0:
	case f.Throttle > 0:
		f.Throttle--
		e.throttle, e.retryAfter = true, f.RetryAfter
		if e.retryAfter <= 0 {
			e.retryAfter = time.Second
		}
	case f.Transient > 0:
		f.Transient--
		e.status = f.Status
		if e.status == 0 {
			e.status = http.StatusServiceUnavailable
		}
	}
	if f.OutputLimit > 0 && (e.outputLimit == 0 || f.OutputLimit < e.outputLimit) {
		e.outputLimit = f.OutputLimit
	}
	if f.FailAsync > 0 && !e.failAsync {
		f.FailAsync--
		e.failAsync = true
	}
	return f
}

// apply sleeps the latency and answers a throttled or failed request; it
// reports whether the request was answered.
func (e effect) apply(ctx context.Context, w http.ResponseWriter) bool {
	if e.latency > 0 {
		t := time.NewTimer(e.latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return true
		case <-t.C:
		}
	}
	switch {
	case e.throttle:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.retryAfter.Seconds()))))
		writeError(w, errf(http.StatusTooManyRequests, "TooManyRequests",
			"The request is being throttled as the limit has been reached for operation type. Retry after the interval in the Retry-After header."))
		return true
	case e.status != 0:
		writeError(w, errf(e.status, strings.ReplaceAll(http.StatusText(e.status), " ", ""), "The service is temporarily unavailable (an injected transient fault). Retry the request."))
		return true
	}
	return false
}

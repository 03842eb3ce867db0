package apply

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// DefaultParallelism is how many VMs are changed at once unless Options say otherwise.
const DefaultParallelism = 10

// Options steer one run. The zero value is usable: defaults fill it in.
type Options struct {
	// Parallelism is how many resources run at once (default DefaultParallelism).
	Parallelism int
	// AllowDestructive lets destructive steps run (vTPM disable, key-protector
	// reset, replace, delete). Without it a plan holding one fails before any step runs.
	AllowDestructive bool
	// AllowForceStop lets a stop-vm whose guest does not shut down in time
	// turn the VM off (power pulled: unsaved guest data is lost). Without it
	// the stop fails with the guest's state and the VM keeps running.
	AllowForceStop bool
	// Retry is the backoff for errors drivers mark Transient.
	Retry Retry
	// Events receives the event stream, one call at a time (nil: discarded).
	Events func(Event)
	// Refs are the cluster refs by cluster name, used to re-observe VMs;
	// the plan's own Clusters are used for any cluster missing here.
	Refs map[string]drivers.ClusterRef
	// Journal records completed steps (nil: no journal).
	Journal *Journal
	// Now is the clock (nil: time.Now); tests pin it.
	Now func() time.Time
}

// Retry is an exponential backoff with jitter: attempt n waits a random
// duration in [d/2, d] with d = min(Max, Base·2^(n-1)).
type Retry struct {
	Attempts int           // total attempts per step, including the first (default 5)
	Base     time.Duration // first delay (default 200ms)
	Max      time.Duration // ceiling of one delay (default 5s)
}

// Validate checks Options for values that can never work.
func (o Options) Validate() error {
	var errs []error
	if o.Parallelism < 0 {
		errs = append(errs, fmt.Errorf("parallelism %d: must be 1 or more (0 means the default %d)", o.Parallelism, DefaultParallelism))
	}
	if o.Retry.Attempts < 0 {
		errs = append(errs, fmt.Errorf("retry attempts %d: must be 1 or more (0 means the default)", o.Retry.Attempts))
	}
	if o.Retry.Base < 0 || o.Retry.Max < 0 {
		errs = append(errs, errors.New("retry delays must not be negative"))
	}
	if o.Retry.Base > 0 && o.Retry.Max > 0 && o.Retry.Base > o.Retry.Max {
		errs = append(errs, fmt.Errorf("retry base %s is above retry max %s: lower the base or raise the max", o.Retry.Base, o.Retry.Max))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.Parallelism == 0 {
		o.Parallelism = DefaultParallelism
	}
	if o.Retry.Attempts == 0 {
		o.Retry.Attempts = 5
	}
	if o.Retry.Base == 0 {
		o.Retry.Base = 200 * time.Millisecond
	}
	if o.Retry.Max == 0 {
		o.Retry.Max = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// delay returns the wait before attempt n+1 after attempt n (n ≥ 1) failed.
func (r Retry) delay(n int) time.Duration {
	d := r.Base
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	if d > r.Max {
		d = r.Max
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

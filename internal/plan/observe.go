package plan

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// ObserveAll observes every cluster in parallel, one driver per driver name,
// and returns the observations by cluster name. All failures are reported
// together; drivers that hold processes are closed before it returns.
func ObserveAll(ctx context.Context, reg *drivers.Registry, cfg drivers.Config, refs []drivers.ClusterRef) (map[string]*drivers.Observed, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	opened, closeAll, err := reg.OpenAll(cfg, refs)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	var errs []error
	out := make(map[string]*drivers.Observed, len(refs))
	results := make([]error, len(refs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, r := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := opened[r.Name].Observe(ctx, r)
			if err == nil && o == nil {
				err = errors.New("driver returned no observation")
			}
			if err != nil {
				results[i] = fmt.Errorf("cluster/%s: observe: %w; check that the cluster is reachable and plan again", r.Name, err)
				return
			}
			mu.Lock()
			out[r.Name] = o
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range results {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

package drivers

import (
	"fmt"
	"sort"
	"strings"
)

// Factory builds a driver.
type Factory func(Config) (Driver, error)

// Registry maps driver names (the Cluster's spec.driver) to factories. It is a
// value, not package state: cmd builds one and registers the drivers it links.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]Factory{}} }

// Register adds a driver under name; registering a name twice is a programming error.
func (r *Registry) Register(name string, f Factory) {
	if _, dup := r.factories[name]; dup {
		panic("drivers: duplicate registration of " + name)
	}
	r.factories[name] = f
}

// Names lists registered drivers, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open builds the named driver.
func (r *Registry) Open(name string, cfg Config) (Driver, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("driver %q: %w (known drivers: %s)", name, ErrNotFound, strings.Join(r.Names(), ", "))
	}
	return f(cfg)
}

// OpenAll opens one driver per driver name that refs use and maps every
// cluster to its driver. closeAll closes every opened driver that holds
// processes or connections; on error nothing stays open.
func (r *Registry) OpenAll(cfg Config, refs []ClusterRef) (byCluster map[string]Driver, closeAll func(), err error) {
	byName := map[string]Driver{}
	closeAll = func() {
		for _, d := range byName {
			if c, ok := d.(Closer); ok {
				_ = c.Close() // nothing left to do with a driver that will not close
			}
		}
	}
	byCluster = make(map[string]Driver, len(refs))
	for _, ref := range refs {
		d, ok := byName[ref.Driver]
		if !ok {
			if d, err = r.Open(ref.Driver, cfg); err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("cluster/%s: %w", ref.Name, err)
			}
			byName[ref.Driver] = d
		}
		byCluster[ref.Name] = d
	}
	return byCluster, closeAll, nil
}
